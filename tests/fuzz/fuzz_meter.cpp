// libFuzzer target for the meter's fast path: the input is one Ethernet frame, given to one meter
// as a burst (Meter::process over frames, where the common frame is read straight from its bytes)
// and to another with the full parser's result (parse_link, then classify). Both must count it the
// same way and flush the same flows; any difference, out-of-bounds read or crash is a finding.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "decode/flow_decoder.hpp"
#include "decode/packet.hpp"
#include "engine/meter.hpp"

using namespace flowpulse;

namespace {

struct Collect : decode::RecordSink {
  std::vector<FlowRecord> records;
  void on_records(std::span<const FlowRecord> rs) override {
    records.insert(records.end(), rs.begin(), rs.end());
  }
};

struct Metered {
  decode::FlowDecoder decoder{decode::Limits{}};
  engine::Meter meter;
  Collect sink;
  decode::RecordWriter out{sink};
  Metered() : meter(settings(), decoder) {}
  static engine::MeterSettings settings() {
    engine::MeterSettings s;
    s.flow_cache_capacity = 1024;
    s.idle_timeout_ns = 1'000'000;  // 1,000 inputs: flows go idle, and the flushes' sweeps delete them
    return s;
  }
};

bool same(const FlowRecord& a, const FlowRecord& b) {
  return a.src_addr == b.src_addr && a.dst_addr == b.dst_addr && a.src_port == b.src_port &&
         a.dst_port == b.dst_port && a.proto == b.proto && a.in_if == b.in_if && a.bytes == b.bytes &&
         a.packets == b.packets && a.flows == b.flows && a.tcp_flags == b.tcp_flags &&
         a.time_flow_end_ns == b.time_flow_end_ns && a.type == b.type;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // The meters live across inputs (as a worker's does): both see the same frames in the same order.
  static Metered burst;
  static Metered full;
  static std::uint64_t time_ns = 1'700'000'000'000'000'000ULL;
  io::Frame f;
  f.data = data;
  f.caplen = static_cast<std::uint32_t>(size);
  f.wire_len = static_cast<std::uint32_t>(size);
  f.timestamp_ns = time_ns += 1000;
  f.port = size % 3 == 0 ? 1 : 0;
  burst.meter.process(std::span<const io::Frame>(&f, 1), burst.out);
  full.meter.process(f, decode::parse_link(1, data, size), full.out);
  burst.meter.flush(burst.out);
  burst.out.flush();
  full.meter.flush(full.out);
  full.out.flush();
  const engine::MeterStats& a = burst.meter.stats();
  const engine::MeterStats& b = full.meter.stats();
  if (a.frames != b.frames || a.bytes != b.bytes || a.metered != b.metered ||
      a.flows_started != b.flows_started || a.export_datagrams != b.export_datagrams ||
      a.reassembly != b.reassembly || a.not_ip != b.not_ip || a.truncated != b.truncated ||
      a.fragments != b.fragments || a.cache_full != b.cache_full ||
      a.reassembled_exports != b.reassembled_exports || a.reassembled_metered != b.reassembled_metered ||
      a.reassembled_bad_udp != b.reassembled_bad_udp)
    __builtin_trap();
  if (burst.sink.records.size() != full.sink.records.size()) __builtin_trap();
  for (std::size_t i = 0; i < burst.sink.records.size(); ++i)
    if (!same(burst.sink.records[i], full.sink.records[i])) __builtin_trap();
  burst.sink.records.clear();
  full.sink.records.clear();
  return 0;
}
