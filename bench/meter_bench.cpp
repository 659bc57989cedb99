// The raw-packet worker path per core, from in-memory bursts: parse L2-L4 + flow update in the
// meter's cache (Meter::process), and once per simulated tick the flush of the changed flows into
// the worker's flow-table shard (what the stats core then merges). Frames are 64-byte Ethernet /
// IPv4 / UDP, one per flow in a shuffled order (no locality to help), `flows` distinct 5-tuples.
// Reports packets per CPU-second and CPU cycles per packet (CPU time x TSC rate: the machine is
// shared, so wall time would count other processes' time). Run:
//   build-bench/bench/bench_meter --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>
#include <x86intrin.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "decode/decoder.hpp"
#include "decode/flow_decoder.hpp"
#include "engine/flow_table.hpp"
#include "engine/meter.hpp"

namespace {

using namespace flowpulse;

constexpr std::size_t frame_size = 64;
constexpr std::size_t burst = 32;

// Ethernet + IPv4 + UDP, 18 payload bytes: 64 bytes on the wire without the FCS... 60 + 4.
void build_frame(std::uint8_t* f, std::uint32_t flow) {
  std::memset(f, 0, frame_size);
  f[12] = 0x08;  // EtherType IPv4
  std::uint8_t* ip = f + 14;
  ip[0] = 0x45;
  const std::uint16_t total = static_cast<std::uint16_t>(frame_size - 14);
  ip[2] = static_cast<std::uint8_t>(total >> 8);
  ip[3] = static_cast<std::uint8_t>(total);
  ip[8] = 64;
  ip[9] = 17;
  // 10.x.y.z -> 172.16.0.1, source port by flow: every flow is distinct.
  ip[12] = 10;
  ip[13] = static_cast<std::uint8_t>(flow >> 16);
  ip[14] = static_cast<std::uint8_t>(flow >> 8);
  ip[15] = static_cast<std::uint8_t>(flow);
  ip[16] = 172;
  ip[17] = 16;
  ip[19] = 1;
  std::uint8_t* udp = ip + 20;
  const std::uint16_t sport = static_cast<std::uint16_t>(1024 + (flow % 50000));
  udp[0] = static_cast<std::uint8_t>(sport >> 8);
  udp[1] = static_cast<std::uint8_t>(sport);
  udp[2] = 0x1f;  // 8080
  udp[3] = 0x90;
  const std::uint16_t ulen = static_cast<std::uint16_t>(total - 20);
  udp[4] = static_cast<std::uint8_t>(ulen >> 8);
  udp[5] = static_cast<std::uint8_t>(ulen);
}

// TSC cycles per second, measured once against the steady clock.
double tsc_hz() {
  static const double hz = [] {
    const auto t0 = std::chrono::steady_clock::now();
    const std::uint64_t c0 = __rdtsc();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const std::uint64_t c1 = __rdtsc();
    return static_cast<double>(c1 - c0) /
           std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }();
  return hz;
}

struct Table final : decode::RecordSink {
  explicit Table(std::vector<engine::Dimensions> dims) : aggregator(dims), table(1U << 16, dims.size()) {}
  void on_records(std::span<const FlowRecord> records) override { aggregator.add(table, records); }
  engine::ShardAggregator aggregator;
  engine::FlowTable table;
};

void BM_MeterWorkerPath(benchmark::State& state) {
  const auto flows = static_cast<std::uint32_t>(state.range(0));
  // Enough frames that the working set is the flows, not the frames: each flow appears at least
  // once, up to 4M frames (256 MiB would not help: the frames are read once per pass anyway).
  const std::size_t n = std::max<std::size_t>(flows, 1U << 20);
  std::vector<std::uint8_t> frames(n * frame_size);
  std::vector<std::uint32_t> order(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = static_cast<std::uint32_t>(i % flows);
  std::shuffle(order.begin(), order.end(), std::mt19937(42));
  for (std::size_t i = 0; i < n; ++i) build_frame(frames.data() + i * frame_size, order[i]);
  std::vector<io::Frame> bursts(n);
  for (std::size_t i = 0; i < n; ++i) {
    bursts[i] = io::Frame{
        frames.data() + i * frame_size, frame_size, frame_size, 1'700'000'000'000'000'000ULL + i, 0, 0, 1};
  }

  auto dims = engine::compile_dimensions({{"protocol", {"exporter", "protocol"}, 32, 128}});
  decode::FlowDecoder decoder{decode::Limits{}};
  engine::MeterSettings ms;
  ms.flow_cache_capacity = std::max<std::uint32_t>(flows + flows / 4, 1024);
  engine::Meter meter(ms, decoder);
  Table sink(std::move(dims).value());
  decode::RecordWriter writer(sink);

  // A tick's worth of packets at the 20 Mpps target between flushes.
  constexpr std::uint64_t tick_packets = 20'000'000;
  std::uint64_t since_flush = 0;
  std::size_t pos = 0;
  std::uint64_t packets = 0;
  for (auto _ : state) {
    meter.process(std::span<const io::Frame>(bursts.data() + pos, burst), writer);
    pos += burst;
    if (pos + burst > n) pos = 0;
    packets += burst;
    since_flush += burst;
    if (since_flush >= tick_packets) {
      meter.flush(writer);
      writer.flush();
      sink.table.clear();
      since_flush = 0;
    }
  }
  meter.flush(writer);
  writer.flush();
  state.SetItemsProcessed(static_cast<std::int64_t>(packets));
  // CPU seconds x TSC cycles per second / packets: kIsRate divides by the CPU time, kInvert flips it.
  state.counters["cycles_per_pkt"] = benchmark::Counter(
      static_cast<double>(packets) / tsc_hz(), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  if (meter.stats().metered != packets) state.SkipWithError("not every frame was metered");
}
BENCHMARK(BM_MeterWorkerPath)->Arg(1000)->Arg(10'000)->Arg(100'000)->Arg(1'000'000);

}  // namespace

BENCHMARK_MAIN();
