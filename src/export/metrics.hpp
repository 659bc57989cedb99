// The Prometheus endpoint: a prometheus-cpp exposer on the configured address and path, the
// registry every flowpulse metric lives in, the naming rule (namespace and subsystem prefixed to
// every name), and the engine's own health metrics (build info, uptime, config reloads).
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "core/result.hpp"

namespace prometheus {
class Collectable;
class Exposer;
}  // namespace prometheus

namespace flowpulse::exporting {

// "ns_subsystem_base", leaving out empty parts.
std::string metric_name(const config::Metrics& m, std::string_view base);

// A metric family named by metric_name, and one sample of it (a counter or a gauge), for the
// collectables that build their families at scrape time.
prometheus::MetricFamily family(const config::Metrics& s, std::string_view base, std::string help,
                                prometheus::MetricType type);
prometheus::ClientMetric value_metric(prometheus::MetricType type, double v,
                                      std::vector<prometheus::ClientMetric::Label> labels);

// "http://[::]:9469/metrics": where a person or Prometheus finds the endpoint.
std::string endpoint_url(const std::string& address, std::uint16_t port, const std::string& path);

// civetweb's listening_ports form of an address and port: "::" listens on both IPv4 and IPv6.
std::string bind_spec(const std::string& address, std::uint16_t port);

class MetricsServer {
 public:
  // Starts serving `registry()` on m.address:m.port at m.path. Fails with a message when the port
  // cannot be bound.
  static core::Result<std::unique_ptr<MetricsServer>> start(const config::Metrics& m);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  prometheus::Registry& registry() { return *registry_; }
  std::string name(std::string_view base) const { return metric_name(settings_, base); }
  // The port actually bound (differs from the config when it asked for port 0 in tests).
  std::uint16_t port() const;

  void count_config_reload(bool ok);
  // Serves `c` on the endpoint too; the server keeps it alive.
  void add(std::shared_ptr<prometheus::Collectable> c);

 private:
  explicit MetricsServer(const config::Metrics& m);

  config::Metrics settings_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables_;  // the exposer holds only weak_ptrs
  std::unique_ptr<prometheus::Exposer> exposer_;
  prometheus::Counter* reloads_ok_ = nullptr;
  prometheus::Counter* reloads_failed_ = nullptr;
};

}  // namespace flowpulse::exporting
