// `flowpulse replay FILE`: the whole pipeline over a capture — meter the frames, decode the flow
// exports in them, aggregate, and print the final flow metrics (or the aggregated flows as JSON).
// Deterministic: times come from the capture (ticks and windows in capture time), frames are
// sharded by a symmetric 5-tuple hash (exports by exporter), and the stats core orders series
// totally, so the same file prints the same bytes on every run and for any number of workers.
#include <prometheus/text_serializer.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cli/commands.hpp"
#include "config/config.hpp"
#include "core/clock.hpp"
#include "core/json.hpp"
#include "core/log.hpp"
#include "decode/flow_decoder.hpp"
#include "engine/collector.hpp"
#include "engine/flow_table.hpp"
#include "engine/meter.hpp"
#include "engine/stats_core.hpp"
#include "enrich/enricher.hpp"
#include "export/flow_metrics.hpp"
#include "export/metrics.hpp"
#include "io/pcap_file.hpp"

namespace flowpulse::cli {
namespace {

// One worker's share of the capture: its decoder (templates), meter (flow cache) and shard.
struct Shard final : decode::RecordSink {
  Shard(const config::Config& cfg, const std::vector<engine::Dimensions>& dims,
        const engine::MeterSettings& ms)
      : decoder(cfg.decode),
        meter(ms, decoder),
        aggregator(dims),
        table(cfg.performance.table_capacity, dims.size()) {}
  void on_records(std::span<const FlowRecord> records) override { aggregator.add(table, records); }

  decode::FlowDecoder decoder;
  engine::Meter meter;
  engine::ShardAggregator aggregator;
  engine::FlowTable table;
};

// The same for both directions of a flow, so a worker sees whole conversations.
std::uint64_t symmetric_hash(const decode::PacketInfo& info) {
  const bool fwd = std::memcmp(info.src_addr.bytes.data(), info.dst_addr.bytes.data(), 16) < 0 ||
                   (info.src_addr == info.dst_addr && info.src_port <= info.dst_port);
  const IpAddress& a = fwd ? info.src_addr : info.dst_addr;
  const IpAddress& b = fwd ? info.dst_addr : info.src_addr;
  std::uint64_t h = 1469598103934665603ULL;
  auto mix = [&h](const std::uint8_t* p, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ULL;
  };
  mix(a.bytes.data(), 16);
  mix(b.bytes.data(), 16);
  const std::uint16_t pa = fwd ? info.src_port : info.dst_port;
  const std::uint16_t pb = fwd ? info.dst_port : info.src_port;
  mix(reinterpret_cast<const std::uint8_t*>(&pa), 2);
  mix(reinterpret_cast<const std::uint8_t*>(&pb), 2);
  mix(&info.proto, 1);
  return h;
}

std::uint64_t address_hash(const IpAddress& a) {
  std::uint64_t h = 1469598103934665603ULL;
  for (std::uint8_t b : a.bytes) h = (h ^ b) * 1099511628211ULL;
  return h;
}

// A progress line on stderr (a terminal only), at most 4 times a second: how far into the file,
// frames so far and their rate.
class Progress {
 public:
  explicit Progress(const io::PcapFile& file) : file_(file), start_(core::monotonic_ns()) {}
  void update() {
    if ((++frames_ & 0x3ff) != 0) return;  // the clock is read once per 1024 frames
    const std::uint64_t now = core::monotonic_ns();
    if (now - last_ < 250'000'000) return;
    last_ = now;
    print(now);
  }
  void finish() {
    print(core::monotonic_ns());
    std::fputc('\n', stderr);
  }

 private:
  void print(std::uint64_t now) const {
    const double secs = static_cast<double>(now - start_) / 1e9;
    const double pct = file_.size() != 0
                           ? 100.0 * static_cast<double>(file_.position()) / static_cast<double>(file_.size())
                           : 0;
    std::fprintf(stderr, "\rreplay: %5.1f%%  %llu frames  %.0f frames/s   ", std::min(pct, 100.0),
                 static_cast<unsigned long long>(file_.frames()),
                 secs > 0 ? static_cast<double>(file_.frames()) / secs : 0.0);
  }
  const io::PcapFile& file_;
  std::uint64_t start_;
  std::uint64_t last_ = 0;
  std::uint64_t frames_ = 0;
};

// --speed: holds each frame back until its capture offset from the first frame, divided by the
// speed, has passed on the clock. Speed 0 never waits.
class Pacer {
 public:
  explicit Pacer(double speed) : speed_(speed) {}
  void wait_for(std::uint64_t time_ns) {
    if (speed_ <= 0) return;
    if (start_ == 0) {
      start_ = core::monotonic_ns();
      first_ = time_ns;
    }
    const double offset = time_ns > first_ ? static_cast<double>(time_ns - first_) / speed_ : 0;
    const std::uint64_t due = start_ + static_cast<std::uint64_t>(offset);
    const std::uint64_t now = core::monotonic_ns();
    if (due > now) std::this_thread::sleep_for(std::chrono::nanoseconds(due - now));
  }

 private:
  double speed_;
  std::uint64_t start_ = 0;
  std::uint64_t first_ = 0;
};

void print_json(const engine::Snapshot& snap, const std::vector<engine::Dimensions>& dims) {
  std::string line;
  for (const auto& s : snap.totals) {
    const engine::Dimensions& d = dims[s.key.set];
    line.clear();
    line += "{\"dimension_set\":";
    core::append_json_string(line, d.name);
    for (engine::Label l : d.labels) {
      line.push_back(',');
      core::append_json_string(line, engine::to_string(l));
      line.push_back(':');
      core::append_json_string(line, engine::label_value(s.key, l, snap.names.get()));
    }
    line += ",\"bytes\":" + std::to_string(s.counters.bytes) +
            ",\"packets\":" + std::to_string(s.counters.packets) +
            ",\"flows\":" + std::to_string(s.counters.flows) + "}\n";
    std::fputs(line.c_str(), stdout);
  }
}

}  // namespace

int cmd_replay(Args args) {
  if (wants_help(args)) {
    std::printf(
        "usage: flowpulse replay [OPTIONS] FILE\n\n"
        "Runs the whole pipeline over a pcap or pcapng capture: frames are metered into flows, flow\n"
        "exports inside the capture (UDP to capture.export_ports) are decoded, everything is aggregated\n"
        "by the configured dimension sets and windows in capture time, and the final flow metrics are\n"
        "printed in Prometheus text format. The same file gives the same output on every run and for\n"
        "any number of workers.\n\n"
        "  -c, --config FILE   dimensions, windows, tick, series budget, export ports, enrichment\n"
        "                      (default: the built-in defaults of config/flowpulse.yaml)\n"
        "  -w, --workers N     shards to split the capture across (default 1)\n"
        "  -s, --speed X       pace the frames by their capture times: 1 = as captured, 2 = twice as\n"
        "                      fast, 0 = as fast as possible (default); the output is the same\n"
        "      --json          print the aggregated flows, one JSON object per label set\n"
        "  -q, --quiet         no progress or summary on stderr\n");
    return 0;
  }
  std::string config_path, file;
  unsigned workers = 1;
  bool json = false, quiet = false;
  double speed = 0;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string a = args[i];
    if ((a == "-c" || a == "--config") && i + 1 < args.size()) {
      config_path = args[++i];
    } else if ((a == "-w" || a == "--workers") && i + 1 < args.size()) {
      workers = static_cast<unsigned>(std::strtoul(args[++i], nullptr, 10));
      if (workers == 0 || workers > 256) {
        std::fprintf(stderr, "flowpulse replay: --workers takes 1 to 256\n");
        return 2;
      }
    } else if ((a == "-s" || a == "--speed") && i + 1 < args.size()) {
      char* end = nullptr;
      speed = std::strtod(args[++i], &end);
      if (end == args[i] || *end != '\0' || !(speed >= 0) || speed > 1e6) {
        std::fprintf(stderr, "flowpulse replay: --speed takes a number from 0 (as fast as possible) up\n");
        return 2;
      }
    } else if (a == "--json") {
      json = true;
    } else if (a == "-q" || a == "--quiet") {
      quiet = true;
    } else if (!a.empty() && a[0] != '-' && file.empty()) {
      file = a;
    } else {
      std::fprintf(stderr, "flowpulse replay: unexpected argument '%s'; see 'flowpulse replay --help'\n",
                   a.c_str());
      return 2;
    }
  }
  if (file.empty()) {
    std::fprintf(stderr, "flowpulse replay: missing FILE; see 'flowpulse replay --help'\n");
    return 2;
  }
  config::Config cfg;
  if (!config_path.empty()) {
    auto loaded = config::load_file(config_path);
    if (!loaded) {
      std::fprintf(stderr, "flowpulse: %s\n", loaded.error().c_str());
      return 2;
    }
    cfg = std::move(loaded).value();
  }
  log::configure({log::Level::warn, cfg.logging.format, cfg.logging.rate_limit_interval_ns,
                  cfg.logging.rate_limit_burst});
  auto dims_or = engine::compile_dimensions(cfg.metrics.dimensions);
  if (!dims_or) {
    std::fprintf(stderr, "flowpulse: %s\n", dims_or.error().c_str());
    return 2;
  }
  const std::vector<engine::Dimensions> dims = std::move(dims_or).value();
  auto opened = enrich::Enricher::open_if_configured(cfg.enrichment);
  if (!opened) {
    std::fprintf(stderr, "flowpulse: %s\n", opened.error().c_str());
    return 1;
  }
  std::unique_ptr<enrich::Enricher> enricher = std::move(opened).value();
  auto pcap = io::PcapFile::open(file);
  if (!pcap) {
    std::fprintf(stderr, "flowpulse: %s\n", pcap.error().c_str());
    return 1;
  }

  engine::MeterSettings ms;
  ms.export_ports = cfg.capture.export_ports;
  ms.flow_cache_capacity = cfg.performance.table_capacity;  // as the collector's capture workers
  ms.idle_timeout_ns = cfg.capture.idle_timeout_ns;
  // Each shard's flow table and flow cache are committed when made: refuse what memory cannot hold.
  if (auto fits = engine::check_table_memory(cfg.performance.table_capacity, workers, workers, workers,
                                             "table_capacity or --workers");
      !fits) {
    std::fprintf(stderr, "flowpulse replay: %s\n", fits.error().c_str());
    return 1;
  }
  std::vector<std::unique_ptr<Shard>> shards;
  try {
    for (unsigned i = 0; i < workers; ++i) shards.push_back(std::make_unique<Shard>(cfg, dims, ms));
  } catch (const std::bad_alloc&) {
    std::fprintf(
        stderr, "flowpulse replay: %s\n",
        engine::table_memory_exhausted(cfg.performance.table_capacity, "it or --workers").message.c_str());
    return 1;
  }
  engine::StatsSettings ss;
  ss.dimensions = dims;
  ss.windows_ns = cfg.metrics.windows_ns;
  ss.tick_ns = cfg.performance.tick_ns;
  ss.series_budget = cfg.metrics.series_budget;
  ss.table_capacity = cfg.performance.table_capacity;
  ss.enricher = enricher.get();
  ss.flow_as_wins = cfg.enrichment.as_source == config::AsSource::flow;
  engine::StatsCore stats(ss, {});

  const std::uint64_t tick = cfg.performance.tick_ns;
  std::uint64_t next_tick = 0;
  std::vector<std::unique_ptr<decode::RecordWriter>> writers;
  for (auto& s : shards) writers.push_back(std::make_unique<decode::RecordWriter>(*s));
  auto end_tick = [&](std::uint64_t at) {
    for (std::size_t i = 0; i < shards.size(); ++i) {
      shards[i]->meter.flush(*writers[i]);
      writers[i]->flush();
      stats.merge(shards[i]->table);
      shards[i]->table.clear();
    }
    stats.publish(at);
  };

  const bool progress = !quiet && isatty(STDERR_FILENO) != 0;
  Progress bar(*pcap);
  Pacer pacer(speed);
  io::PcapFrame pf;
  for (;;) {
    auto more = pcap->next(pf);
    if (!more) {
      std::fprintf(stderr, "flowpulse: %s\n", more.error().c_str());
      return 1;
    }
    if (!*more) break;
    pacer.wait_for(pf.time_ns);
    if (next_tick == 0) next_tick = pf.time_ns - pf.time_ns % tick + tick;
    // Ticks in capture time; a gap longer than every window needs no ticks of its own.
    if (pf.time_ns >= next_tick) {
      end_tick(next_tick);
      next_tick += tick;
      const std::uint64_t longest =
          cfg.metrics.windows_ns.empty()
              ? tick
              : *std::max_element(cfg.metrics.windows_ns.begin(), cfg.metrics.windows_ns.end());
      while (pf.time_ns >= next_tick) {
        if (pf.time_ns - next_tick > longest + tick) next_tick = pf.time_ns - pf.time_ns % tick;
        stats.publish(next_tick);
        next_tick += tick;
      }
    }
    io::Frame f{pf.data,
                static_cast<std::uint32_t>(pf.captured),
                static_cast<std::uint32_t>(pf.wire_length),
                pf.time_ns,
                0,
                0,
                static_cast<int>(pf.link_type)};
    const decode::PacketInfo info = decode::parse_link(pf.link_type, pf.data, pf.captured);
    // Exports by exporter, and UDP fragments by source too (only the first carries ports, and a
    // fragmented export must meet its exporter's templates): every other frame by its 5-tuple.
    const bool by_source =
        shards[0]->meter.is_export(info) || (info.is_fragment && info.proto == decode::ip_proto_udp);
    const std::size_t i =
        shards.size() == 1 ? 0
                           : (by_source ? address_hash(info.src_addr) : symmetric_hash(info)) % shards.size();
    shards[i]->meter.process(f, info, *writers[i]);
    if (progress) bar.update();
  }
  if (next_tick != 0) end_tick(next_tick);
  if (progress) bar.finish();
  const auto snap = stats.snapshot();

  if (json) {
    print_json(*snap, dims);
  } else {
    exporting::FlowMetrics metrics(cfg.metrics, dims, {}, [&snap] { return snap; });
    // Only what the capture determines: health metrics (timings, queues) are not replay output.
    static const std::set<std::string> kept = {"flow_flows_total",
                                               "flow_bytes_total",
                                               "flow_packets_total",
                                               "flow_bandwidth_bytes_per_second",
                                               "flow_bandwidth_packets_per_second",
                                               "flow_bandwidth_bps",
                                               "flow_window_bytes",
                                               "flow_window_packets",
                                               "flow_window_flows"};
    std::vector<prometheus::MetricFamily> families;
    for (auto& f : metrics.Collect()) {
      std::string base = f.name;
      const std::string prefix = exporting::metric_name(cfg.metrics, "");
      if (!prefix.empty() && base.rfind(prefix, 0) == 0) base = base.substr(prefix.size());
      if (kept.count(base) != 0) families.push_back(std::move(f));
    }
    std::fputs(prometheus::TextSerializer().Serialize(families).c_str(), stdout);
  }
  if (!quiet) {
    engine::MeterStats m;
    decode::DecodeStats d;
    decode::ReassemblyStats r;
    for (const auto& s : shards) {
      m += s->meter.stats();
      d += s->decoder.total();
      r += s->meter.reassembly_stats();
    }
    std::fprintf(
        stderr,
        "replay: %llu frames, %llu metered (%llu flows), %llu export datagrams (%llu reassembled; %llu "
        "records, "
        "%llu errors), %llu not IP, %llu fragments (%llu UDP to reassembly, %llu not reassembled), %llu "
        "truncated\n",
        static_cast<unsigned long long>(m.frames), static_cast<unsigned long long>(m.metered),
        static_cast<unsigned long long>(m.flows_started),
        static_cast<unsigned long long>(m.export_datagrams + m.reassembled_exports),
        static_cast<unsigned long long>(m.reassembled_exports), static_cast<unsigned long long>(d.records),
        static_cast<unsigned long long>(d.total_errors()), static_cast<unsigned long long>(m.not_ip),
        static_cast<unsigned long long>(m.fragments), static_cast<unsigned long long>(m.reassembly),
        static_cast<unsigned long long>(r.dropped() + r.in_progress_fragments),
        static_cast<unsigned long long>(m.truncated));
  }
  return 0;
}

}  // namespace flowpulse::cli
