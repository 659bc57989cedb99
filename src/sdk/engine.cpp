// The SDK's Engine: the same pipeline as `flowpulse run` with capture sources on the given devices
// and process attribution on, without listeners or a metrics endpoint.
#include "flowpulse/engine.hpp"

#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>

#include "core/clock.hpp"
#include "core/log.hpp"
#include "engine/collector.hpp"
#include "proc/attribution.hpp"
#include "sdk/capture.hpp"
#include "sdk/cgroup.hpp"

namespace flowpulse {

struct Engine::Impl {
  Options options;
  std::unique_ptr<sdk::CgroupLimit> cgroup;
  std::unique_ptr<proc::Attribution> attribution;
  std::unique_ptr<engine::Collector> collector;
  std::optional<std::stop_callback<std::function<void()>>> on_stop;

  mutable std::mutex mu;
  std::condition_variable cv;
  bool running = false;
  std::mutex stop_mu;  // one stop() at a time

  std::uint64_t capture_sum(bool drops) const {
    if (!collector) return 0;
    std::uint64_t n = 0;
    for (const auto& c : collector->snapshot()->captures)
      n += drops ? c.counters.source.kernel_drops : c.counters.source.frames;
    return n;
  }
};

namespace {

config::Config engine_config(const Options& o) {
  config::Config cfg;
  cfg.listeners.clear();
  for (const std::string& dev : o.devices) {
    config::CaptureSource s;
    // AF_PACKET needs one interface; "any" is libpcap's.
    s.type = o.method == CaptureMethod::pcap || dev == "any" ? config::SourceType::pcap
                                                             : config::SourceType::afpacket;
    s.device = dev;
    cfg.capture.sources.push_back(s);
  }
  cfg.capture.filter = o.bpf_filter;
  cfg.capture.store_pcap = o.pcap_store;
  cfg.capture.export_ports.clear();  // on a host, a flow export is traffic like any other
  cfg.performance.workers = std::max(1U, o.workers);
  cfg.performance.tick_ns =
      static_cast<std::uint64_t>(std::max<std::int64_t>(10, o.sync_interval.count())) * 1'000'000ULL;
  cfg.metrics.dimensions = {{"protocol", {"protocol"}, 32, 128}};
  cfg.metrics.windows_ns = {60'000'000'000ULL};
  return cfg;
}

// Options::log_level and log_sink as the process's log settings (logfmt, default rate limits).
log::Options log_options(const Options& o) {
  log::Options lo;
  switch (o.log_level) {
    case LogLevel::debug: lo.level = log::Level::debug; break;
    case LogLevel::info: lo.level = log::Level::info; break;
    case LogLevel::warn: lo.level = log::Level::warn; break;
    case LogLevel::error:
    case LogLevel::off: lo.level = log::Level::error; break;
  }
  if (o.log_level == LogLevel::off) {
    lo.line_sink = [](log::Level, std::string_view) {};
  } else if (o.log_sink) {
    lo.line_sink = [sink = o.log_sink](log::Level level, std::string_view line) {
      static constexpr LogLevel levels[] = {LogLevel::debug, LogLevel::info, LogLevel::warn, LogLevel::error};
      sink(levels[static_cast<int>(level)], line);
    };
  }
  return lo;
}

}  // namespace

Engine::Engine(Options options) : impl_(std::make_unique<Impl>()) { impl_->options = std::move(options); }

Engine::~Engine() { stop(); }

Status Engine::start() {
  if (Status st = start_locked(); !st) return st;
  // Outside the start lock: a token already stopped runs the callback (stop()) right here.
  if (impl_->options.stop_token.stop_possible())
    impl_->on_stop.emplace(impl_->options.stop_token, [this] { stop(); });
  return {};
}

Status Engine::start_locked() {
  Impl& m = *impl_;
  std::lock_guard stop_lock(m.stop_mu);
  {
    std::lock_guard lock(m.mu);
    if (m.running) return {"flowpulse engine: already running"};
  }
  const Options& o = m.options;
  if (o.devices.empty()) return {"flowpulse engine: no device to capture on (Options::devices)"};
  log::configure(log_options(o));  // before anything logs
  // Kept here until everything started: a failed start leaves the process where it was.
  std::unique_ptr<sdk::CgroupLimit> cgroup;
  if (!o.cpu_max.empty() || !o.memory_max.empty()) {
    auto c = sdk::CgroupLimit::apply(o.cgroup_parent, o.cpu_max, o.memory_max);
    if (!c) return {"flowpulse engine: " + c.error()};
    cgroup = std::move(c).value();
  }
  const config::Config cfg = engine_config(o);
  proc::AttributionOptions ao;
  ao.sync_interval_ns = cfg.performance.tick_ns;
  ao.history_seconds = o.history_seconds;
  ao.ewma_alpha = o.ewma_alpha;
  auto attribution = proc::Attribution::start(ao);
  if (!attribution) return {"flowpulse engine: " + attribution.error()};
  sdk::RingTuning tuning;
  tuning.block_timeout_ms = static_cast<std::uint32_t>(std::max<std::int64_t>(1, o.capture_timeout.count()));
  tuning.ring_bytes = static_cast<std::uint32_t>(std::min<std::size_t>(o.queue_size * 2048, 1U << 30));
  auto captures = sdk::open_capture(cfg, cfg.performance.workers, tuning);
  if (!captures) return {"flowpulse engine: " + captures.error()};
  auto collector = engine::Collector::start(cfg, nullptr, std::move(captures).value(), attribution->get());
  if (!collector) return {"flowpulse engine: " + collector.error()};
  m.cgroup = std::move(cgroup);
  m.attribution = std::move(attribution).value();
  m.collector = std::move(collector).value();
  {
    std::lock_guard lock(m.mu);
    m.running = true;
  }
  return {};
}

void Engine::stop() {
  Impl& m = *impl_;
  std::lock_guard stop_lock(m.stop_mu);
  {
    std::lock_guard lock(m.mu);
    if (!m.running) return;
  }
  m.collector->stop();    // capture ends; the last tick hands everything to attribution
  m.attribution->stop();  // charges it, publishes the last report
  m.cgroup.reset();
  {
    std::lock_guard lock(m.mu);
    m.running = false;
  }
  m.cv.notify_all();
}

void Engine::wait() {
  std::unique_lock lock(impl_->mu);
  impl_->cv.wait(lock, [&] { return !impl_->running; });
}

bool Engine::wait_for(std::chrono::milliseconds timeout) {
  std::unique_lock lock(impl_->mu);
  return impl_->cv.wait_for(lock, timeout, [&] { return !impl_->running; });
}

bool Engine::running() const {
  std::lock_guard lock(impl_->mu);
  return impl_->running;
}

void Engine::sync() {
  if (!running() || !impl_->attribution) return;
  // Frames still in the kernel's ring reach a worker within the capture timeout; the next tick
  // after that hands them over.
  const auto& o = impl_->options;
  const std::uint64_t after =
      core::realtime_ns() + static_cast<std::uint64_t>(o.capture_timeout.count() + 20) * 1'000'000ULL;
  const std::uint64_t timeout = static_cast<std::uint64_t>(3 * o.sync_interval.count() + 2000) * 1'000'000ULL;
  impl_->attribution->wait_for_report(after, timeout);
}

std::uint64_t Engine::load_counter() const { return impl_->capture_sum(false); }
std::uint64_t Engine::drops() const { return impl_->capture_sum(true); }

std::vector<ProcessTraffic> Engine::process_rank(std::size_t limit, std::uint64_t recent_seconds) const {
  if (!impl_->attribution) return {};
  return proc::rank(*impl_->attribution->report(), limit, recent_seconds);
}

std::vector<UnknownTraffic> Engine::unknown() const {
  if (!impl_->attribution) return {};
  return impl_->attribution->report()->unknown;
}

}  // namespace flowpulse
