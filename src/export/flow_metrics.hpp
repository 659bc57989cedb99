// The collector's Prometheus metrics: flow counters by the configured label sets, bandwidth and
// totals per window, and the engine's health (received/parsed/dropped, kernel drops, queue, table,
// processing time). Built at scrape time from the stats core's latest immutable Snapshot, so a scrape
// never blocks a worker and always sees the last tick.
#pragma once

#include <prometheus/collectable.h>

#include "config/config.hpp"
#include "engine/collector.hpp"

namespace flowpulse::exporting {

class FlowMetrics final : public prometheus::Collectable {
 public:
  FlowMetrics(const config::Metrics& settings, const engine::Collector& collector);
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  config::Metrics settings_;
  const engine::Collector& collector_;
  std::vector<std::string> listener_names_;  // "[::]:2055"
  std::vector<std::string> window_names_;    // "1m"
};

}  // namespace flowpulse::exporting
