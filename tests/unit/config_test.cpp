// Config loading: the documented default file equals the built-in defaults, the effective config
// printed by check-config loads back to the same thing, and each kind of mistake gives one clear
// message with file, line and column.
#include <gtest/gtest.h>

#include "config/config.hpp"
#include "test_support.hpp"

namespace flowpulse {
namespace {

TEST(Config, DocumentedDefaultFileEqualsBuiltInDefaults) {
  auto c = config::load_file((test::source_root() / "config" / "flowpulse.yaml").string());
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(config::to_yaml(*c), config::to_yaml(config::Config{}));
  ASSERT_EQ(c->listeners.size(), 4u);
  EXPECT_EQ(c->listeners[0].port, 2055);
  EXPECT_EQ(c->listeners[0].protocol, decode::Protocol::netflow9);
  EXPECT_EQ(c->listeners[3].protocol, decode::Protocol::sflow5);
  EXPECT_EQ(c->listeners[0].receive_buffer, 32u << 20);
  EXPECT_EQ(c->metrics.windows_ns.size(), 4u);
}

TEST(Config, EffectiveConfigRoundTrips) {
  auto c = config::load_string(R"(
listeners:
  - {protocol: ipfix, address: 0.0.0.0, port: 14739, interface: lo, receive_buffer: 4MiB}
capture:
  sources:
    - {type: dpdk, eal_args: [--no-huge, -m, "512"], queues: [0, 1]}
    - {type: pcap_file, file: /tmp/x.pcap}
  filter: "udp port 2055"
  idle_timeout: 2m
performance: {workers: 2, batch_size: 32, tick: 500ms, worker_cpus: [1, 0]}
decode: {max_templates_per_exporter: 10, pending_timeout: 5s}
metrics:
  namespace: netops
  subsystem: edge
  windows: [30s, 2m]
  dimensions:
    - {name: talkers, labels: [src_addr, dst_addr], ipv4_prefix: 24, ipv6_prefix: 64}
enrichment: {asn_database: /var/lib/GeoIP/GeoLite2-ASN.mmdb, labels: {asn: true}, as_source: geoip}
logging: {level: debug, format: json}
)");
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c->listeners[0].receive_buffer, 4u << 20);
  EXPECT_EQ(c->performance.tick_ns, 500'000'000u);
  EXPECT_EQ(c->performance.worker_cpus, (std::vector<std::uint32_t>{1, 0}));
  EXPECT_EQ(c->metrics.windows_ns[1], 120'000'000'000u);
  EXPECT_EQ(c->metrics.dimensions[0].ipv4_prefix, 24);
  EXPECT_EQ(c->capture.sources[0].eal_args.size(), 3u);
  EXPECT_EQ(c->capture.idle_timeout_ns, 120'000'000'000u);
  EXPECT_EQ(c->enrichment.as_source, config::AsSource::geoip);
  EXPECT_EQ(c->logging.format, log::Format::json);
  std::string printed = config::to_yaml(*c);
  auto again = config::load_string(printed);
  ASSERT_TRUE(again.ok()) << again.error() << "\n" << printed;
  EXPECT_EQ(config::to_yaml(*again), printed);
}

TEST(Config, EmptyFileGivesDefaults) {
  auto c = config::load_string("");
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(config::to_yaml(*c), config::to_yaml(config::Config{}));
}

struct BadCase {
  const char* name;
  const char* yaml;
  const char* message;  // the error must contain this
};

class BadConfig : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadConfig, GivesOneLineErrorWithPosition) {
  auto c = config::load_string(GetParam().yaml, "bad.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().find(GetParam().message), std::string::npos) << c.error();
  EXPECT_EQ(c.error().find('\n'), std::string::npos) << c.error();
}

// Line and column are 1-based and point at the offending key or value in the text beside them.
INSTANTIATE_TEST_SUITE_P(
    Kinds, BadConfig,
    ::testing::Values(
        BadCase{"unknown_top_key", "listners: []\n",
                "bad.yaml:1:1: listners: unknown key (expected one of: listeners,"},
        BadCase{"unknown_nested_key", "metrics:\n  portt: 1\n", "bad.yaml:2:3: metrics.portt: unknown key"},
        BadCase{"wrong_type_port", "metrics:\n  port: http\n",
                "bad.yaml:2:9: metrics.port: expected an integer from 1 to 65535, got 'http'"},
        BadCase{"port_out_of_range", "listeners:\n  - {protocol: ipfix, port: 70000}\n",
                "bad.yaml:2:29: listeners[0].port: expected an integer from 1 to 65535, got '70000'"},
        BadCase{"port_zero", "listeners:\n  - {protocol: ipfix, port: 0}\n",
                "listeners[0].port: expected an integer from 1 to 65535"},
        BadCase{"bad_protocol", "listeners:\n  - {protocol: netflow8, port: 2055}\n",
                "bad.yaml:2:16: listeners[0].protocol: expected one of: netflow5, netflow9, ipfix, sflow, "
                "got 'netflow8'"},
        BadCase{"missing_port", "listeners:\n  - {protocol: ipfix}\n", "listeners[0]: missing key 'port'"},
        BadCase{"listeners_not_list", "listeners: 2055\n",
                "bad.yaml:1:12: listeners: expected a list, got '2055'"},
        BadCase{"bad_address", "metrics: {address: 10.0.0.300}\n",
                "metrics.address: expected an IPv4 or IPv6 address"},
        BadCase{"bad_duration", "performance: {tick: 1 second}\n", "performance.tick: expected a duration"},
        BadCase{"idle_timeout_too_short", "capture: {idle_timeout: 500ms}\n",
                "bad.yaml:1:25: capture.idle_timeout: out of range: 500ms (a duration from 1s to 1h"},
        BadCase{"bad_bool", "metrics: {bandwidth_bps: maybe}\n",
                "metrics.bandwidth_bps: expected true or false, got 'maybe'"},
        BadCase{"bad_size", "listeners:\n  - {protocol: sflow, port: 6343, receive_buffer: 12XB}\n",
                "listeners[0].receive_buffer: expected a size in bytes"},
        BadCase{"bad_yaml", "metrics: {port: 1\nlogging: [\n", "bad.yaml:"},
        BadCase{"bad_yaml_tab", "metrics:\n\tport: 1\n", "invalid YAML"},
        BadCase{"unknown_label", "metrics:\n  dimensions:\n    - {name: x, labels: [src_adr]}\n",
                "metrics.dimensions[0].labels[0]: unknown label 'src_adr'"},
        BadCase{"duplicate_listener",
                "listeners:\n  - {protocol: ipfix, port: 4739}\n  - {protocol: netflow9, port: 4739}\n",
                "bad.yaml:3:5: listeners[1]: a listener on :: port 4739 is already configured"},
        BadCase{"window_not_tick_multiple", "performance: {tick: 7s}\nmetrics: {windows: [1m]}\n",
                "metrics.windows: window 1m is not a whole number of ticks"},
        BadCase{"bad_log_level", "logging: {level: verbose}\n",
                "logging.level: expected one of: debug, info, warn, error"},
        BadCase{"workers_too_many", "performance: {workers: 100000}\n",
                "performance.workers: expected an integer from 0 to 256"},
        BadCase{"worker_cpu_negative", "performance: {worker_cpus: [0, -1]}\n",
                "performance.worker_cpus[1]: expected an integer from 0 to 1023"},
        BadCase{"bad_namespace", "metrics: {namespace: net-ops}\n",
                "metrics.namespace: expected a Prometheus name part"},
        BadCase{"source_missing_file", "capture:\n  sources: [{type: pcap_file}]\n",
                "capture.sources[0]: a pcap_file source needs 'file'"},
        BadCase{"enrichment_label_switched_off",
                "metrics:\n  dimensions:\n    - {name: geo, labels: [src_country]}\n",
                "bad.yaml:3:7: metrics.dimensions[0].labels: label 'src_country' needs "
                "enrichment.labels.country: true"},
        BadCase{"enrichment_label_without_database",
                "metrics:\n  dimensions:\n    - {name: geo, labels: [dst_asn]}\nenrichment: {labels: {asn: "
                "true}}\n",
                "label 'dst_asn' needs enrichment.asn_database"},
        BadCase{"nothing_to_receive", "listeners: []\n", "nothing to receive"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Config, MissingFileSaysSo) {
  auto c = config::load_file("/nonexistent/flowpulse.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error(), "cannot read config file '/nonexistent/flowpulse.yaml': No such file or directory");
}

}  // namespace
}  // namespace flowpulse
