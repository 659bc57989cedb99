// The flowpulse configuration: one YAML file (config/flowpulse.yaml documents every key and its
// default) parsed into plain structs. Loading is strict: an unknown key, a wrong type or an
// out-of-range value is an error naming the file, line and column and what was expected.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/log.hpp"
#include "core/result.hpp"
#include "decode/decoder.hpp"

namespace flowpulse::config {

struct Listener {
  decode::Protocol protocol = decode::Protocol::netflow9;
  std::string address = "::";  // "::" takes IPv4 and IPv6
  std::uint16_t port = 0;
  std::string interface;  // SO_BINDTODEVICE when set
  std::uint64_t receive_buffer = 32ULL << 20;
};

enum class SourceType : std::uint8_t { dpdk, afxdp, afpacket, pcap, pcap_file };
const char* to_string(SourceType t) noexcept;

struct CaptureSource {
  SourceType type = SourceType::pcap;
  std::string device;                 // interface name (afxdp, afpacket, pcap), or "any"
  std::string file;                   // pcap_file
  std::vector<std::uint16_t> queues;  // rx queues (dpdk, afxdp); empty = all
  std::vector<std::string> eal_args;  // dpdk EAL arguments
};

struct Capture {
  std::vector<CaptureSource> sources;
  std::string filter;      // BPF expression applied to every live source
  std::string store_pcap;  // write captured frames here when set
  std::uint64_t store_rotate_bytes = 1ULL << 30;
  std::vector<std::uint16_t> export_ports = {2055, 2056, 4739, 6343};  // UDP flow exports in raw traffic
  std::uint64_t idle_timeout_ns = 15'000'000'000ULL;  // a metered flow without a packet this long ends
};

struct Performance {
  std::uint32_t workers = 0;  // 0 = one per online CPU
  std::uint32_t batch_size = 64;
  std::uint32_t queue_size = 4096;
  std::uint32_t table_capacity = 65536;
  std::uint64_t tick_ns = 1'000'000'000ULL;
  // Worker i runs on CPU worker_cpus[i % size]; empty = wherever the scheduler puts it.
  std::vector<std::uint32_t> worker_cpus;
};

struct DimensionSet {
  std::string name;
  std::vector<std::string> labels;
  std::uint8_t ipv4_prefix = 32;
  std::uint8_t ipv6_prefix = 128;
};

struct Metrics {
  std::string address = "0.0.0.0";  // IPv4: Debian 12's civetweb (under prometheus-cpp) has no IPv6
  std::uint16_t port = 9469;
  std::string path = "/metrics";
  std::string name_space;  // YAML key `namespace`
  std::string subsystem;
  std::vector<DimensionSet> dimensions = {{"protocol", {"exporter", "protocol"}, 32, 128}};
  std::vector<std::uint64_t> windows_ns = {60'000'000'000ULL, 300'000'000'000ULL, 900'000'000'000ULL,
                                           3'600'000'000'000ULL};
  std::uint32_t series_budget = 10000;
  bool bandwidth_bps = false;
};

enum class AsSource : std::uint8_t { flow, geoip };

struct Enrichment {
  std::string city_database;  // GeoIP2/GeoLite2 City or Country
  std::string asn_database;   // GeoLite2-ASN
  std::uint32_t cache_size = 65536;
  bool watch = true;  // reopen a database when its file is replaced
  std::uint64_t check_interval_ns = 60'000'000'000ULL;
  std::uint64_t max_age_ns = 30ULL * 86400 * 1'000'000'000ULL;
  bool country = false;
  bool city = false;
  bool asn = false;
  bool as_org = false;
  AsSource as_source = AsSource::flow;  // who wins when the export carries src/dst AS
};

// Process attribution in `flowpulse run`: the capture sources' traffic charged to local processes,
// exported as flow_process_* metrics.
struct Attribution {
  bool enabled = false;
  std::uint32_t history_seconds = 60;  // per-process per-second history kept
  std::uint32_t max_processes = 100;   // processes exported as series (the top ones by bytes)
};

struct Logging {
  log::Level level = log::Level::info;
  log::Format format = log::Format::logfmt;
  std::uint64_t rate_limit_interval_ns = 10'000'000'000ULL;
  std::uint32_t rate_limit_burst = 5;
};

struct Config {
  std::string source;  // the file it came from
  std::vector<Listener> listeners = {
      {decode::Protocol::netflow9, "::", 2055, "", 32ULL << 20},
      {decode::Protocol::netflow5, "::", 2056, "", 32ULL << 20},
      {decode::Protocol::ipfix, "::", 4739, "", 32ULL << 20},
      {decode::Protocol::sflow5, "::", 6343, "", 32ULL << 20},
  };
  Capture capture;
  Performance performance;
  decode::Limits decode;
  Metrics metrics;
  Enrichment enrichment;
  Attribution attribution;
  Logging logging;
};

// The label names `metrics.dimensions[].labels` accepts.
const std::vector<std::string_view>& known_labels();

core::Result<Config> load_file(const std::string& path);
// `name` stands for the file in error messages.
core::Result<Config> load_string(std::string_view yaml, const std::string& name = "<string>");

// The effective configuration as YAML (what `flowpulse check-config` prints); loading it again
// gives the same Config.
std::string to_yaml(const Config& config);

// "1h", "5m", "30s", "250ms" (the shortest exact form).
std::string format_duration(std::uint64_t ns);

}  // namespace flowpulse::config
