#include "export/process_metrics.hpp"

#include <string>

#include "export/metrics.hpp"

namespace flowpulse::exporting {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

ProcessMetrics::ProcessMetrics(const config::Metrics& settings, std::size_t max_processes, Source source)
    : settings_(settings), max_processes_(max_processes), source_(std::move(source)) {}

std::vector<MetricFamily> ProcessMetrics::Collect() const {
  const ProcessMetricsView v = source_();
  const config::Metrics& s = settings_;
  MetricFamily bytes = family(
      s, "flow_process_bytes_total",
      "Frame bytes charged to a local process, by direction (in: received, out: sent)", MetricType::Counter);
  MetricFamily packets = family(s, "flow_process_packets_total",
                                "Packets charged to a local process, by direction", MetricType::Counter);
  MetricFamily rate =
      family(s, "flow_process_bytes_per_second",
             "A local process's bytes per second over the last tick, by direction", MetricType::Gauge);
  auto add = [&](const std::string& pid, const std::string& name, std::uint64_t in_b, std::uint64_t out_b,
                 std::uint64_t in_p, std::uint64_t out_p, double in_r, double out_r, bool with_rate) {
    for (int d = 0; d < 2; ++d) {
      const std::vector<ClientMetric::Label> l = {
          {"pid", pid}, {"name", name}, {"direction", d == 0 ? "in" : "out"}};
      bytes.metric.push_back(
          value_metric(MetricType::Counter, static_cast<double>(d == 0 ? in_b : out_b), l));
      packets.metric.push_back(
          value_metric(MetricType::Counter, static_cast<double>(d == 0 ? in_p : out_p), l));
      if (with_rate) rate.metric.push_back(value_metric(MetricType::Gauge, d == 0 ? in_r : out_r, l));
    }
  };
  std::uint64_t other[4] = {0, 0, 0, 0};
  bool has_other = false;
  for (std::size_t i = 0; i < v.processes.size(); ++i) {
    const ProcessTraffic& p = v.processes[i];
    if (i < max_processes_) {
      add(std::to_string(p.pid), p.name, p.in_bytes, p.out_bytes, p.in_packets, p.out_packets, p.in_rate,
          p.out_rate, true);
      continue;
    }
    has_other = true;
    other[0] += p.in_bytes;
    other[1] += p.out_bytes;
    other[2] += p.in_packets;
    other[3] += p.out_packets;
  }
  if (has_other) add("other", "other", other[0], other[1], other[2], other[3], 0, 0, false);

  MetricFamily unknown_bytes =
      family(s, "flow_process_unknown_bytes_total",
             "Frame bytes no local process could be charged with, by IP protocol", MetricType::Counter);
  MetricFamily unknown_packets =
      family(s, "flow_process_unknown_packets_total",
             "Packets no local process could be charged with, by IP protocol", MetricType::Counter);
  for (const UnknownTraffic& u : v.unknown) {
    const std::vector<ClientMetric::Label> l = {{"protocol", std::to_string(u.protocol)}};
    unknown_bytes.metric.push_back(value_metric(MetricType::Counter, static_cast<double>(u.bytes), l));
    unknown_packets.metric.push_back(value_metric(MetricType::Counter, static_cast<double>(u.packets), l));
  }

  MetricFamily sockets =
      family(s, "flow_process_sockets", "TCP and UDP sockets in the last refresh, all network namespaces",
             MetricType::Gauge);
  sockets.metric.push_back(value_metric(MetricType::Gauge, static_cast<double>(v.sockets), {}));
  MetricFamily namespaces =
      family(s, "flow_process_namespaces", "Network namespaces whose sockets are read", MetricType::Gauge);
  namespaces.metric.push_back(value_metric(MetricType::Gauge, static_cast<double>(v.namespaces), {}));
  MetricFamily refresh = family(s, "flow_process_refresh_duration_seconds",
                                "How long the last socket and process refresh took", MetricType::Gauge);
  refresh.metric.push_back(value_metric(MetricType::Gauge, v.refresh_seconds, {}));
  MetricFamily errors = family(s, "flow_process_refresh_errors_total",
                               "Socket and process refreshes that failed", MetricType::Counter);
  errors.metric.push_back(value_metric(MetricType::Counter, static_cast<double>(v.refresh_errors), {}));
  MetricFamily notices =
      family(s, "flow_process_new_flows_total",
             "New TCP/UDP flows announced by the capture workers, by what became of the notice "
             "(looked_up, dropped: ring full, skipped: over the lookup budget)",
             MetricType::Counter);
  const std::uint64_t looked_up = v.new_flows - v.new_flows_skipped;
  notices.metric.push_back(
      value_metric(MetricType::Counter, static_cast<double>(looked_up), {{"outcome", "looked_up"}}));
  notices.metric.push_back(
      value_metric(MetricType::Counter, static_cast<double>(v.new_flows_dropped), {{"outcome", "dropped"}}));
  notices.metric.push_back(
      value_metric(MetricType::Counter, static_cast<double>(v.new_flows_skipped), {{"outcome", "skipped"}}));
  MetricFamily queries =
      family(s, "flow_process_socket_queries_total",
             "Single-socket kernel lookups for flows the socket table did not know", MetricType::Counter);
  queries.metric.push_back(value_metric(MetricType::Counter, static_cast<double>(v.flow_queries), {}));

  return {std::move(bytes),           std::move(packets), std::move(rate),       std::move(unknown_bytes),
          std::move(unknown_packets), std::move(sockets), std::move(namespaces), std::move(refresh),
          std::move(errors),          std::move(notices), std::move(queries)};
}

}  // namespace flowpulse::exporting
