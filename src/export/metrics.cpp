#include "export/metrics.hpp"

#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>

#include <stdexcept>

#include "core/clock.hpp"
#include "flowpulse_build_config.hpp"

// civetweb's feature probe (civetweb.h is not installed with prometheus-cpp's headers); 8 = IPv6.
extern "C" unsigned mg_check_feature(unsigned feature);

namespace flowpulse::exporting {
namespace {

// Uptime computed when scraped, so it is exact without a timer thread.
class UptimeCollector : public prometheus::Collectable {
 public:
  explicit UptimeCollector(std::string name) : name_(std::move(name)), start_ns_(core::monotonic_ns()) {}
  std::vector<prometheus::MetricFamily> Collect() const override {
    prometheus::MetricFamily f;
    f.name = name_;
    f.help = "Seconds since flowpulse started";
    f.type = prometheus::MetricType::Gauge;
    prometheus::ClientMetric m;
    m.gauge.value = static_cast<double>(core::monotonic_ns() - start_ns_) / 1e9;
    f.metric.push_back(std::move(m));
    return {std::move(f)};
  }

 private:
  std::string name_;
  std::uint64_t start_ns_;
};

}  // namespace

prometheus::MetricFamily family(const config::Metrics& s, std::string_view base, std::string help,
                                prometheus::MetricType type) {
  prometheus::MetricFamily f;
  f.name = metric_name(s, base);
  f.help = std::move(help);
  f.type = type;
  return f;
}

prometheus::ClientMetric value_metric(prometheus::MetricType type, double v,
                                      std::vector<prometheus::ClientMetric::Label> labels) {
  prometheus::ClientMetric m;
  m.label = std::move(labels);
  if (type == prometheus::MetricType::Counter) {
    m.counter.value = v;
  } else {
    m.gauge.value = v;
  }
  return m;
}

std::string metric_name(const config::Metrics& m, std::string_view base) {
  std::string out;
  for (std::string_view part : {std::string_view(m.name_space), std::string_view(m.subsystem), base}) {
    if (part.empty()) continue;
    if (!out.empty()) out.push_back('_');
    out += part;
  }
  return out;
}

std::string endpoint_url(const std::string& address, std::uint16_t port, const std::string& path) {
  const bool v6 = address.find(':') != std::string::npos;
  return "http://" + (v6 ? "[" + address + "]" : address) + ":" + std::to_string(port) + path;
}

std::string bind_spec(const std::string& address, std::uint16_t port) {
  const std::string p = std::to_string(port);
  if (address == "::") return "+" + p;  // civetweb: '+' = IPv4 and IPv6
  if (address.find(':') != std::string::npos) return "[" + address + "]:" + p;
  return address + ":" + p;
}

MetricsServer::MetricsServer(const config::Metrics& m)
    : settings_(m), registry_(std::make_shared<prometheus::Registry>()) {}

MetricsServer::~MetricsServer() = default;

core::Result<std::unique_ptr<MetricsServer>> MetricsServer::start(const config::Metrics& m) {
  std::unique_ptr<MetricsServer> s(new MetricsServer(m));
  auto& build = prometheus::BuildGauge()
                    .Name(s->name("flowpulse_build_info"))
                    .Help("flowpulse version and the optional parts built in; always 1")
                    .Register(*s->registry_);
  build
      .Add({{"version", FLOWPULSE_VERSION},
            {"dpdk", FLOWPULSE_HAVE_DPDK ? "yes" : "no"},
            {"afxdp", FLOWPULSE_HAVE_AFXDP ? "yes" : "no"}})
      .Set(1);
  auto& reloads = prometheus::BuildCounter()
                      .Name(s->name("flowpulse_config_reloads_total"))
                      .Help("Configuration reloads (SIGHUP), by outcome")
                      .Register(*s->registry_);
  s->reloads_ok_ = &reloads.Add({{"outcome", "success"}});
  s->reloads_failed_ = &reloads.Add({{"outcome", "failure"}});
  auto& start_time = prometheus::BuildGauge()
                         .Name(s->name("flowpulse_start_time_seconds"))
                         .Help("Unix time when flowpulse started")
                         .Register(*s->registry_);
  start_time.Add({}).Set(static_cast<double>(core::realtime_ns()) / 1e9);
  if (m.address.find(':') != std::string::npos && mg_check_feature(8) == 0) {
    return core::Error{"cannot serve metrics on " + m.address +
                       ": the HTTP server library (civetweb) was built " +
                       "without IPv6; set metrics.address to an IPv4 address such as 0.0.0.0"};
  }
  try {
    s->exposer_ = std::make_unique<prometheus::Exposer>(bind_spec(m.address, m.port), 2);
  } catch (const std::exception& e) {
    return core::Error{"cannot serve metrics on " + bind_spec(m.address, m.port) + ": " + e.what() +
                       " (is the port in use? set metrics.port)"};
  }
  s->exposer_->RegisterCollectable(s->registry_, m.path);
  s->add(std::make_shared<UptimeCollector>(s->name("flowpulse_uptime_seconds")));
  return s;
}

std::uint16_t MetricsServer::port() const {
  auto ports = exposer_->GetListeningPorts();
  return ports.empty() ? 0 : static_cast<std::uint16_t>(ports.front());
}

void MetricsServer::add(std::shared_ptr<prometheus::Collectable> c) {
  exposer_->RegisterCollectable(c, settings_.path);
  collectables_.push_back(std::move(c));
}

void MetricsServer::count_config_reload(bool ok) { (ok ? reloads_ok_ : reloads_failed_)->Increment(); }

}  // namespace flowpulse::exporting
