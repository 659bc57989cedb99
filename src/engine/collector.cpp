#include "engine/collector.hpp"

#include <pthread.h>

#include <condition_variable>
#include <fstream>
#include <mutex>
#include <optional>
#include <string>

#include "core/clock.hpp"
#include "core/log.hpp"

namespace flowpulse::engine {
namespace {

// MemAvailable of /proc/meminfo: what the kernel estimates can be committed without swapping.
std::optional<std::uint64_t> available_memory_bytes() {
  std::ifstream meminfo("/proc/meminfo");
  for (std::string line; std::getline(meminfo, line);) {
    if (line.rfind("MemAvailable:", 0) == 0) return std::stoull(line.substr(13)) * 1024;
  }
  return std::nullopt;
}

}  // namespace

core::Status check_table_memory(std::uint32_t capacity, std::size_t workers, std::size_t tables,
                                std::size_t caches, const std::string& lower) {
  const std::uint64_t need = tables * std::uint64_t{FlowTable::memory_bytes(capacity)} +
                             caches * std::uint64_t{Meter::memory_bytes(capacity)};
  if (const auto available = available_memory_bytes(); available && need > *available) {
    return core::Error{"performance.table_capacity " + std::to_string(capacity) + ": the flow tables of " +
                       std::to_string(workers) + " workers need " + std::to_string(need >> 20) + " MiB and " +
                       std::to_string(*available >> 20) + " MiB are available; lower " + lower};
  }
  return core::Ok{};
}

core::Error table_memory_exhausted(std::uint32_t capacity, const std::string& lower) {
  return core::Error{"out of memory while making the flow tables (performance.table_capacity " +
                     std::to_string(capacity) + "): lower " + lower};
}

core::Result<std::unique_ptr<Collector>> Collector::start(const config::Config& cfg,
                                                          AddressEnricher* enricher,
                                                          std::vector<CaptureInput> captures,
                                                          FlowObserver* observer) {
  try {
    return make(cfg, enricher, std::move(captures), observer);
  } catch (const std::bad_alloc&) {  // a table's memory, past the check in make()
    return table_memory_exhausted(cfg.performance.table_capacity, "it or performance.workers");
  }
}

core::Result<std::unique_ptr<Collector>> Collector::make(const config::Config& cfg, AddressEnricher* enricher,
                                                         std::vector<CaptureInput> captures,
                                                         FlowObserver* observer) {
  std::unique_ptr<Collector> c(new Collector());
  auto dims = compile_dimensions(cfg.metrics.dimensions);
  if (!dims) return core::Error{dims.error()};
  c->dimensions_ = std::move(dims).value();
  for (const auto& d : c->dimensions_) {
    if ((d.src_lookup || d.dst_lookup) && enricher == nullptr) {
      return core::Error{"metrics.dimensions '" + d.name +
                         "' uses enrichment labels but no database is open"};
    }
  }
  c->tick_ns_ = cfg.performance.tick_ns;
  const unsigned n = cfg.listeners.empty()          ? 0
                     : cfg.performance.workers != 0 ? cfg.performance.workers
                                                    : std::max(1U, std::thread::hardware_concurrency());
  // The flow tables (two per worker: the one it fills, the one the stats core merges) and the
  // capture workers' flow caches are committed at start: a capacity the machine cannot hold is an
  // error here, not the OOM killer's choice later.
  const std::size_t workers = n + captures.size();
  if (auto fits = check_table_memory(cfg.performance.table_capacity, workers, 2 * workers, captures.size(),
                                     "table_capacity or performance.workers");
      !fits) {
    return core::Error{fits.error()};
  }
  WorkerSettings ws;
  ws.listeners = cfg.listeners;
  ws.dimensions = c->dimensions_;
  ws.limits = cfg.decode;
  ws.batch_size = cfg.performance.batch_size;
  ws.table_capacity = cfg.performance.table_capacity;
  // A listener on port 0 gets its port from the first worker's socket; the others join it.
  for (unsigned i = 0; i < n; ++i) {
    auto w = Worker::create(i, ws);
    if (!w) return core::Error{w.error()};
    if (i == 0) {
      for (std::size_t l = 0; l < ws.listeners.size(); ++l) ws.listeners[l].port = (*w)->sockets()[l].port();
    }
    c->workers_.push_back(std::move(w).value());
  }
  c->listeners_ = ws.listeners;
  ws.meter.export_ports = cfg.capture.export_ports;
  ws.meter.flow_cache_capacity = cfg.performance.table_capacity;
  ws.meter.idle_timeout_ns = cfg.capture.idle_timeout_ns;
  if (observer != nullptr) ws.feed_capacity = cfg.performance.table_capacity;
  for (CaptureInput& in : captures) {
    ws.new_flows =
        observer != nullptr ? observer->new_flow_ring(static_cast<unsigned>(c->workers_.size())) : nullptr;
    auto w = Worker::create_capture(static_cast<unsigned>(c->workers_.size()), ws, std::move(in.source),
                                    std::move(in.store));
    if (!w) return core::Error{w.error()};
    c->workers_.push_back(std::move(w).value());
  }
  StatsSettings ss;
  ss.dimensions = c->dimensions_;
  ss.windows_ns = cfg.metrics.windows_ns;
  ss.tick_ns = cfg.performance.tick_ns;
  ss.series_budget = cfg.metrics.series_budget;
  ss.table_capacity = cfg.performance.table_capacity;
  ss.listeners = c->listeners_.size();
  ss.enricher = enricher;
  ss.flow_as_wins = cfg.enrichment.as_source == config::AsSource::flow;
  ss.observer = observer;
  ss.feed_capacity = ws.feed_capacity;
  std::vector<Worker*> raw;
  for (auto& w : c->workers_) raw.push_back(w.get());
  c->stats_ = std::make_unique<StatsCore>(std::move(ss), std::move(raw));
  const auto& cpus = cfg.performance.worker_cpus;
  for (std::size_t i = 0; i < c->workers_.size(); ++i) {
    c->workers_[i]->start();
    if (cpus.empty()) continue;
    if (auto pinned = c->workers_[i]->pin(cpus[i % cpus.size()]); !pinned) return core::Error{pinned.error()};
  }
  c->stats_thread_ = std::jthread([p = c.get()](std::stop_token st) { p->run_stats(st); });
  pthread_setname_np(c->stats_thread_.native_handle(), "fp-stats");
  Worker::keep_off_worker_cpus(c->stats_thread_.native_handle(), cpus);
  log::info("collector started", {{"workers", n},
                                  {"capture_workers", c->workers_.size() - n},
                                  {"listeners", c->listeners_.size()},
                                  {"dimension_sets", c->dimensions_.size()}});
  return c;
}

Collector::~Collector() { stop(); }

void Collector::run_stats(std::stop_token stop) {
  std::mutex mu;
  std::condition_variable_any cv;
  std::uint64_t next = core::monotonic_ns() + tick_ns_;
  while (!stop.stop_requested()) {
    std::unique_lock lock(mu);
    const std::uint64_t now = core::monotonic_ns();
    if (now < next) {
      cv.wait_for(lock, stop, std::chrono::nanoseconds(next - now), [] { return false; });
      continue;
    }
    next += tick_ns_;
    if (next < now) next = now + tick_ns_;  // fell behind: skip, do not burst
    stats_->tick(core::realtime_ns());
    log::flush_suppressed();
  }
}

void Collector::stop() {
  if (!stats_thread_.joinable()) return;
  stats_thread_.request_stop();
  stats_thread_.join();
  for (auto& w : workers_) w->stop();
  // Workers are stopped: drive the last hand-over on this thread so the final counts are complete.
  stats_->tick(core::realtime_ns(), true);
}

std::vector<std::uint16_t> Collector::bound_ports() const {
  std::vector<std::uint16_t> out;
  for (const auto& l : listeners_) out.push_back(l.port);
  return out;
}

}  // namespace flowpulse::engine
