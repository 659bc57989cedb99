// The collector's Prometheus metrics: flow counters by the configured label sets, bandwidth and
// totals per window, and the engine's health (received/parsed/dropped, kernel drops, queue, table,
// processing time). Built at scrape time from the stats core's latest immutable Snapshot, so a scrape
// never blocks a worker and always sees the last tick.
#pragma once

#include <prometheus/collectable.h>

#include <functional>
#include <memory>
#include <vector>

#include "config/config.hpp"
#include "engine/collector.hpp"

namespace flowpulse::exporting {

class FlowMetrics final : public prometheus::Collectable {
 public:
  using SnapshotSource = std::function<std::shared_ptr<const engine::Snapshot>()>;

  FlowMetrics(const config::Metrics& settings, const engine::Collector& collector);
  // For pipelines without a Collector (replay): where snapshots come from, the dimension sets, and
  // the listeners the snapshot's per-listener counters belong to (may be empty).
  FlowMetrics(const config::Metrics& settings, std::vector<engine::Dimensions> dimensions,
              std::vector<config::Listener> listeners, SnapshotSource snapshots);
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  config::Metrics settings_;
  std::vector<engine::Dimensions> dimensions_;
  std::vector<config::Listener> listeners_;
  SnapshotSource snapshots_;
  std::vector<std::string> listener_names_;  // "[::]:2055"
  std::vector<std::string> window_names_;    // "1m"
};

}  // namespace flowpulse::exporting
