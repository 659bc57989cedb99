// Process attribution's Prometheus metrics (`attribution.enabled`): bytes and packets per local
// process and direction for the top `max_processes` processes by bytes (the rest summed into the
// series pid="other"), traffic no process could be charged with by protocol, and attribution's own
// health. Built at scrape time from what `source` returns (the latest attribution report).
#pragma once

#include <prometheus/collectable.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "config/config.hpp"
#include "flowpulse/process.hpp"

namespace flowpulse::exporting {

struct ProcessMetricsView {
  std::vector<ProcessTraffic> processes;  // most bytes first (cumulative)
  std::vector<UnknownTraffic> unknown;
  std::uint64_t sockets = 0;     // in the last socket refresh, all namespaces
  std::uint64_t namespaces = 0;  // network namespaces dumped
  double refresh_seconds = 0;    // the last refresh's duration
  std::uint64_t refresh_errors = 0;
  std::uint64_t new_flows = 0;          // new-flow notices from the capture workers
  std::uint64_t new_flows_dropped = 0;  // lost to full rings
  std::uint64_t new_flows_skipped = 0;  // over the per-pass lookup budget
  std::uint64_t flow_queries = 0;       // kernel lookups of single sockets
};

class ProcessMetrics final : public prometheus::Collectable {
 public:
  using Source = std::function<ProcessMetricsView()>;
  ProcessMetrics(const config::Metrics& settings, std::size_t max_processes, Source source);
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  config::Metrics settings_;
  std::size_t max_processes_;
  Source source_;
};

}  // namespace flowpulse::exporting
