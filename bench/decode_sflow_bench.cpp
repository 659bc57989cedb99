// sFlow v5 decoding throughput, in flow samples per second on one core. The datagrams are shaped like
// hsflowd's and pmacct sfprobe's: compact flow samples, each with a 128-byte raw Ethernet header
// (IPv4 TCP, IPv4 UDP with a VLAN tag, IPv6 TCP, in turn) and an extended switch record, several
// samples per datagram; one variant adds the extended router + gateway records a border router
// sends, and one mixes in a counter sample per datagram as agents do every polling interval.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <span>
#include <vector>

#include "decode/decoder.hpp"
#include "decode/sflow5.hpp"

namespace {

using namespace flowpulse;
namespace sf = decode::sflow5;
using Bytes = std::vector<std::uint8_t>;

class Xdr {
 public:
  Xdr& u32(std::uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) buf.push_back(static_cast<std::uint8_t>(v >> s));
    return *this;
  }
  Xdr& raw(const Bytes& b) {
    buf.insert(buf.end(), b.begin(), b.end());
    while (buf.size() % 4 != 0) buf.push_back(0);
    return *this;
  }
  Xdr& begin(std::uint32_t format) {
    u32(format);
    open_.push_back(buf.size());
    return u32(0);
  }
  Xdr& end() {
    std::size_t at = open_.back();
    open_.pop_back();
    auto n = static_cast<std::uint32_t>(buf.size() - at - 4);
    for (int i = 0; i < 4; ++i) buf[at + i] = static_cast<std::uint8_t>(n >> (24 - 8 * i));
    return *this;
  }
  Bytes buf;

 private:
  std::vector<std::size_t> open_;
};

void put16(Bytes& b, std::uint16_t v) {
  b.push_back(static_cast<std::uint8_t>(v >> 8));
  b.push_back(static_cast<std::uint8_t>(v));
}

// The first 128 bytes of a 1514-byte frame, the way an agent samples them.
Bytes sampled_header(std::uint32_t i) {
  Bytes b = {0x00, 0x1b, 0x21, 0x00, 0x00, 0x02, 0x00, 0x1b, 0x21, 0x00, 0x00, static_cast<std::uint8_t>(i)};
  const int kind = static_cast<int>(i % 3);
  if (kind == 1) {
    put16(b, 0x8100);
    put16(b, static_cast<std::uint16_t>(100 + i % 8));
  }
  if (kind == 2) {
    put16(b, 0x86dd);
    const Bytes ip6 = {0x60, 0,    0,    0,    0x05, 0xc8, 6, 64,
                       0x20, 0x01, 0x0d, 0xb8, 0,    0,    0, 0,
                       0,    0,    0,    0,    0,    0,    0, static_cast<std::uint8_t>(i),
                       0x20, 0x01, 0x0d, 0xb8, 0,    0,    0, 0,
                       0,    0,    0,    0,    0,    0,    0, 2};
    b.insert(b.end(), ip6.begin(), ip6.end());
  } else {
    put16(b, 0x0800);
    const std::uint8_t proto = kind == 0 ? 6 : 17;
    const Bytes ip4 = {0x45,
                       0,
                       0x05,
                       0xdc,
                       0x12,
                       0x34,
                       0x40,
                       0,
                       64,
                       proto,
                       0,
                       0,
                       10,
                       0,
                       static_cast<std::uint8_t>(i >> 8),
                       static_cast<std::uint8_t>(i),
                       192,
                       0,
                       2,
                       1};
    b.insert(b.end(), ip4.begin(), ip4.end());
  }
  put16(b, static_cast<std::uint16_t>(40000 + i));
  put16(b, 443);
  if (kind == 1) {  // UDP
    put16(b, 1480);
    put16(b, 0);
  } else {  // TCP
    const Bytes tcp = {0, 0, 0, 1, 0, 0, 0, 2, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0};
    b.insert(b.end(), tcp.begin(), tcp.end());
  }
  b.resize(128, 0xab);  // payload up to the sampled length
  return b;
}

void generic_counters(Xdr& x) {
  x.begin(sf::counter_sample).u32(1).u32(3).u32(1);
  x.begin(sf::counters_generic_interface);
  for (int w = 0; w < 22; ++w) x.u32(static_cast<std::uint32_t>(w));
  x.end().end();
}

Bytes datagram(std::uint32_t samples, std::uint32_t first, bool router_records, bool counters) {
  Xdr x;
  x.u32(5)
      .u32(sf::address_ipv4)
      .u32(0xc0000201)
      .u32(0)
      .u32(first)
      .u32(3600000)
      .u32(samples + (counters ? 1 : 0));
  for (std::uint32_t i = first; i < first + samples; ++i) {
    x.begin(sf::flow_sample).u32(i).u32(3).u32(1024).u32(i * 1024).u32(0).u32(3).u32(4);
    x.u32(router_records ? 4 : 2);
    x.begin(sf::record_raw_header)
        .u32(sf::header_ethernet)
        .u32(1518)
        .u32(4)
        .u32(128)
        .raw(sampled_header(i))
        .end();
    x.begin(sf::record_extended_switch).u32(100).u32(0).u32(200).u32(0).end();
    if (router_records) {
      x.begin(sf::record_extended_router).u32(sf::address_ipv4).u32(0xc0000202).u32(24).u32(16).end();
      x.begin(sf::record_extended_gateway)
          .u32(sf::address_ipv4)
          .u32(0xc0000203)
          .u32(64500)
          .u32(64501)
          .u32(64502);
      x.u32(1).u32(2).u32(3).u32(64510).u32(64511).u32(64512).u32(0).u32(100).end();
    }
    x.end();
  }
  if (counters) generic_counters(x);
  return x.buf;
}

struct SummingSink : decode::RecordSink {
  std::uint64_t bytes = 0;
  void on_records(std::span<const FlowRecord> records) override {
    for (const auto& r : records) bytes += r.bytes + r.src_port;
  }
  void on_counters(std::span<const InterfaceCounters> c) override {
    for (const auto& x : c) bytes += x.in_octets;
  }
};

void run(benchmark::State& state, bool router_records, bool counters) {
  const auto per_datagram = static_cast<std::uint32_t>(state.range(0));
  // 64 distinct datagrams in turn, so the branch predictor cannot learn one datagram by heart.
  std::vector<Bytes> datagrams;
  for (std::uint32_t d = 0; d < 64; ++d)
    datagrams.push_back(datagram(per_datagram, d * per_datagram, router_records, counters));
  SummingSink sink;
  decode::RecordWriter writer(sink);
  decode::DecodeStats stats;
  std::size_t i = 0;
  std::uint64_t wire_bytes = 0;
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores): the benchmark loop idiom
    const Bytes& b = datagrams[i++ & 63];
    decode::Datagram dg;
    dg.data = b.data();
    dg.size = b.size();
    dg.time_received_ns = 1;
    decode::decode_sflow5(dg, writer, stats);
    wire_bytes += b.size();
  }
  writer.flush();
  benchmark::DoNotOptimize(sink.bytes);
  if (stats.total_errors() != 0 ||
      stats.records != static_cast<std::uint64_t>(state.iterations()) * per_datagram) {
    state.SkipWithError("decode errors");
    return;
  }
  state.counters["samples/s"] =
      benchmark::Counter(static_cast<double>(stats.records), benchmark::Counter::kIsRate);
  state.counters["datagrams/s"] =
      benchmark::Counter(static_cast<double>(stats.datagrams), benchmark::Counter::kIsRate);
  state.counters["datagram_bytes"] = static_cast<double>(datagrams[0].size());
  state.SetBytesProcessed(static_cast<std::int64_t>(wire_bytes));
  state.SetItemsProcessed(static_cast<std::int64_t>(stats.records));
}

void bm_sflow_switch_samples(benchmark::State& state) { run(state, false, false); }
void bm_sflow_router_samples(benchmark::State& state) { run(state, true, false); }
void bm_sflow_switch_samples_with_counters(benchmark::State& state) { run(state, false, true); }

BENCHMARK(bm_sflow_switch_samples)->Arg(7)->Arg(10);
BENCHMARK(bm_sflow_router_samples)->Arg(7);
BENCHMARK(bm_sflow_switch_samples_with_counters)->Arg(7);

}  // namespace

BENCHMARK_MAIN();
