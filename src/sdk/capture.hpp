// Opening the capture sources a configuration names (`capture.sources`), as capture-worker inputs
// for the collector engine: afpacket gives one fanout member per worker, dpdk and afxdp one source
// per RX queue, pcap and pcap_file one source each. Lives in sdk, the one library that links every
// source library (DPDK and AF_XDP are optional at build time); `flowpulse run` and the SDK's Engine
// both open their sources here.
#pragma once

#include <vector>

#include "config/config.hpp"
#include "core/result.hpp"
#include "engine/collector.hpp"

namespace flowpulse::sdk {

// `workers` is the number of capture workers an afpacket source gets (its fanout group size) and
// the number of RX queues of a dpdk source that lists none. Errors name the source and what to do.
// Ring tuning of the kernel-facing live sources (afpacket, pcap); the defaults are the sources'.
struct RingTuning {
  std::uint32_t block_timeout_ms = 10;  // a partly filled block is handed over after this long
  std::uint32_t ring_bytes = 0;         // 0 = the source's default (afpacket 64 MiB, pcap 32 MiB)
};
core::Result<std::vector<engine::CaptureInput>> open_capture(const config::Config& cfg, unsigned workers,
                                                             const RingTuning& tuning = {});

}  // namespace flowpulse::sdk
