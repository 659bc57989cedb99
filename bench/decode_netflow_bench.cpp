// Records per second per core for the NetFlow v5, NetFlow v9 and IPFIX decoders, on datagrams shaped
// like softflowd's: its IPv4 template (13 fields, 39-byte records; IPFIX with millisecond times) and
// 30 records per datagram. The template is sent once; the timed loop decodes data datagrams into a
// sink that only counts, so the figure is the decoder's own cost (template lookup, the compiled ops,
// the batch hand-off to the sink).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "decode/netflow5.hpp"
#include "decode/template_decoder.hpp"
#include "engine/worker.hpp"

using namespace flowpulse;
using namespace flowpulse::decode;

namespace {

constexpr int records_per_datagram = 30;

class CountSink : public RecordSink {
 public:
  void on_records(std::span<const FlowRecord> records) override {
    n += records.size();
    benchmark::DoNotOptimize(records.data());
  }
  std::uint64_t n = 0;
};

struct Writer {
  std::vector<std::uint8_t> b;
  void put(std::uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  void patch16(std::size_t at, std::size_t v) {
    b[at] = static_cast<std::uint8_t>(v >> 8);
    b[at + 1] = static_cast<std::uint8_t>(v);
  }
};

struct Field {
  std::uint16_t type, length;
};

// softflowd's IPv4 data template (NetFlow v9: uptime-relative times 21/22, IPFIX: 152/153).
std::vector<Field> softflowd_fields(bool ipfix) {
  return {{8, 4},
          {12, 4},
          {static_cast<std::uint16_t>(ipfix ? 153 : 21), static_cast<std::uint16_t>(ipfix ? 8 : 4)},
          {static_cast<std::uint16_t>(ipfix ? 152 : 22), static_cast<std::uint16_t>(ipfix ? 8 : 4)},
          {1, 4},
          {2, 4},
          {10, 4},
          {14, 4},
          {7, 2},
          {11, 2},
          {4, 1},
          {6, 1},
          {60, 1}};
}

// One datagram: the template set if `with_template`, then one data set of 30 records whose flows are
// numbered from `first_flow` (flow f: 10.0.0.0 + f -> 192.168.0.0 + 7f).
std::vector<std::uint8_t> datagram(bool ipfix, bool with_template, std::uint32_t seq,
                                   std::uint32_t first_flow = 0) {
  Writer w;
  if (ipfix) {
    w.put(10, 2), w.put(0, 2), w.put(1'700'000'000, 4), w.put(seq, 4), w.put(1, 4);
  } else {
    w.put(9, 2), w.put(records_per_datagram, 2), w.put(3'600'000, 4), w.put(1'700'000'000, 4), w.put(seq, 4),
        w.put(1, 4);
  }
  const auto fields = softflowd_fields(ipfix);
  if (with_template) {
    const std::size_t at = w.b.size();
    w.put(ipfix ? 2 : 0, 2), w.put(0, 2), w.put(1024, 2), w.put(fields.size(), 2);
    for (const Field& f : fields) w.put(f.type, 2), w.put(f.length, 2);
    w.patch16(at + 2, w.b.size() - at);
  }
  const std::size_t at = w.b.size();
  w.put(1024, 2), w.put(0, 2);
  for (int i = 0; i < records_per_datagram; ++i) {
    for (const Field& f : fields) {
      std::uint64_t v = 0;
      switch (f.type) {
        case 8: v = 0x0a000000u + first_flow + static_cast<std::uint32_t>(i); break;
        case 12: v = 0xc0a80000u + (first_flow + static_cast<std::uint32_t>(i)) * 7; break;
        case 21: v = 3'599'000; break;
        case 22: v = 3'590'000; break;
        case 152: v = 1'699'999'990'000ULL; break;
        case 153: v = 1'699'999'999'000ULL; break;
        case 1: v = 1500u * (i + 1); break;
        case 2: v = i + 1u; break;
        case 7: v = 40000u + i; break;
        case 11: v = 443; break;
        case 4: v = 6; break;
        case 6: v = 0x18; break;
        case 60: v = 4; break;
        default: v = 1; break;
      }
      w.put(v, f.length);
    }
  }
  w.patch16(at + 2, w.b.size() - at);
  if (ipfix) w.patch16(2, w.b.size());
  return w.b;
}

void run_template(benchmark::State& state, bool ipfix) {
  TemplateDecoder td;
  CountSink sink;
  DecodeStats stats;
  RecordWriter out(sink);
  const IpAddress exporter = IpAddress::v4(0x0a000001);
  const auto first = datagram(ipfix, true, 0);
  td.decode(Datagram{first.data(), first.size(), exporter, 2055, 0}, out, stats);
  const auto data = datagram(ipfix, false, 1);
  const Datagram dg{data.data(), data.size(), exporter, 2055, 1};
  for (auto _ : state) td.decode(dg, out, stats);
  out.flush();
  if (stats.total_errors() != 0 || stats.records != sink.n) state.SkipWithError("decode errors");
  state.counters["records/s"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * records_per_datagram, benchmark::Counter::kIsRate);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * data.size()));
}

void BM_Netflow9(benchmark::State& state) { run_template(state, false); }
void BM_Ipfix(benchmark::State& state) { run_template(state, true); }

void BM_Netflow5(benchmark::State& state) {
  Writer w;
  w.put(5, 2), w.put(records_per_datagram, 2), w.put(3'600'000, 4), w.put(1'700'000'000, 4), w.put(0, 4);
  w.put(1, 4), w.put(0, 2), w.put(0, 2);
  for (int i = 0; i < records_per_datagram; ++i) {
    w.put(0x0a000000u + i, 4), w.put(0xc0a80001u, 4), w.put(0, 4), w.put(1, 2), w.put(2, 2);
    w.put(i + 1, 4), w.put(1500 * (i + 1), 4), w.put(3'590'000, 4), w.put(3'599'000, 4);
    w.put(40000 + i, 2), w.put(443, 2), w.put(0, 1), w.put(0x18, 1), w.put(6, 1), w.put(0, 1);
    w.put(0, 2), w.put(0, 2), w.put(24, 1), w.put(24, 1), w.put(0, 2);
  }
  CountSink sink;
  DecodeStats stats;
  RecordWriter out(sink);
  const Datagram dg{w.b.data(), w.b.size(), IpAddress::v4(0x0a000001), 2055, 1};
  for (auto _ : state) decode_netflow5(dg, out, stats);
  out.flush();
  if (stats.total_errors() != 0) state.SkipWithError("decode errors");
  state.counters["records/s"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * records_per_datagram, benchmark::Counter::kIsRate);
}

// A collector worker's whole per-datagram path (decode, then add every record into the shard under
// the configured dimension set), on NetFlow v9 datagrams carrying `flows` distinct address pairs.
// The shard is handed over and emptied every `tick_datagrams` (6M records: each key is hit ~300
// times a tick, as at a collector's 1 s tick, rather than mostly inserted), as the stats core does.
// Arg 0: the dimension set (0 the default [exporter, protocol]; 1 the same with src_country and
// dst_asn, whose keys keep both addresses for the stats core to look up; 2 the 5-tuple); arg 1: flows.
void BM_Netflow9Worker(benchmark::State& state) {
  static const char* const sets[][5] = {{"exporter", "protocol"},
                                        {"exporter", "protocol", "src_country", "dst_asn"},
                                        {"src_addr", "dst_addr", "src_port", "dst_port", "protocol"}};
  config::DimensionSet set;
  set.name = "bench";
  for (const char* l : sets[state.range(0)])
    if (l != nullptr) set.labels.emplace_back(l);
  engine::WorkerSettings ws;
  ws.dimensions = engine::compile_dimensions({set}).value();
  config::Listener listener;  // a real socket on an ephemeral port, never read: datagrams are handed in
  listener.protocol = Protocol::netflow9;
  listener.address = "127.0.0.1";
  listener.port = 0;
  ws.listeners.push_back(listener);
  auto worker = engine::Worker::create(0, ws).value();

  const auto flows = static_cast<std::uint32_t>(state.range(1));
  std::vector<std::vector<std::uint8_t>> data;
  for (std::uint32_t f = 0; f < flows; f += records_per_datagram)
    data.push_back(datagram(false, data.empty(), static_cast<std::uint32_t>(data.size()), f));
  const IpAddress exporter = IpAddress::v4(0x0a000001);
  constexpr std::size_t tick_datagrams = 200'000;
  engine::FlowTable second(ws.table_capacity, ws.dimensions.size());
  engine::FlowTable* spare = &second;
  std::size_t i = 0, in_tick = 0;
  for (auto _ : state) {
    const auto& d = data[i];
    worker->handle_datagram(0, Datagram{d.data(), d.size(), exporter, 2055, 1});
    if (++i == data.size()) i = 1;  // the first datagram carries the template
    if (++in_tick == tick_datagrams) {
      in_tick = 0;
      worker->request_swap(spare);
      worker->poll_swap();
      spare = worker->take_retired();
      spare->clear();
    }
  }
  state.counters["records/s"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * records_per_datagram, benchmark::Counter::kIsRate);
}

}  // namespace

BENCHMARK(BM_Netflow9);
BENCHMARK(BM_Ipfix);
BENCHMARK(BM_Netflow5);
BENCHMARK(BM_Netflow9Worker)->ArgNames({"set", "flows"})->ArgsProduct({{0, 1, 2}, {20'000}});
BENCHMARK_MAIN();
