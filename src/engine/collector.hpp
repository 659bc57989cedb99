// The collector engine: N collector workers (each with its own SO_REUSEPORT socket per listener,
// templates and flow-table shard), one capture worker per packet source, and the stats-core thread that
// merges their shards every tick and publishes the Snapshot that /metrics reads.
#pragma once

#include <memory>
#include <stop_token>
#include <thread>
#include <vector>

#include "config/config.hpp"
#include "engine/stats_core.hpp"
#include "engine/worker.hpp"

namespace flowpulse::engine {

// One capture worker's input: its packet source and, when the pcap store is on, where its frames
// are copied.
struct CaptureInput {
  std::unique_ptr<io::PacketSource> source;
  std::unique_ptr<io::FrameSink> store;
};

// Checks that `tables` flow-table shards and `caches` meter flow caches of `capacity` entries, all
// committed when made, fit in the memory the kernel says is available (MemAvailable). The error says
// what they need for `workers` workers and ends with `lower` (the settings to lower).
core::Status check_table_memory(std::uint32_t capacity, std::size_t workers, std::size_t tables,
                                std::size_t caches, const std::string& lower);
// The error for an allocation of those tables that failed after all (std::bad_alloc).
core::Error table_memory_exhausted(std::uint32_t capacity, const std::string& lower);

class Collector {
 public:
  // `enricher` (may be null when no set uses enrichment labels) must outlive the collector. Each
  // capture input gets a capture worker of its own, besides the collector workers of the listeners
  // (none when there are no listeners).
  // `observer` (may be null; must outlive the collector) gets the capture workers' flows: process
  // attribution.
  static core::Result<std::unique_ptr<Collector>> start(const config::Config& cfg,
                                                        AddressEnricher* enricher = nullptr,
                                                        std::vector<CaptureInput> captures = {},
                                                        FlowObserver* observer = nullptr);
  ~Collector();
  Collector(const Collector&) = delete;
  Collector& operator=(const Collector&) = delete;

  // Stops the workers (closing their sockets), then runs a last merge so nothing received is lost
  // from the final snapshot.
  void stop();

  std::shared_ptr<const Snapshot> snapshot() const { return stats_->snapshot(); }
  const std::vector<Dimensions>& dimensions() const noexcept { return dimensions_; }
  const std::vector<config::Listener>& listeners() const noexcept { return listeners_; }
  std::size_t workers() const noexcept { return workers_.size(); }  // collector and capture workers
  std::uint64_t tick_ns() const noexcept { return tick_ns_; }
  // The port each listener is bound to (differs from the config only for port 0).
  std::vector<std::uint16_t> bound_ports() const;

 private:
  // start() without its catch of std::bad_alloc.
  static core::Result<std::unique_ptr<Collector>> make(const config::Config& cfg, AddressEnricher* enricher,
                                                       std::vector<CaptureInput> captures,
                                                       FlowObserver* observer);
  Collector() = default;
  void run_stats(std::stop_token stop);

  std::vector<config::Listener> listeners_;
  std::vector<Dimensions> dimensions_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<StatsCore> stats_;
  std::uint64_t tick_ns_ = 0;
  std::jthread stats_thread_;
};

}  // namespace flowpulse::engine
