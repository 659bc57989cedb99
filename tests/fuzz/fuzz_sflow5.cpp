// libFuzzer target for the sFlow v5 decoder: any byte string is a datagram. The sink checks what
// every emitted record must satisfy whatever the input, so a logic slip fails like a crash does.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "decode/decoder.hpp"
#include "decode/sflow5.hpp"

namespace {

struct CheckingSink : flowpulse::decode::RecordSink {
  std::uint64_t flows = 0;
  std::uint64_t counters = 0;
  void on_records(std::span<const flowpulse::FlowRecord> records) override {
    for (const auto& r : records) {
      // Each flow sample stands for one sampled packet scaled by its rate.
      if (r.type != flowpulse::FlowType::sflow5 || r.raw_packets != 1 || r.packets == 0) std::abort();
      const std::uint64_t scale = r.sampling_rate != 0 ? r.sampling_rate : 1;
      if (r.packets != scale || r.bytes != r.raw_bytes * scale) std::abort();
      if (r.mpls_count > flowpulse::FlowRecord::max_mpls_labels) std::abort();
    }
    flows += records.size();
  }
  void on_counters(std::span<const flowpulse::InterfaceCounters> c) override { counters += c.size(); }
};

}  // namespace

// NOLINTNEXTLINE(readability-identifier-naming): the name libFuzzer calls
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  CheckingSink sink;
  flowpulse::decode::DecodeStats stats;
  {
    flowpulse::decode::RecordWriter writer(sink);
    flowpulse::decode::Datagram dg;
    dg.data = data;
    dg.size = size;
    dg.time_received_ns = 1;
    flowpulse::decode::decode_sflow5(dg, writer, stats);
  }
  // What was counted is what reached the sink, and each datagram is counted once.
  if (stats.datagrams != 1 || stats.records != sink.flows || stats.counter_records != sink.counters)
    std::abort();
  return 0;
}
