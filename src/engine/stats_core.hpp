// The stats core: once a tick it takes every worker's retired shard (Worker hand-over), merges them
// into a tick slice, and keeps from the slices
//   - cumulative totals per label set (for the Prometheus counters),
//   - sliding windows (1m, 5m, 15m, 1h by default) as a running sum over a ring of buckets,
//   - per-window totals from a ring of cumulative totals, for bandwidth and window gauges.
// Memory is bounded by configuration, not by traffic: per dimension set at most series_budget /
// sets label sets are kept in the totals and in each bucket; the rest are folded into the set's
// "other" entry, so totals stay exact. The result is published as an immutable Snapshot that a
// scrape reads without ever blocking a worker or the stats core.
#pragma once

#include <atomic>
#include <deque>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "engine/flow_observer.hpp"
#include "engine/flow_table.hpp"
#include "engine/worker.hpp"

namespace flowpulse::engine {

struct Series {
  FlowKey key;
  Counters counters;
};

struct WindowSnapshot {
  std::uint64_t length_ns = 0;
  std::uint64_t covered_ns = 0;      // min(length, time since start): bandwidth divides by this
  Counters total;                    // everything in the window, exact
  std::vector<Series> top;           // per set: the top label sets by bytes, then "other"
  std::uint64_t top_covered_ns = 0;  // the time `top` covers (its buckets), for per-series bandwidth
};

struct WorkerInfo {
  unsigned id = 0;
  std::uint64_t table_entries = 0;  // entries in the last retired shard
  std::uint64_t queue_bytes = 0;    // bytes waiting in the worker's sockets
};

struct CaptureInfo {
  std::string source;  // the source's name, e.g. "afpacket:eth0/0"
  CaptureCounters counters;
};

struct Snapshot {
  std::uint64_t time_ns = 0;
  std::uint64_t ticks = 0;
  std::vector<Series> totals;  // cumulative; per set at most budget entries including "other"
  std::vector<WindowSnapshot> windows;
  Counters all;  // every record since start
  std::vector<ListenerCounters> listeners;
  std::vector<std::uint64_t> kernel_drops;  // per listener, from /proc/net/udp{,6}
  decode::DecodeStats decode;
  std::vector<ExporterSnapshot> exporters;  // summed over workers, by address
  std::vector<WorkerInfo> workers;
  std::vector<CaptureInfo> captures;  // one per capture worker
  std::uint64_t table_overflow = 0;
  std::array<std::uint64_t, duration_buckets> duration_counts{};
  double duration_sum = 0;
  std::uint64_t batches = 0;
  std::shared_ptr<const EnrichmentNames> names;  // resolves city / organization ids in `totals`
  std::optional<EnrichmentStats> enrichment;     // when an enricher is configured
};

struct StatsSettings {
  std::vector<Dimensions> dimensions;
  std::vector<std::uint64_t> windows_ns;
  std::uint64_t tick_ns = 1'000'000'000ULL;
  std::uint32_t series_budget = 10000;
  std::uint32_t table_capacity = 65536;
  std::size_t listeners = 0;
  AddressEnricher* enricher = nullptr;  // required when a set has enrichment labels
  bool flow_as_wins = true;             // enrichment.as_source: flow
  // Gets every capture shard's 5-tuple feed and a call per tick (may be null). Shards then carry a
  // feed of feed_capacity deltas.
  FlowObserver* observer = nullptr;
  std::size_t feed_capacity = 0;
};

struct KeyHash {
  std::size_t operator()(const FlowKey& k) const noexcept { return hash_key(k); }
};
using SeriesMap = std::unordered_map<FlowKey, Counters, KeyHash>;

class StatsCore {
 public:
  StatsCore(StatsSettings settings, std::vector<Worker*> workers);

  // One round: hand-over with every worker, merge, update totals and windows, publish. With
  // `drive_workers` (their threads are stopped) the hand-over runs on this thread.
  void tick(std::uint64_t now_ns, bool drive_workers = false);
  // Merges one retired table (tick() does this for each worker; tests may drive it directly).
  void merge(const FlowTable& t);
  // Updates totals and windows from the merged slice and publishes a snapshot.
  void publish(std::uint64_t now_ns);

  std::shared_ptr<const Snapshot> snapshot() const { return snapshot_.load(std::memory_order_acquire); }
  std::size_t budget_per_set() const noexcept { return budget_per_set_; }

 private:
  struct Window {
    std::uint64_t length_ns;
    std::uint64_t bucket_ns;
    std::size_t buckets;  // closed buckets kept besides the open one
    std::deque<SeriesMap> closed;
    SeriesMap open;
    std::uint64_t open_start_ns = 0;
    SeriesMap running;  // sum of closed + open
  };

  // Folds all but the top (budget - 1) label sets of each set into the set's "other" entry; the
  // same moves are applied to `mirror` when given (a window's running sum).
  void truncate(SeriesMap& m, SeriesMap* mirror) const;
  std::vector<Series> top(const SeriesMap& m) const;

  StatsSettings settings_;
  std::vector<Worker*> workers_;
  std::vector<std::unique_ptr<FlowTable>> tables_;  // every table the stats core owns (spares)
  std::vector<FlowTable*> spares_;
  std::vector<bool> awaiting_;  // a swap request is out to this worker
  std::size_t budget_per_set_;

  SeriesMap slice_;
  SeriesMap cumulative_;
  std::vector<Window> windows_;
  std::deque<std::pair<std::uint64_t, Counters>> history_;  // (time, cumulative totals) per tick
  std::uint64_t start_ns_ = 0;
  std::uint64_t ticks_ = 0;
  std::vector<WorkerSnapshot> last_;  // the latest snapshot of each worker (cumulative counters)
  std::vector<std::uint64_t> last_entries_;
  std::uint64_t last_overflow_ = 0;

  std::atomic<std::shared_ptr<const Snapshot>> snapshot_;
};

}  // namespace flowpulse::engine
