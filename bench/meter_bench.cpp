// The raw-packet worker path per core, from in-memory bursts: parse L2-L4 + flow update in the
// meter's cache (Meter::process), and once per simulated tick the flush of the changed flows into
// the worker's flow-table shard (what the stats core then merges). Frames are 64-byte Ethernet /
// IPv4 / UDP of `flows` distinct 5-tuples in a shuffled order (no locality to help), the same as
// bench_dpdk_meter feeds through DPDK (bench/raw_packet_bench.hpp).
// Reports packets per CPU-second and CPU cycles per packet (CPU time x TSC rate: the machine is
// shared, so wall time would count other processes' time). Run:
//   build-bench/bench/bench_meter --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "decode/flow_decoder.hpp"
#include "engine/meter.hpp"
#include "raw_packet_bench.hpp"

namespace {

using namespace flowpulse;
using bench::frame_size;

constexpr std::size_t burst = 32;

void BM_MeterWorkerPath(benchmark::State& state) {
  const auto flows = static_cast<std::uint32_t>(state.range(0));
  // The frames of bench_dpdk_meter too: every flow at least once, at least bench::min_frames frames
  // (the working set is the flows, not the frames: the frames are read once per pass anyway).
  const std::vector<std::uint8_t> frames = bench::shuffled_frames(flows);
  const std::size_t n = frames.size() / frame_size;
  std::vector<io::Frame> bursts(n);
  for (std::size_t i = 0; i < n; ++i) {
    bursts[i] = io::Frame{
        frames.data() + i * frame_size, frame_size, frame_size, 1'700'000'000'000'000'000ULL + i, 0, 0, 1};
  }

  decode::FlowDecoder decoder{decode::Limits{}};
  engine::MeterSettings ms;
  ms.flow_cache_capacity = std::max<std::uint32_t>(flows + flows / 4, 1024);
  engine::Meter meter(ms, decoder);
  bench::ShardSink sink(bench::default_dimensions());
  decode::RecordWriter writer(sink);

  // A tick's worth of packets at the 20 Mpps target between flushes.
  std::uint64_t since_flush = 0;
  std::size_t pos = 0;
  std::uint64_t packets = 0;
  for (auto _ : state) {
    meter.process(std::span<const io::Frame>(bursts.data() + pos, burst), writer);
    pos += burst;
    if (pos + burst > n) pos = 0;
    packets += burst;
    since_flush += burst;
    if (since_flush >= bench::tick_packets) {
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
  state.counters["cycles_per_pkt"] =
      benchmark::Counter(static_cast<double>(packets) / bench::tsc_hz(),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  if (meter.stats().metered != packets) state.SkipWithError("not every frame was metered");
}
BENCHMARK(BM_MeterWorkerPath)->Arg(1000)->Arg(10'000)->Arg(100'000)->Arg(1'000'000);

}  // namespace

BENCHMARK_MAIN();
