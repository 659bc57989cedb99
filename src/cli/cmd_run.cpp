// `flowpulse run`: load the config, serve /metrics, open the listeners, and run until SIGINT or
// SIGTERM (clean stop, exit 0). SIGHUP reloads the config file: what can change live (logging)
// changes, the rest is reported as needing a restart.
#include <pthread.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

#include "cli/commands.hpp"
#include "config/config.hpp"
#include "core/log.hpp"
#include "engine/collector.hpp"
#include "engine/worker.hpp"
#include "enrich/enricher.hpp"
#include "export/flow_metrics.hpp"
#include "export/metrics.hpp"
#include "export/process_metrics.hpp"
#include "proc/attribution.hpp"
#include "sdk/capture.hpp"

namespace flowpulse::cli {
namespace {

constexpr const char* default_config = "/etc/flowpulse/flowpulse.yaml";

log::Options log_options(const config::Logging& l) {
  return {l.level, l.format, l.rate_limit_interval_ns, l.rate_limit_burst};
}

void reload(const std::string& path, config::Config& current, exporting::MetricsServer& metrics) {
  auto next = config::load_file(path);
  metrics.count_config_reload(next.ok());
  if (!next) {
    log::error("config reload failed; keeping the running configuration", {{"error", next.error()}});
    return;
  }
  const config::Logging logging = next->logging;
  log::configure(log_options(logging));
  next->logging = current.logging;  // what else changed needs a restart
  const bool only_logging = config::to_yaml(*next) == config::to_yaml(current);
  current.logging = logging;
  log::info("config reloaded", {{"file", path}});
  if (!only_logging)
    log::warn("config changes other than logging take effect after a restart", {{"file", path}});
}

}  // namespace

int cmd_run(Args args) {
  if (wants_help(args)) {
    std::printf(
        "usage: flowpulse run [--config FILE]\n\n"
        "Runs the collector: UDP listeners for NetFlow/IPFIX/sFlow, capture sources, and the Prometheus\n"
        "endpoint, as the config file says. Stops cleanly on SIGINT or SIGTERM; SIGHUP reloads the file.\n\n"
        "  -c, --config FILE   configuration file (default %s; documented in config/flowpulse.yaml)\n",
        default_config);
    return 0;
  }
  std::string path = default_config;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if ((std::strcmp(args[i], "-c") == 0 || std::strcmp(args[i], "--config") == 0) && i + 1 < args.size()) {
      path = args[++i];
    } else {
      std::fprintf(stderr, "flowpulse run: unexpected argument '%s'; see 'flowpulse run --help'\n", args[i]);
      return 2;
    }
  }
  auto loaded = config::load_file(path);
  if (!loaded) {
    std::fprintf(stderr, "flowpulse: %s\n", loaded.error().c_str());
    return 2;
  }
  config::Config cfg = std::move(loaded).value();
  log::configure(log_options(cfg.logging));

  // Block the signals before any thread starts, so only sigtimedwait below sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // Every thread started from here on (metrics server, DPDK's, stats core) inherits this one's
  // CPUs: with pinned workers, those are the CPUs the workers do not take.
  const std::string others =
      engine::Worker::keep_off_worker_cpus(pthread_self(), cfg.performance.worker_cpus);
  if (!others.empty()) log::info("threads besides the workers keep to their own CPUs", {{"cpus", others}});
  auto metrics = exporting::MetricsServer::start(cfg.metrics);
  if (!metrics) {
    log::error("cannot start", {{"error", metrics.error()}});
    return 1;
  }
  // GeoIP / ASN databases: a missing or broken file is an error at start (later, on reload, the
  // old database stays in use instead).
  auto opened = enrich::Enricher::open_if_configured(cfg.enrichment);
  if (!opened) {
    log::error("cannot start", {{"error", opened.error()}});
    return 1;
  }
  std::unique_ptr<enrich::Enricher> enricher = std::move(opened).value();
  const unsigned workers = cfg.performance.workers != 0 ? cfg.performance.workers
                                                        : std::max(1U, std::thread::hardware_concurrency());
  // Process attribution: started before the capture workers, which announce new flows to it.
  std::unique_ptr<proc::Attribution> attribution;
  if (cfg.attribution.enabled) {
    proc::AttributionOptions ao;
    ao.sync_interval_ns = cfg.performance.tick_ns;
    ao.history_seconds = cfg.attribution.history_seconds;
    auto started = proc::Attribution::start(ao);
    if (!started) {
      log::error("cannot start", {{"error", started.error()}});
      return 1;
    }
    attribution = std::move(started).value();
  }
  auto captures = sdk::open_capture(cfg, workers);
  if (!captures) {
    log::error("cannot start", {{"error", captures.error()}});
    return 1;
  }
  for (const auto& in : *captures) log::info("capturing", {{"source", in.source->name()}});
  auto collector =
      engine::Collector::start(cfg, enricher.get(), std::move(captures).value(), attribution.get());
  if (!collector) {
    log::error("cannot start", {{"error", collector.error()}});
    return 1;
  }
  const auto ports = (*collector)->bound_ports();
  for (std::size_t i = 0; i < cfg.listeners.size(); ++i) {
    log::info("listening", {{"protocol", decode::to_string(cfg.listeners[i].protocol)},
                            {"address", cfg.listeners[i].address},
                            {"port", ports[i]},
                            {"workers", (*collector)->workers()}});
  }
  (*metrics)->add(std::make_shared<exporting::FlowMetrics>(cfg.metrics, **collector));
  if (attribution) {
    (*metrics)->add(std::make_shared<exporting::ProcessMetrics>(cfg.metrics, cfg.attribution.max_processes,
                                                                [a = attribution.get()] {
                                                                  const auto r = a->report();
                                                                  exporting::ProcessMetricsView v;
                                                                  v.processes = proc::rank(*r, 0, 0);
                                                                  v.unknown = r->unknown;
                                                                  v.sockets = r->sockets;
                                                                  v.namespaces = r->namespaces;
                                                                  v.refresh_seconds = r->last_refresh_seconds;
                                                                  v.refresh_errors = r->refresh_errors;
                                                                  v.new_flows = r->new_flows;
                                                                  v.new_flows_dropped = r->new_flows_dropped;
                                                                  v.new_flows_skipped = r->new_flows_skipped;
                                                                  v.flow_queries = r->flow_queries;
                                                                  return v;
                                                                }));
  }
  log::info(
      "flowpulse started",
      {{"config", path},
       {"metrics", exporting::endpoint_url(cfg.metrics.address, (*metrics)->port(), cfg.metrics.path)}});

  const timespec tick{static_cast<time_t>(cfg.performance.tick_ns / 1'000'000'000ULL),
                      static_cast<long>(cfg.performance.tick_ns % 1'000'000'000ULL)};
  for (;;) {
    const int sig = sigtimedwait(&signals, nullptr, &tick);
    if (sig == SIGINT || sig == SIGTERM) {
      log::info("stopping", {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"}});
      break;
    }
    if (sig == SIGHUP) {
      reload(path, cfg, **metrics);
      if (enricher) enricher->request_reload();  // the databases are reopened on the next tick
    }
  }
  (*collector)->stop();  // listeners closed, the last counts merged
  if (attribution) attribution->stop();
  metrics->reset();  // endpoint closed
  log::info("flowpulse stopped");
  return 0;
}

}  // namespace flowpulse::cli
