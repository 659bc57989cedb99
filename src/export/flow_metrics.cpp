#include "export/flow_metrics.hpp"

#include <cmath>

#include "core/ip_address.hpp"
#include "export/metrics.hpp"

namespace flowpulse::exporting {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// The labels of one flow series: its dimension set, then the set's labels in configured order.
std::vector<ClientMetric::Label> series_labels(const engine::FlowKey& k,
                                               const std::vector<engine::Dimensions>& dims,
                                               const engine::EnrichmentNames* names) {
  std::vector<ClientMetric::Label> out;
  const engine::Dimensions& d = dims[k.set];
  out.push_back({"dimension_set", d.name});
  for (engine::Label l : d.labels) out.push_back({engine::to_string(l), engine::label_value(k, l, names)});
  return out;
}

// Capture sources and their meters, by source: every frame a source handed over is metered, a flow
// export, a UDP fragment for reassembly, not IP, or truncated; every fragment handed to reassembly
// is reassembled, dropped by a reason, or still waiting.
void collect_captures(const engine::Snapshot& snap, const config::Metrics& s,
                      std::vector<MetricFamily>& out) {
  MetricFamily frames = family(s, "flow_capture_frames_total", "Frames a capture source handed to its worker",
                               MetricType::Counter);
  MetricFamily bytes =
      family(s, "flow_capture_bytes_total", "Wire bytes of those frames", MetricType::Counter);
  MetricFamily drops = family(s, "flow_capture_drops_total",
                              "Frames lost before flowpulse saw them (ring full, NIC imissed, pcap ps_drop)",
                              MetricType::Counter);
  MetricFamily errors = family(s, "flow_capture_errors_total",
                               "Source errors (NIC ierrors/rx_nombuf, invalid descriptors, failed receives)",
                               MetricType::Counter);
  MetricFamily handled =
      family(s, "flow_capture_handled_frames_total",
             "Captured frames by what became of them: metered into flows, decoded as a flow "
             "export, handed to IP reassembly (UDP fragments), not IP, truncated",
             MetricType::Counter);
  MetricFamily fragments = family(s, "flow_capture_fragments_total", "IP fragments among the captured frames",
                                  MetricType::Counter);
  MetricFamily reasm = family(s, "flow_capture_reassembly_fragments_total",
                              "UDP fragments handed to IP reassembly, by outcome: reassembled, or dropped by "
                              "reason (timeout, overlap, invalid, too_big, table_full, truncated)",
                              MetricType::Counter);
  MetricFamily reasm_pending = family(s, "flow_capture_reassembly_pending_fragments",
                                      "Fragments held for datagrams not complete yet", MetricType::Gauge);
  MetricFamily reassembled =
      family(s, "flow_capture_reassembled_datagrams_total",
             "Datagrams reassembled from fragments, by what they were: flow_export (decoded), metered (other "
             "UDP), bad_udp (a wrong UDP header)",
             MetricType::Counter);
  MetricFamily cache_full =
      family(s, "flow_meter_cache_full_total",
             "Packets of new flows that found the meter's flow cache full (each counted as a "
             "flow of its own; still in the totals)",
             MetricType::Counter);
  for (const engine::CaptureInfo& c : snap.captures) {
    const std::vector<ClientMetric::Label> l = {{"source", c.source}};
    const auto& src = c.counters.source;
    const auto& m = c.counters.meter;
    frames.metric.push_back(value_metric(MetricType::Counter, static_cast<double>(src.frames), l));
    bytes.metric.push_back(value_metric(MetricType::Counter, static_cast<double>(src.bytes), l));
    drops.metric.push_back(value_metric(MetricType::Counter, static_cast<double>(src.kernel_drops), l));
    errors.metric.push_back(
        value_metric(MetricType::Counter, static_cast<double>(src.errors + c.counters.receive_errors), l));
    const std::pair<const char*, std::uint64_t> outcomes[] = {{"metered", m.metered},
                                                              {"flow_export", m.export_datagrams},
                                                              {"reassembly", m.reassembly},
                                                              {"not_ip", m.not_ip},
                                                              {"truncated", m.truncated}};
    for (const auto& [what, n] : outcomes) {
      handled.metric.push_back(value_metric(MetricType::Counter, static_cast<double>(n),
                                            {{"source", c.source}, {"outcome", what}}));
    }
    fragments.metric.push_back(value_metric(MetricType::Counter, static_cast<double>(m.fragments), l));
    const auto& r = c.counters.reassembly;
    const std::pair<const char*, std::uint64_t> reasm_outcomes[] = {{"reassembled", r.fragments_reassembled},
                                                                    {"timeout", r.timeout},
                                                                    {"overlap", r.overlap},
                                                                    {"invalid", r.invalid},
                                                                    {"too_big", r.too_big},
                                                                    {"table_full", r.table_full},
                                                                    {"truncated", r.truncated}};
    for (const auto& [what, n] : reasm_outcomes) {
      reasm.metric.push_back(value_metric(MetricType::Counter, static_cast<double>(n),
                                          {{"source", c.source}, {"outcome", what}}));
    }
    reasm_pending.metric.push_back(
        value_metric(MetricType::Gauge, static_cast<double>(r.in_progress_fragments), l));
    const std::pair<const char*, std::uint64_t> kinds[] = {{"flow_export", m.reassembled_exports},
                                                           {"metered", m.reassembled_metered},
                                                           {"bad_udp", m.reassembled_bad_udp}};
    for (const auto& [what, n] : kinds) {
      reassembled.metric.push_back(
          value_metric(MetricType::Counter, static_cast<double>(n), {{"source", c.source}, {"kind", what}}));
    }
    cache_full.metric.push_back(value_metric(MetricType::Counter, static_cast<double>(m.cache_full), l));
  }
  for (MetricFamily* f : {&frames, &bytes, &drops, &errors, &handled, &fragments, &reasm, &reasm_pending,
                          &reassembled, &cache_full}) {
    out.push_back(std::move(*f));
  }
}

}  // namespace

FlowMetrics::FlowMetrics(const config::Metrics& settings, const engine::Collector& collector)
    : FlowMetrics(settings, collector.dimensions(), collector.listeners(),
                  [&collector] { return collector.snapshot(); }) {}

FlowMetrics::FlowMetrics(const config::Metrics& settings, std::vector<engine::Dimensions> dimensions,
                         std::vector<config::Listener> listeners, SnapshotSource snapshots)
    : settings_(settings),
      dimensions_(std::move(dimensions)),
      listeners_(std::move(listeners)),
      snapshots_(std::move(snapshots)) {
  for (const auto& l : listeners_) listener_names_.push_back(endpoint_url(l.address, l.port, "").substr(7));
  for (auto w : settings.windows_ns) window_names_.push_back(config::format_duration(w));
}

std::vector<MetricFamily> FlowMetrics::Collect() const {
  const auto snap = snapshots_();
  const auto& dims = dimensions_;
  const auto& s = settings_;
  std::vector<MetricFamily> out;

  // Flow counters by label set.
  MetricFamily flows =
      family(s, "flow_flows_total", "Flow records received, by label set", MetricType::Counter);
  MetricFamily bytes =
      family(s, "flow_bytes_total", "Bytes the flows carried (scaled by sampling rate)", MetricType::Counter);
  MetricFamily packets = family(s, "flow_packets_total",
                                "Packets the flows carried (scaled by sampling rate)", MetricType::Counter);
  for (const auto& series : snap->totals) {
    auto labels = series_labels(series.key, dims, snap->names.get());
    flows.metric.push_back(
        value_metric(MetricType::Counter, static_cast<double>(series.counters.flows), labels));
    bytes.metric.push_back(
        value_metric(MetricType::Counter, static_cast<double>(series.counters.bytes), labels));
    packets.metric.push_back(
        value_metric(MetricType::Counter, static_cast<double>(series.counters.packets), std::move(labels)));
  }

  // Bandwidth per window and label set; window totals.
  MetricFamily bw = family(s, "flow_bandwidth_bytes_per_second",
                           "Mean bytes per second over the window, by label set", MetricType::Gauge);
  MetricFamily bwp = family(s, "flow_bandwidth_packets_per_second",
                            "Mean packets per second over the window, by label set", MetricType::Gauge);
  MetricFamily bps = family(s, "flow_bandwidth_bps", "Mean bits per second over the window, by label set",
                            MetricType::Gauge);
  MetricFamily wb = family(s, "flow_window_bytes", "Bytes in the window", MetricType::Gauge);
  MetricFamily wp = family(s, "flow_window_packets", "Packets in the window", MetricType::Gauge);
  MetricFamily wf = family(s, "flow_window_flows", "Flow records in the window", MetricType::Gauge);
  for (std::size_t i = 0; i < snap->windows.size() && i < window_names_.size(); ++i) {
    const auto& w = snap->windows[i];
    const std::string& name = window_names_[i];
    const double secs = static_cast<double>(w.top_covered_ns) / 1e9;
    for (const auto& series : w.top) {
      auto labels = series_labels(series.key, dims, snap->names.get());
      labels.insert(labels.begin(), {"window", name});
      const double rate = static_cast<double>(series.counters.bytes) / secs;
      bw.metric.push_back(value_metric(MetricType::Gauge, rate, labels));
      if (s.bandwidth_bps) bps.metric.push_back(value_metric(MetricType::Gauge, rate * 8, labels));
      bwp.metric.push_back(value_metric(
          MetricType::Gauge, static_cast<double>(series.counters.packets) / secs, std::move(labels)));
    }
    wb.metric.push_back(
        value_metric(MetricType::Gauge, static_cast<double>(w.total.bytes), {{"window", name}}));
    wp.metric.push_back(
        value_metric(MetricType::Gauge, static_cast<double>(w.total.packets), {{"window", name}}));
    wf.metric.push_back(
        value_metric(MetricType::Gauge, static_cast<double>(w.total.flows), {{"window", name}}));
  }

  // Health.
  MetricFamily received =
      family(s, "flow_received_packets_total", "Datagrams received, by listener", MetricType::Counter);
  MetricFamily received_bytes = family(s, "flow_received_bytes_total",
                                       "Datagram payload bytes received, by listener", MetricType::Counter);
  MetricFamily parsed_packets =
      family(s, "flow_parsed_packets_total", "Datagrams decoded without error (received = parsed + dropped)",
             MetricType::Counter);
  MetricFamily dropped_packets =
      family(s, "flow_dropped_packets_total",
             "Datagrams with a decoding error, by the reason of the first one", MetricType::Counter);
  MetricFamily parsed =
      family(s, "flow_parsed_records_total", "Flow records decoded, by listener", MetricType::Counter);
  MetricFamily kernel = family(s, "flow_kernel_drops_total",
                               "Datagrams the kernel dropped before flowpulse read them (socket buffer full)",
                               MetricType::Counter);
  MetricFamily recv_errors =
      family(s, "flow_receive_errors_total", "Socket receive errors, by listener", MetricType::Counter);
  for (std::size_t l = 0; l < snap->listeners.size() && l < listener_names_.size(); ++l) {
    const auto& lc = snap->listeners[l];
    const std::vector<ClientMetric::Label> labels = {{"listener", listener_names_[l]},
                                                     {"protocol", decode::to_string(listeners_[l].protocol)}};
    received.metric.push_back(value_metric(MetricType::Counter, static_cast<double>(lc.received), labels));
    received_bytes.metric.push_back(
        value_metric(MetricType::Counter, static_cast<double>(lc.received_bytes), labels));
    parsed_packets.metric.push_back(
        value_metric(MetricType::Counter, static_cast<double>(lc.parsed), labels));
    parsed.metric.push_back(value_metric(MetricType::Counter, static_cast<double>(lc.records), labels));
    recv_errors.metric.push_back(
        value_metric(MetricType::Counter, static_cast<double>(lc.receive_errors), labels));
    kernel.metric.push_back(
        value_metric(MetricType::Counter,
                     l < snap->kernel_drops.size() ? static_cast<double>(snap->kernel_drops[l]) : 0, labels));
    for (std::size_t r = 0; r < decode::drop_reason_count; ++r) {
      if (lc.dropped[r] == 0) continue;
      auto with_reason = labels;
      with_reason.push_back({"reason", decode::to_string(static_cast<decode::DropReason>(r))});
      dropped_packets.metric.push_back(
          value_metric(MetricType::Counter, static_cast<double>(lc.dropped[r]), std::move(with_reason)));
    }
  }
  // By exporter and reason, the non-zero ones; what no single exporter owns (exporters past the
  // decoder's table, expiries) is "other", so the sum over exporters is the total.
  MetricFamily dropped =
      family(s, "flow_dropped_records_total", "Records, sets or samples not decoded, by exporter and reason",
             MetricType::Counter);
  decode::DecodeStats unattributed = snap->decode;
  auto add_drops = [&](const std::string& exporter, const decode::DecodeStats& d) {
    for (std::size_t r = 0; r < decode::drop_reason_count; ++r) {
      if (d.errors[r] == 0) continue;
      dropped.metric.push_back(value_metric(
          MetricType::Counter, static_cast<double>(d.errors[r]),
          {{"exporter", exporter}, {"reason", decode::to_string(static_cast<decode::DropReason>(r))}}));
    }
  };
  MetricFamily templates =
      family(s, "flow_templates", "NetFlow v9/IPFIX templates cached, by exporter", MetricType::Gauge);
  for (const auto& e : snap->exporters) {
    const std::string exporter = core::to_string(e.exporter);
    add_drops(exporter, e.decode);
    for (std::size_t r = 0; r < decode::drop_reason_count; ++r) unattributed.errors[r] -= e.decode.errors[r];
    if (e.templates != 0) {
      templates.metric.push_back(
          value_metric(MetricType::Gauge, static_cast<double>(e.templates), {{"exporter", exporter}}));
    }
  }
  add_drops("other", unattributed);
  MetricFamily queue =
      family(s, "flow_worker_queue_length", "Bytes waiting in the worker's sockets", MetricType::Gauge);
  MetricFamily entries =
      family(s, "flow_table_entries", "Entries in the worker's last flow-table shard", MetricType::Gauge);
  for (const auto& w : snap->workers) {
    const std::vector<ClientMetric::Label> labels = {{"worker", std::to_string(w.id)}};
    queue.metric.push_back(value_metric(MetricType::Gauge, static_cast<double>(w.queue_bytes), labels));
    entries.metric.push_back(value_metric(MetricType::Gauge, static_cast<double>(w.table_entries), labels));
  }
  MetricFamily overflow =
      family(s, "flow_table_overflow_total",
             "Records added to a set's overflow entry because the shard was full (still in the totals)",
             MetricType::Counter);
  overflow.metric.push_back(value_metric(MetricType::Counter, static_cast<double>(snap->table_overflow), {}));

  MetricFamily duration = family(s, "flow_processing_duration_seconds",
                                 "Time to decode and aggregate one received batch", MetricType::Histogram);
  ClientMetric h;
  std::uint64_t cumulative = 0;
  for (std::size_t b = 0; b < engine::duration_buckets; ++b) {
    cumulative += snap->duration_counts[b];
    const double bound = b < std::size(engine::duration_bounds) ? engine::duration_bounds[b] : INFINITY;
    h.histogram.bucket.push_back({cumulative, bound});
  }
  h.histogram.sample_count = cumulative;
  h.histogram.sample_sum = snap->duration_sum;
  duration.metric.push_back(std::move(h));

  for (MetricFamily* f : {&flows,
                          &bytes,
                          &packets,
                          &bw,
                          &bwp,
                          &wb,
                          &wp,
                          &wf,
                          &received,
                          &received_bytes,
                          &parsed_packets,
                          &dropped_packets,
                          &parsed,
                          &kernel,
                          &recv_errors,
                          &dropped,
                          &queue,
                          &templates,
                          &entries,
                          &overflow,
                          &duration}) {
    out.push_back(std::move(*f));
  }
  if (s.bandwidth_bps) out.push_back(std::move(bps));
  if (!snap->captures.empty()) collect_captures(*snap, s, out);
  if (snap->enrichment) {
    const engine::EnrichmentStats& e = *snap->enrichment;
    MetricFamily lookups = family(s, "flow_enrich_lookups_total",
                                  "GeoIP/ASN lookups of merged flow keys, by result", MetricType::Counter);
    lookups.metric.push_back(
        value_metric(MetricType::Counter, static_cast<double>(e.hits), {{"result", "hit"}}));
    lookups.metric.push_back(
        value_metric(MetricType::Counter, static_cast<double>(e.misses), {{"result", "miss"}}));
    lookups.metric.push_back(
        value_metric(MetricType::Counter, static_cast<double>(e.not_found), {{"result", "not_found"}}));
    MetricFamily info =
        family(s, "flow_enrich_database_info",
               "The databases in use: kind, path, type and build time; always 1", MetricType::Gauge);
    for (const auto& db : e.databases) {
      info.metric.push_back(value_metric(MetricType::Gauge, 1,
                                         {{"kind", db.kind},
                                          {"path", db.path},
                                          {"type", db.type},
                                          {"build_epoch", std::to_string(db.build_epoch)}}));
    }
    MetricFamily reloads =
        family(s, "flow_enrich_reloads_total", "Database reloads (file replaced or SIGHUP), by outcome",
               MetricType::Counter);
    reloads.metric.push_back(
        value_metric(MetricType::Counter, static_cast<double>(e.reloads_ok), {{"outcome", "success"}}));
    reloads.metric.push_back(
        value_metric(MetricType::Counter, static_cast<double>(e.reloads_failed), {{"outcome", "failure"}}));
    out.push_back(std::move(lookups));
    out.push_back(std::move(info));
    out.push_back(std::move(reloads));
  }
  return out;
}

}  // namespace flowpulse::exporting
