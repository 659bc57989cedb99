#include "config/config.hpp"

#include <sched.h>

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

#include "core/ip_address.hpp"

namespace flowpulse::config {
namespace {

// Thrown inside the parser only; load_* turn it into a Result.
struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

constexpr std::uint64_t ns_per_ms = 1'000'000ULL;
constexpr std::uint64_t ns_per_s = 1'000'000'000ULL;

struct Unit {
  std::string_view suffix;
  std::uint64_t factor;
};
constexpr Unit duration_units[] = {{"ms", ns_per_ms},
                                   {"s", ns_per_s},
                                   {"m", 60 * ns_per_s},
                                   {"h", 3600 * ns_per_s},
                                   {"d", 86400 * ns_per_s}};
constexpr Unit size_units[] = {{"KiB", 1ULL << 10},
                               {"MiB", 1ULL << 20},
                               {"GiB", 1ULL << 30},
                               {"KB", 1000ULL},
                               {"MB", 1000'000ULL},
                               {"GB", 1000'000'000ULL},
                               {"B", 1}};

std::string kind_of(const YAML::Node& n) {
  if (!n.IsDefined()) return "nothing";
  switch (n.Type()) {
    case YAML::NodeType::Null: return "nothing";
    case YAML::NodeType::Scalar: return "'" + n.Scalar() + "'";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a map";
    default: return "an undefined value";
  }
}

std::optional<std::uint64_t> parse_u64(std::string_view s) {
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

// Walks the YAML tree; knows the file name and the dotted path for messages.
class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}

  [[noreturn]] void fail(const YAML::Node& at, const std::string& path, const std::string& what) const {
    std::ostringstream msg;
    msg << file_;
    if (at.IsDefined() && at.Mark().line >= 0)
      msg << ':' << at.Mark().line + 1 << ':' << at.Mark().column + 1;
    msg << ": " << path << ": " << what;
    throw ConfigError(msg.str());
  }

  // Checks that `n` is a map whose keys are all in `allowed`; a null node counts as empty.
  void expect_map(const YAML::Node& n, const std::string& path,
                  std::initializer_list<std::string_view> allowed) const {
    if (!n.IsDefined() || n.IsNull()) return;
    if (!n.IsMap()) fail(n, path, "expected a map, got " + kind_of(n));
    for (const auto& kv : n) {
      const std::string key = kv.first.as<std::string>();
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        std::string list;
        for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
        fail(kv.first, path.empty() ? key : path + "." + key, "unknown key (expected one of: " + list + ")");
      }
    }
  }

  static std::string join(const std::string& path, std::string_view key) {
    return path.empty() ? std::string(key) : path + "." + std::string(key);
  }

  const std::string& scalar(const YAML::Node& n, const std::string& path, std::string_view expected) const {
    if (!n.IsScalar()) fail(n, path, "expected " + std::string(expected) + ", got " + kind_of(n));
    return n.Scalar();
  }

  std::string string(const YAML::Node& n, const std::string& path) const {
    if (!n.IsDefined() || n.IsNull()) return {};
    return scalar(n, path, "a string");
  }

  std::uint64_t integer(const YAML::Node& n, const std::string& path, std::uint64_t min,
                        std::uint64_t max) const {
    const std::string expected = "an integer from " + std::to_string(min) + " to " + std::to_string(max);
    auto v = parse_u64(scalar(n, path, expected));
    if (!v || *v < min || *v > max) fail(n, path, "expected " + expected + ", got " + kind_of(n));
    return *v;
  }

  bool boolean(const YAML::Node& n, const std::string& path) const {
    const std::string& s = scalar(n, path, "true or false");
    if (s == "true") return true;
    if (s == "false") return false;
    fail(n, path, "expected true or false, got " + kind_of(n));
  }

  std::uint64_t with_unit(const YAML::Node& n, const std::string& path, std::span<const Unit> units,
                          std::string_view expected, bool bare_allowed, std::uint64_t min,
                          std::uint64_t max) const {
    const std::string& s = scalar(n, path, expected);
    std::optional<std::uint64_t> v;
    if (bare_allowed) v = parse_u64(s);
    for (std::size_t i = 0; !v && i < units.size(); ++i) {
      std::string_view sv(s);
      const auto& u = units[i];
      if (sv.size() > u.suffix.size() && sv.ends_with(u.suffix)) {
        auto num = parse_u64(sv.substr(0, sv.size() - u.suffix.size()));
        if (num && *num <= UINT64_MAX / u.factor) v = *num * u.factor;
      }
    }
    if (!v) fail(n, path, "expected " + std::string(expected) + ", got " + kind_of(n));
    if (*v < min || *v > max) fail(n, path, "out of range: " + s + " (" + std::string(expected) + ")");
    return *v;
  }

  std::uint64_t duration(const YAML::Node& n, const std::string& path, std::uint64_t min,
                         std::uint64_t max) const {
    return with_unit(n, path, duration_units,
                     "a duration from " + format_duration(min) + " to " + format_duration(max) +
                         " such as 500ms, 10s, 5m, 1h, 7d",
                     false, min, max);
  }

  std::uint64_t size(const YAML::Node& n, const std::string& path, std::uint64_t min,
                     std::uint64_t max) const {
    return with_unit(n, path, size_units,
                     "a size in bytes from " + std::to_string(min) + " to " + std::to_string(max) +
                         " (an integer or with KiB, MiB, GiB)",
                     true, min, max);
  }

  template <typename E, std::size_t N>
  E choice(const YAML::Node& n, const std::string& path,
           const std::pair<std::string_view, E> (&options)[N]) const {
    std::string list;
    for (const auto& o : options) list += (list.empty() ? "" : ", ") + std::string(o.first);
    const std::string& s = scalar(n, path, "one of: " + list);
    for (const auto& o : options) {
      if (s == o.first) return o.second;
    }
    fail(n, path, "expected one of: " + list + ", got " + kind_of(n));
  }

  std::string address(const YAML::Node& n, const std::string& path) const {
    const std::string& s = scalar(n, path, "an IP address");
    if (!core::parse_ip(s))
      fail(n, path, "expected an IPv4 or IPv6 address such as 0.0.0.0 or ::, got " + kind_of(n));
    return s;
  }

  std::uint16_t port(const YAML::Node& n, const std::string& path) const {
    return static_cast<std::uint16_t>(integer(n, path, 1, 65535));
  }

  template <typename F>
  void each(const YAML::Node& n, const std::string& path, F&& f) const {
    if (!n.IsDefined() || n.IsNull()) return;
    if (!n.IsSequence()) fail(n, path, "expected a list, got " + kind_of(n));
    for (std::size_t i = 0; i < n.size(); ++i) f(n[i], path + "[" + std::to_string(i) + "]");
  }

 private:
  std::string file_;
};

constexpr std::pair<std::string_view, decode::Protocol> protocol_names[] = {
    {"netflow5", decode::Protocol::netflow5},
    {"netflow9", decode::Protocol::netflow9},
    {"ipfix", decode::Protocol::ipfix},
    {"sflow", decode::Protocol::sflow5},
};
constexpr std::pair<std::string_view, SourceType> source_names[] = {
    {"dpdk", SourceType::dpdk}, {"afxdp", SourceType::afxdp},         {"afpacket", SourceType::afpacket},
    {"pcap", SourceType::pcap}, {"pcap_file", SourceType::pcap_file},
};
constexpr std::pair<std::string_view, log::Level> level_names[] = {{"debug", log::Level::debug},
                                                                   {"info", log::Level::info},
                                                                   {"warn", log::Level::warn},
                                                                   {"error", log::Level::error}};
constexpr std::pair<std::string_view, log::Format> format_names[] = {
    {"text", log::Format::text}, {"logfmt", log::Format::logfmt}, {"json", log::Format::json}};
constexpr std::pair<std::string_view, AsSource> as_source_names[] = {{"flow", AsSource::flow},
                                                                     {"geoip", AsSource::geoip}};

template <typename E, std::size_t N>
std::string_view name_of(E v, const std::pair<std::string_view, E> (&options)[N]) {
  for (const auto& o : options) {
    if (o.second == v) return o.first;
  }
  return "?";
}

void read_listeners(const Reader& r, const YAML::Node& n, Config& c) {
  if (!n.IsDefined()) return;
  c.listeners.clear();
  std::set<std::pair<std::string, std::uint16_t>> seen;
  r.each(n, "listeners", [&](const YAML::Node& e, const std::string& path) {
    r.expect_map(e, path, {"protocol", "address", "port", "interface", "receive_buffer"});
    if (!e.IsMap()) r.fail(e, path, "expected a map with protocol and port, got " + kind_of(e));
    Listener l;
    if (!e["protocol"]) r.fail(e, path, "missing key 'protocol' (netflow5, netflow9, ipfix or sflow)");
    if (!e["port"]) r.fail(e, path, "missing key 'port'");
    l.protocol = r.choice(e["protocol"], path + ".protocol", protocol_names);
    l.port = r.port(e["port"], path + ".port");
    if (e["address"]) l.address = r.address(e["address"], path + ".address");
    if (e["interface"]) l.interface = r.string(e["interface"], path + ".interface");
    if (e["receive_buffer"])
      l.receive_buffer = r.size(e["receive_buffer"], path + ".receive_buffer", 4096, 1ULL << 31);
    if (!seen.insert({l.address, l.port}).second) {
      r.fail(e, path,
             "a listener on " + l.address + " port " + std::to_string(l.port) + " is already configured");
    }
    c.listeners.push_back(std::move(l));
  });
}

void read_capture(const Reader& r, const YAML::Node& n, Capture& c) {
  if (!n.IsDefined()) return;
  r.expect_map(n, "capture",
               {"sources", "filter", "store_pcap", "store_rotate_bytes", "export_ports", "idle_timeout"});
  r.each(n["sources"], "capture.sources", [&](const YAML::Node& e, const std::string& path) {
    r.expect_map(e, path, {"type", "device", "file", "queues", "eal_args"});
    if (!e.IsMap() || !e["type"])
      r.fail(e, path, "missing key 'type' (dpdk, afxdp, afpacket, pcap, pcap_file)");
    CaptureSource s;
    s.type = r.choice(e["type"], path + ".type", source_names);
    if (e["device"]) s.device = r.string(e["device"], path + ".device");
    if (e["file"]) s.file = r.string(e["file"], path + ".file");
    r.each(e["queues"], path + ".queues", [&](const YAML::Node& q, const std::string& p) {
      s.queues.push_back(static_cast<std::uint16_t>(r.integer(q, p, 0, 1023)));
    });
    r.each(e["eal_args"], path + ".eal_args",
           [&](const YAML::Node& a, const std::string& p) { s.eal_args.push_back(r.string(a, p)); });
    if (s.type == SourceType::pcap_file && s.file.empty()) r.fail(e, path, "a pcap_file source needs 'file'");
    if ((s.type == SourceType::afxdp || s.type == SourceType::afpacket || s.type == SourceType::pcap) &&
        s.device.empty()) {
      r.fail(e, path, "a " + std::string(to_string(s.type)) + " source needs 'device'");
    }
    c.sources.push_back(std::move(s));
  });
  if (n["filter"]) c.filter = r.string(n["filter"], "capture.filter");
  if (n["store_pcap"]) c.store_pcap = r.string(n["store_pcap"], "capture.store_pcap");
  if (n["store_rotate_bytes"])
    c.store_rotate_bytes =
        r.size(n["store_rotate_bytes"], "capture.store_rotate_bytes", 1ULL << 20, 1ULL << 40);
  if (n["export_ports"]) {
    c.export_ports.clear();
    r.each(n["export_ports"], "capture.export_ports",
           [&](const YAML::Node& p, const std::string& path) { c.export_ports.push_back(r.port(p, path)); });
  }
  if (n["idle_timeout"])
    c.idle_timeout_ns = r.duration(n["idle_timeout"], "capture.idle_timeout", ns_per_s, 3600 * ns_per_s);
}

void read_performance(const Reader& r, const YAML::Node& n, Performance& p) {
  if (!n.IsDefined()) return;
  r.expect_map(n, "performance",
               {"workers", "batch_size", "queue_size", "table_capacity", "tick", "worker_cpus"});
  if (n["workers"])
    p.workers = static_cast<std::uint32_t>(r.integer(n["workers"], "performance.workers", 0, 256));
  if (n["batch_size"])
    p.batch_size = static_cast<std::uint32_t>(r.integer(n["batch_size"], "performance.batch_size", 1, 1024));
  if (n["queue_size"])
    p.queue_size =
        static_cast<std::uint32_t>(r.integer(n["queue_size"], "performance.queue_size", 16, 1u << 20));
  if (n["table_capacity"]) {
    p.table_capacity = static_cast<std::uint32_t>(
        r.integer(n["table_capacity"], "performance.table_capacity", 64, 1u << 26));
  }
  if (n["tick"]) p.tick_ns = r.duration(n["tick"], "performance.tick", 10 * ns_per_ms, 60 * ns_per_s);
  r.each(n["worker_cpus"], "performance.worker_cpus", [&](const YAML::Node& c, const std::string& path) {
    p.worker_cpus.push_back(static_cast<std::uint32_t>(r.integer(c, path, 0, CPU_SETSIZE - 1)));
  });
}

void read_decode(const Reader& r, const YAML::Node& n, decode::Limits& l) {
  if (!n.IsDefined()) return;
  r.expect_map(n, "decode",
               {"max_templates_per_exporter", "max_fields_per_template", "max_record_length",
                "max_pending_per_exporter", "pending_timeout"});
  if (n["max_templates_per_exporter"]) {
    l.max_templates_per_exporter = static_cast<std::uint32_t>(
        r.integer(n["max_templates_per_exporter"], "decode.max_templates_per_exporter", 1, 65535));
  }
  if (n["max_fields_per_template"]) {
    l.max_fields_per_template = static_cast<std::uint32_t>(
        r.integer(n["max_fields_per_template"], "decode.max_fields_per_template", 1, 65535));
  }
  if (n["max_record_length"]) {
    l.max_record_length =
        static_cast<std::uint32_t>(r.integer(n["max_record_length"], "decode.max_record_length", 4, 65535));
  }
  if (n["max_pending_per_exporter"]) {
    l.max_pending_per_exporter = static_cast<std::uint32_t>(
        r.integer(n["max_pending_per_exporter"], "decode.max_pending_per_exporter", 0, 4096));
  }
  if (n["pending_timeout"])
    l.pending_timeout_ns =
        r.duration(n["pending_timeout"], "decode.pending_timeout", ns_per_s, 3600 * ns_per_s);
}

void read_metrics(const Reader& r, const YAML::Node& n, Metrics& m) {
  if (!n.IsDefined()) return;
  r.expect_map(n, "metrics",
               {"address", "port", "path", "namespace", "subsystem", "dimensions", "windows", "series_budget",
                "bandwidth_bps"});
  if (n["address"]) m.address = r.address(n["address"], "metrics.address");
  if (n["port"]) m.port = r.port(n["port"], "metrics.port");
  if (n["path"]) {
    m.path = r.string(n["path"], "metrics.path");
    if (m.path.empty() || m.path[0] != '/')
      r.fail(n["path"], "metrics.path", "expected a path starting with '/', got " + kind_of(n["path"]));
  }
  auto metric_name_part = [&](const char* key) {
    std::string s = r.string(n[key], std::string("metrics.") + key);
    bool valid = s.empty() || (std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_');
    for (char ch : s) valid = valid && (std::isalnum(static_cast<unsigned char>(ch)) || ch == '_');
    if (!valid)
      r.fail(n[key], std::string("metrics.") + key,
             "expected a Prometheus name part ([a-zA-Z_][a-zA-Z0-9_]*), got " + kind_of(n[key]));
    return s;
  };
  if (n["namespace"]) m.name_space = metric_name_part("namespace");
  if (n["subsystem"]) m.subsystem = metric_name_part("subsystem");
  if (n["dimensions"]) {
    m.dimensions.clear();
    std::set<std::string> names;
    r.each(n["dimensions"], "metrics.dimensions", [&](const YAML::Node& e, const std::string& path) {
      r.expect_map(e, path, {"name", "labels", "ipv4_prefix", "ipv6_prefix"});
      if (!e.IsMap() || !e["name"] || !e["labels"])
        r.fail(e, path, "a dimension set needs 'name' and 'labels'");
      DimensionSet d;
      d.name = r.string(e["name"], path + ".name");
      if (!names.insert(d.name).second)
        r.fail(e["name"], path + ".name", "the name '" + d.name + "' is used twice");
      r.each(e["labels"], path + ".labels", [&](const YAML::Node& l, const std::string& p) {
        std::string label = r.string(l, p);
        const auto& known = known_labels();
        if (std::find(known.begin(), known.end(), label) == known.end()) {
          std::string list;
          for (auto k : known) list += (list.empty() ? "" : ", ") + std::string(k);
          r.fail(l, p, "unknown label '" + label + "' (expected one of: " + list + ")");
        }
        if (std::find(d.labels.begin(), d.labels.end(), label) != d.labels.end())
          r.fail(l, p, "label '" + label + "' appears twice");
        d.labels.push_back(std::move(label));
      });
      if (d.labels.empty()) r.fail(e["labels"], path + ".labels", "expected at least one label");
      if (e["ipv4_prefix"])
        d.ipv4_prefix = static_cast<std::uint8_t>(r.integer(e["ipv4_prefix"], path + ".ipv4_prefix", 0, 32));
      if (e["ipv6_prefix"])
        d.ipv6_prefix = static_cast<std::uint8_t>(r.integer(e["ipv6_prefix"], path + ".ipv6_prefix", 0, 128));
      m.dimensions.push_back(std::move(d));
    });
  }
  if (n["windows"]) {
    m.windows_ns.clear();
    r.each(n["windows"], "metrics.windows", [&](const YAML::Node& w, const std::string& path) {
      m.windows_ns.push_back(r.duration(w, path, ns_per_s, 7 * 86400 * ns_per_s));
    });
  }
  if (n["series_budget"])
    m.series_budget =
        static_cast<std::uint32_t>(r.integer(n["series_budget"], "metrics.series_budget", 1, 10'000'000));
  if (n["bandwidth_bps"]) m.bandwidth_bps = r.boolean(n["bandwidth_bps"], "metrics.bandwidth_bps");
}

void read_enrichment(const Reader& r, const YAML::Node& n, Enrichment& e) {
  if (!n.IsDefined()) return;
  r.expect_map(n, "enrichment",
               {"city_database", "asn_database", "cache_size", "watch", "check_interval", "max_age", "labels",
                "as_source"});
  if (n["city_database"]) e.city_database = r.string(n["city_database"], "enrichment.city_database");
  if (n["asn_database"]) e.asn_database = r.string(n["asn_database"], "enrichment.asn_database");
  if (n["cache_size"])
    e.cache_size =
        static_cast<std::uint32_t>(r.integer(n["cache_size"], "enrichment.cache_size", 0, 1u << 24));
  if (n["watch"]) e.watch = r.boolean(n["watch"], "enrichment.watch");
  if (n["check_interval"])
    e.check_interval_ns =
        r.duration(n["check_interval"], "enrichment.check_interval", ns_per_s, 86400 * ns_per_s);
  if (n["max_age"])
    e.max_age_ns = r.duration(n["max_age"], "enrichment.max_age", 3600 * ns_per_s, 3650 * 86400 * ns_per_s);
  if (const YAML::Node l = n["labels"]; l.IsDefined()) {
    r.expect_map(l, "enrichment.labels", {"country", "city", "asn", "as_org"});
    if (l["country"]) e.country = r.boolean(l["country"], "enrichment.labels.country");
    if (l["city"]) e.city = r.boolean(l["city"], "enrichment.labels.city");
    if (l["asn"]) e.asn = r.boolean(l["asn"], "enrichment.labels.asn");
    if (l["as_org"]) e.as_org = r.boolean(l["as_org"], "enrichment.labels.as_org");
  }
  if (n["as_source"]) e.as_source = r.choice(n["as_source"], "enrichment.as_source", as_source_names);
}

void read_logging(const Reader& r, const YAML::Node& n, Logging& l) {
  if (!n.IsDefined()) return;
  r.expect_map(n, "logging", {"level", "format", "rate_limit_interval", "rate_limit_burst"});
  if (n["level"]) l.level = r.choice(n["level"], "logging.level", level_names);
  if (n["format"]) l.format = r.choice(n["format"], "logging.format", format_names);
  if (n["rate_limit_interval"]) {
    l.rate_limit_interval_ns =
        r.duration(n["rate_limit_interval"], "logging.rate_limit_interval", 100 * ns_per_ms, 3600 * ns_per_s);
  }
  if (n["rate_limit_burst"])
    l.rate_limit_burst =
        static_cast<std::uint32_t>(r.integer(n["rate_limit_burst"], "logging.rate_limit_burst", 1, 1000));
}

// Checks that need more than one key.
void check_whole(const Reader& r, const YAML::Node& root, const Config& c) {
  for (std::uint64_t w : c.metrics.windows_ns) {
    if (w % c.performance.tick_ns != 0) {
      r.fail(root["metrics"]["windows"], "metrics.windows",
             "window " + format_duration(w) + " is not a whole number of ticks (performance.tick " +
                 format_duration(c.performance.tick_ns) + ")");
    }
  }
  // Enrichment labels need their switch and their database.
  const YAML::Node dims = root["metrics"].IsDefined() ? root["metrics"]["dimensions"] : YAML::Node();
  for (std::size_t i = 0; i < c.metrics.dimensions.size(); ++i) {
    for (const std::string& label : c.metrics.dimensions[i].labels) {
      const std::string kind = label.substr(4);  // src_/dst_ prefix
      const auto& e = c.enrichment;
      std::string missing;
      if (kind == "country" || kind == "city") {
        if (!(kind == "country" ? e.country : e.city))
          missing = "enrichment.labels." + kind + ": true";
        else if (e.city_database.empty())
          missing = "enrichment.city_database";
      } else if (kind == "asn" || kind == "as_org") {
        if (!(kind == "asn" ? e.asn : e.as_org))
          missing = "enrichment.labels." + kind + ": true";
        else if (e.asn_database.empty())
          missing = "enrichment.asn_database";
      }
      if (!missing.empty()) {
        r.fail(dims.IsDefined() ? dims[i] : root, "metrics.dimensions[" + std::to_string(i) + "].labels",
               "label '" + label + "' needs " + missing);
      }
    }
  }
  if (c.attribution.enabled &&
      std::none_of(c.capture.sources.begin(), c.capture.sources.end(), [](const CaptureSource& s) {
        return s.type == SourceType::afpacket || s.type == SourceType::pcap || s.type == SourceType::afxdp;
      })) {
    r.fail(root["attribution"], "attribution.enabled",
           "process attribution needs a capture source this host's traffic passes through (afpacket, pcap "
           "or afxdp in capture.sources)");
  }
  if (c.listeners.empty() && c.capture.sources.empty()) {
    r.fail(root, "listeners", "nothing to receive: configure at least one listener or capture source");
  }
}

void read_attribution(const Reader& r, const YAML::Node& n, Attribution& a) {
  if (!n) return;
  r.expect_map(n, "attribution", {"enabled", "history_seconds", "max_processes"});
  if (n["enabled"]) a.enabled = r.boolean(n["enabled"], "attribution.enabled");
  if (n["history_seconds"])
    a.history_seconds =
        static_cast<std::uint32_t>(r.integer(n["history_seconds"], "attribution.history_seconds", 1, 86400));
  if (n["max_processes"])
    a.max_processes =
        static_cast<std::uint32_t>(r.integer(n["max_processes"], "attribution.max_processes", 1, 100000));
}

Config parse(const YAML::Node& root, const std::string& name) {
  Reader r(name);
  Config c;
  c.source = name;
  if (root.IsNull()) return c;
  r.expect_map(
      root, "",
      {"listeners", "capture", "performance", "decode", "metrics", "enrichment", "attribution", "logging"});
  read_listeners(r, root["listeners"], c);
  read_capture(r, root["capture"], c.capture);
  read_performance(r, root["performance"], c.performance);
  read_decode(r, root["decode"], c.decode);
  read_metrics(r, root["metrics"], c.metrics);
  read_enrichment(r, root["enrichment"], c.enrichment);
  read_attribution(r, root["attribution"], c.attribution);
  read_logging(r, root["logging"], c.logging);
  check_whole(r, root, c);
  return c;
}

}  // namespace

const char* to_string(SourceType t) noexcept { return name_of(t, source_names).data(); }

const std::vector<std::string_view>& known_labels() {
  static const std::vector<std::string_view> labels = {
      "src_addr", "dst_addr", "src_port", "dst_port",   "protocol",    "in_if",       "out_if",
      "exporter", "src_as",   "dst_as",   "direction",  "src_country", "dst_country", "src_city",
      "dst_city", "src_asn",  "dst_asn",  "src_as_org", "dst_as_org"};
  return labels;
}

std::string format_duration(std::uint64_t ns) {
  for (auto it = std::rbegin(duration_units); it != std::rend(duration_units); ++it) {
    if (ns != 0 && ns % it->factor == 0) return std::to_string(ns / it->factor) + std::string(it->suffix);
  }
  return std::to_string(ns / ns_per_ms) + "ms";
}

core::Result<Config> load_string(std::string_view yaml, const std::string& name) {
  try {
    return parse(YAML::Load(std::string(yaml)), name);
  } catch (const ConfigError& e) {
    return core::Error{e.what()};
  } catch (const YAML::Exception& e) {
    std::ostringstream msg;
    msg << name;
    if (e.mark.line >= 0) msg << ':' << e.mark.line + 1 << ':' << e.mark.column + 1;
    msg << ": invalid YAML: " << e.msg;
    return core::Error{msg.str()};
  }
}

core::Result<Config> load_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return core::Error{"cannot read config file '" + path + "': " + std::strerror(errno)};
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return core::Error{"cannot read config file '" + path + "': " + std::strerror(errno)};
  return load_string(text.str(), path);
}

std::string to_yaml(const Config& c) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "listeners" << YAML::Value << YAML::BeginSeq;
  for (const auto& l : c.listeners) {
    out << YAML::BeginMap << YAML::Key << "protocol" << YAML::Value
        << std::string(name_of(l.protocol, protocol_names)) << YAML::Key << "address" << YAML::Value
        << YAML::DoubleQuoted << l.address << YAML::Key << "port" << YAML::Value << l.port << YAML::Key
        << "interface" << YAML::Value << YAML::DoubleQuoted << l.interface << YAML::Key << "receive_buffer"
        << YAML::Value << l.receive_buffer << YAML::EndMap;
  }
  out << YAML::EndSeq;

  out << YAML::Key << "capture" << YAML::Value << YAML::BeginMap << YAML::Key << "sources" << YAML::Value
      << YAML::BeginSeq;
  for (const auto& s : c.capture.sources) {
    out << YAML::BeginMap << YAML::Key << "type" << YAML::Value << to_string(s.type) << YAML::Key << "device"
        << YAML::Value << YAML::DoubleQuoted << s.device << YAML::Key << "file" << YAML::Value
        << YAML::DoubleQuoted << s.file << YAML::Key << "queues" << YAML::Value << YAML::Flow << s.queues
        << YAML::Key << "eal_args" << YAML::Value << YAML::Flow << s.eal_args << YAML::EndMap;
  }
  out << YAML::EndSeq << YAML::Key << "filter" << YAML::Value << YAML::DoubleQuoted << c.capture.filter
      << YAML::Key << "store_pcap" << YAML::Value << YAML::DoubleQuoted << c.capture.store_pcap << YAML::Key
      << "store_rotate_bytes" << YAML::Value << c.capture.store_rotate_bytes << YAML::Key << "export_ports"
      << YAML::Value << YAML::Flow << c.capture.export_ports << YAML::Key << "idle_timeout" << YAML::Value
      << format_duration(c.capture.idle_timeout_ns) << YAML::EndMap;

  const auto& p = c.performance;
  out << YAML::Key << "performance" << YAML::Value << YAML::BeginMap << YAML::Key << "workers" << YAML::Value
      << p.workers << YAML::Key << "batch_size" << YAML::Value << p.batch_size << YAML::Key << "queue_size"
      << YAML::Value << p.queue_size << YAML::Key << "table_capacity" << YAML::Value << p.table_capacity
      << YAML::Key << "tick" << YAML::Value << format_duration(p.tick_ns) << YAML::Key << "worker_cpus"
      << YAML::Value << YAML::Flow << p.worker_cpus << YAML::EndMap;

  const auto& d = c.decode;
  out << YAML::Key << "decode" << YAML::Value << YAML::BeginMap << YAML::Key << "max_templates_per_exporter"
      << YAML::Value << d.max_templates_per_exporter << YAML::Key << "max_fields_per_template" << YAML::Value
      << d.max_fields_per_template << YAML::Key << "max_record_length" << YAML::Value << d.max_record_length
      << YAML::Key << "max_pending_per_exporter" << YAML::Value << d.max_pending_per_exporter << YAML::Key
      << "pending_timeout" << YAML::Value << format_duration(d.pending_timeout_ns) << YAML::EndMap;

  const auto& m = c.metrics;
  out << YAML::Key << "metrics" << YAML::Value << YAML::BeginMap << YAML::Key << "address" << YAML::Value
      << YAML::DoubleQuoted << m.address << YAML::Key << "port" << YAML::Value << m.port << YAML::Key
      << "path" << YAML::Value << m.path << YAML::Key << "namespace" << YAML::Value << YAML::DoubleQuoted
      << m.name_space << YAML::Key << "subsystem" << YAML::Value << YAML::DoubleQuoted << m.subsystem
      << YAML::Key << "dimensions" << YAML::Value << YAML::BeginSeq;
  for (const auto& ds : m.dimensions) {
    out << YAML::BeginMap << YAML::Key << "name" << YAML::Value << ds.name << YAML::Key << "labels"
        << YAML::Value << YAML::Flow << ds.labels << YAML::Key << "ipv4_prefix" << YAML::Value
        << int{ds.ipv4_prefix} << YAML::Key << "ipv6_prefix" << YAML::Value << int{ds.ipv6_prefix}
        << YAML::EndMap;
  }
  out << YAML::EndSeq << YAML::Key << "windows" << YAML::Value << YAML::Flow << YAML::BeginSeq;
  for (auto w : m.windows_ns) out << format_duration(w);
  out << YAML::EndSeq << YAML::Key << "series_budget" << YAML::Value << m.series_budget << YAML::Key
      << "bandwidth_bps" << YAML::Value << m.bandwidth_bps << YAML::EndMap;

  const auto& e = c.enrichment;
  out << YAML::Key << "enrichment" << YAML::Value << YAML::BeginMap << YAML::Key << "city_database"
      << YAML::Value << YAML::DoubleQuoted << e.city_database << YAML::Key << "asn_database" << YAML::Value
      << YAML::DoubleQuoted << e.asn_database << YAML::Key << "cache_size" << YAML::Value << e.cache_size
      << YAML::Key << "watch" << YAML::Value << e.watch << YAML::Key << "check_interval" << YAML::Value
      << format_duration(e.check_interval_ns) << YAML::Key << "max_age" << YAML::Value
      << format_duration(e.max_age_ns) << YAML::Key << "labels" << YAML::Value << YAML::BeginMap << YAML::Key
      << "country" << YAML::Value << e.country << YAML::Key << "city" << YAML::Value << e.city << YAML::Key
      << "asn" << YAML::Value << e.asn << YAML::Key << "as_org" << YAML::Value << e.as_org << YAML::EndMap
      << YAML::Key << "as_source" << YAML::Value << std::string(name_of(e.as_source, as_source_names))
      << YAML::EndMap;

  const auto& a = c.attribution;
  out << YAML::Key << "attribution" << YAML::Value << YAML::BeginMap << YAML::Key << "enabled" << YAML::Value
      << a.enabled << YAML::Key << "history_seconds" << YAML::Value << a.history_seconds << YAML::Key
      << "max_processes" << YAML::Value << a.max_processes << YAML::EndMap;

  const auto& l = c.logging;
  out << YAML::Key << "logging" << YAML::Value << YAML::BeginMap << YAML::Key << "level" << YAML::Value
      << std::string(name_of(l.level, level_names)) << YAML::Key << "format" << YAML::Value
      << std::string(name_of(l.format, format_names)) << YAML::Key << "rate_limit_interval" << YAML::Value
      << format_duration(l.rate_limit_interval_ns) << YAML::Key << "rate_limit_burst" << YAML::Value
      << l.rate_limit_burst << YAML::EndMap;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace flowpulse::config
