// What the raw-packet benchmarks share, so that bench_meter (in-memory bursts) and bench_dpdk_meter
// (the same frames through DPDK vdevs) meter the very same traffic: 64-byte Ethernet/IPv4/UDP frames
// of `flows` distinct 5-tuples, every flow at least once, in one shuffled order (no locality for
// caches or branch predictors), the meter's flow sink (a worker's ShardAggregator and FlowTable
// shard), and the TSC rate that turns CPU time into cycles.
#pragma once

#include <x86intrin.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "decode/decoder.hpp"
#include "engine/flow_key.hpp"
#include "engine/flow_table.hpp"

namespace flowpulse::bench {

inline constexpr std::size_t frame_size = 64;  // 14 Ethernet + 20 IPv4 + 8 UDP + 22 payload
// Frames per pass: enough that the working set is the flows, not the frames. 1,000,000 rather than
// 2^20 so that a pcap of them plus a port's working mbufs fits a 2^20 - 1 mbuf pool (net_pcap's
// infinite_rx keeps the whole file in mbufs).
inline constexpr std::size_t min_frames = 1'000'000;

inline std::size_t frames_for(std::uint32_t flows) { return std::max<std::size_t>(flows, min_frames); }

// One frame of flow `flow`: 10.x.y.z -> 172.16.0.1, UDP from a port by flow to 8080. Flows below
// 2^24 are all distinct.
inline void build_udp_frame(std::uint8_t* f, std::uint32_t flow) {
  std::memset(f, 0, frame_size);
  f[12] = 0x08;  // EtherType IPv4
  std::uint8_t* ip = f + 14;
  ip[0] = 0x45;
  const auto total = static_cast<std::uint16_t>(frame_size - 14);
  ip[2] = static_cast<std::uint8_t>(total >> 8);
  ip[3] = static_cast<std::uint8_t>(total);
  ip[8] = 64;
  ip[9] = 17;
  ip[12] = 10;
  ip[13] = static_cast<std::uint8_t>(flow >> 16);
  ip[14] = static_cast<std::uint8_t>(flow >> 8);
  ip[15] = static_cast<std::uint8_t>(flow);
  ip[16] = 172;
  ip[17] = 16;
  ip[19] = 1;
  std::uint8_t* udp = ip + 20;
  const auto sport = static_cast<std::uint16_t>(1024 + (flow % 50000));
  udp[0] = static_cast<std::uint8_t>(sport >> 8);
  udp[1] = static_cast<std::uint8_t>(sport);
  udp[2] = 0x1f;  // 8080
  udp[3] = 0x90;
  const auto ulen = static_cast<std::uint16_t>(total - 20);
  udp[4] = static_cast<std::uint8_t>(ulen >> 8);
  udp[5] = static_cast<std::uint8_t>(ulen);
}

// frames_for(flows) frames back to back, frame i of flow order[i] where order holds every flow
// equally often (± 1) and is shuffled with a fixed seed: the same bytes on every call.
inline std::vector<std::uint8_t> shuffled_frames(std::uint32_t flows) {
  const std::size_t n = frames_for(flows);
  std::vector<std::uint32_t> order(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = static_cast<std::uint32_t>(i % flows);
  std::shuffle(order.begin(), order.end(), std::mt19937(42));
  std::vector<std::uint8_t> frames(n * frame_size);
  for (std::size_t i = 0; i < n; ++i) build_udp_frame(frames.data() + i * frame_size, order[i]);
  return frames;
}

// TSC cycles per second, measured once against the steady clock.
inline double tsc_hz() {
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

// The worker's side of a flush: the meter's records aggregated into a flow-table shard with the
// default dimension set [exporter, protocol].
struct ShardSink final : decode::RecordSink {
  explicit ShardSink(std::vector<engine::Dimensions> dims) : aggregator(dims), table(1U << 16, dims.size()) {}
  void on_records(std::span<const FlowRecord> records) override { aggregator.add(table, records); }
  engine::ShardAggregator aggregator;
  engine::FlowTable table;
};

inline std::vector<engine::Dimensions> default_dimensions() {
  return engine::compile_dimensions({{"protocol", {"exporter", "protocol"}, 32, 128}}).value();
}

// Packets between two flushes of the meter into the shard: a 1 s tick at the 20 Mpps target.
inline constexpr std::uint64_t tick_packets = 20'000'000;

}  // namespace flowpulse::bench
