// Opening the capture sources a configuration names (`capture.sources`), as capture-worker inputs
// for the collector engine: afpacket gives one fanout member per worker, dpdk and afxdp one source
// per RX queue, pcap and pcap_file one source each. Lives in cli because it is the one place that
// links every source library (DPDK and AF_XDP are optional at build time).
#pragma once

#include <vector>

#include "config/config.hpp"
#include "core/result.hpp"
#include "engine/collector.hpp"

namespace flowpulse::cli {

// `workers` is the number of capture workers an afpacket source gets (its fanout group size) and
// the number of RX queues of a dpdk source that lists none. Errors name the source and what to do.
core::Result<std::vector<engine::CaptureInput>> open_capture(const config::Config& cfg, unsigned workers);

}  // namespace flowpulse::cli
