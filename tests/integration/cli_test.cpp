// The real flowpulse binary: commands and their help, one-line errors and exit 2 for bad config
// files, and `run` serving /metrics with the configured namespace, taking flow exports on a dual-stack
// listener, reloading on SIGHUP, and stopping cleanly on SIGTERM/SIGINT.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "test_support.hpp"

namespace flowpulse {
namespace {

using test::Process;
using test::TempDir;

std::size_t count_lines(const std::string& s) {
  std::size_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

TEST(Cli, HelpListsCommandsAndEachCommandHasHelp) {
  auto r = test::run({test::flowpulse_binary(), "help"});
  EXPECT_EQ(r.code, 0);
  for (const char* cmd : {"run", "check-config", "decode", "version"}) {
    EXPECT_NE(r.out.find(std::string("  ") + cmd + " "), std::string::npos) << cmd;
    auto h = test::run({test::flowpulse_binary(), cmd, "--help"});
    EXPECT_EQ(h.code, 0) << cmd;
    EXPECT_NE(h.out.find(std::string("usage: flowpulse ") + cmd), std::string::npos) << cmd << ": " << h.out;
  }
  auto bad = test::run({test::flowpulse_binary(), "frobnicate"});
  EXPECT_EQ(bad.code, 2);
  EXPECT_EQ(bad.err, "flowpulse: unknown command 'frobnicate'; see 'flowpulse help'\n");
  EXPECT_EQ(test::run({test::flowpulse_binary()}).code, 2);
}

TEST(Cli, VersionPrintsTheProjectVersion) {
  auto r = test::run({test::flowpulse_binary(), "version"});
  EXPECT_EQ(r.code, 0);
  // The version is the one in meson.build's project() call.
  std::string meson = test::read_text(test::source_root() / "meson.build");
  auto at = meson.find("version: '");
  ASSERT_NE(at, std::string::npos);
  std::string version = meson.substr(at + 10, meson.find('\'', at + 10) - at - 10);
  EXPECT_EQ(r.out.rfind("flowpulse " + version + " (", 0), 0u) << r.out;
}

struct BadFile {
  const char* name;
  const char* yaml;     // nullptr: the file does not exist
  const char* message;  // after "flowpulse: FILE"
};

class CheckConfigBad : public ::testing::TestWithParam<BadFile> {};

// check-config and run both refuse the file with one line on stderr and exit 2.
TEST_P(CheckConfigBad, OneLineErrorAndExit2) {
  TempDir dir;
  auto file = dir / "flowpulse.yaml";
  if (GetParam().yaml != nullptr) test::write_file(file, GetParam().yaml);
  for (const char* cmd : {"check-config", "run"}) {
    std::vector<std::string> argv = {test::flowpulse_binary(), cmd};
    if (std::string(cmd) == "run") argv.push_back("--config");
    argv.push_back(file.string());
    auto r = test::run(argv, 10'000);
    EXPECT_EQ(r.code, 2) << cmd << ": " << r.err;
    EXPECT_EQ(count_lines(r.err), 1u) << cmd << ": " << r.err;
    EXPECT_EQ(r.err.rfind("flowpulse: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(GetParam().message), std::string::npos) << cmd << ": " << r.err;
    EXPECT_NE(r.err.find(file.string()), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "");
  }
}

INSTANTIATE_TEST_SUITE_P(
    Kinds, CheckConfigBad,
    ::testing::Values(
        BadFile{"missing_file", nullptr, "cannot read config file"},
        BadFile{"bad_yaml", "metrics: [1, 2\n", "invalid YAML"},
        BadFile{"unknown_key", "logging:\n  colour: red\n", ":2:3: logging.colour: unknown key"},
        BadFile{"wrong_type", "performance:\n  workers: many\n",
                ":2:12: performance.workers: expected an integer"},
        BadFile{"bad_port", "metrics:\n  port: 65536\n",
                ":2:9: metrics.port: expected an integer from 1 to 65535"},
        BadFile{"negative_port", "listeners:\n  - {protocol: sflow, port: -1}\n",
                "listeners[0].port: expected an integer"},
        BadFile{"bad_protocol", "listeners:\n  - {protocol: jflow, port: 2055}\n",
                "listeners[0].protocol: expected one of"},
        BadFile{"map_for_list", "listeners: {protocol: ipfix}\n",
                ":1:12: listeners: expected a list, got a map"},
        BadFile{"bad_address", "metrics:\n  address: localhost\n",
                "metrics.address: expected an IPv4 or IPv6 address"},
        BadFile{"bad_duration", "performance:\n  tick: 10\n", "performance.tick: expected a duration"},
        BadFile{"bad_format", "logging: {format: xml}\n",
                "logging.format: expected one of: text, logfmt, json"},
        BadFile{"bad_path", "metrics: {path: metrics}\n", "metrics.path: expected a path starting with '/'"},
        BadFile{"duplicate_listener",
                "listeners:\n  - {protocol: ipfix, port: 9}\n  - {protocol: sflow, port: 9}\n",
                "listeners[1]: a listener on :: port 9 is already configured"},
        BadFile{"not_a_map", "just a string\n", ":1:1: : expected a map, got 'just a string'"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Cli, CheckConfigPrintsTheEffectiveConfig) {
  TempDir dir;
  test::write_file(dir / "c.yaml", "metrics: {port: 9999}\n");
  auto r = test::run({test::flowpulse_binary(), "check-config", (dir / "c.yaml").string()});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("  port: 9999\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  - protocol: sflow\n"), std::string::npos);  // defaults filled in
  auto q = test::run({test::flowpulse_binary(), "check-config", "--quiet", (dir / "c.yaml").string()});
  EXPECT_EQ(q.code, 0);
  EXPECT_EQ(q.out, "");
}

// A running flowpulse on free ports, with namespace "fptest".
class Running : public ::testing::Test {
 protected:
  void SetUp() override {
    metrics_port_ = test::free_port(SOCK_STREAM);
    udp_port_ = test::free_port(SOCK_DGRAM);
    config_ = dir_ / "flowpulse.yaml";
    write_config("info");
    proc_ = std::make_unique<Process>(
        std::vector<std::string>{test::flowpulse_binary(), "run", "--config", config_.string()}, dir_.path(),
        "flowpulse");
    ASSERT_TRUE(proc_->wait_for_output("flowpulse started", 10'000)) << proc_->err();
  }
  void write_config(const std::string& level) {
    test::write_file(
        config_, "listeners:\n  - {protocol: netflow9, address: \"::\", port: " + std::to_string(udp_port_) +
                     "}\nmetrics:\n  port: " + std::to_string(metrics_port_) +
                     "\n  namespace: fptest\nlogging:\n  level: " + level + "\n");
  }
  test::Exposition scrape(const std::string& host = "127.0.0.1") {
    auto r = test::http_get(host, metrics_port_, "/metrics");
    EXPECT_EQ(r.status, 200);
    std::string error;
    auto e = test::parse_exposition(r.body, &error);
    EXPECT_TRUE(e.has_value()) << "not Prometheus text format: " << error;
    return e.value_or(test::Exposition{});
  }

  TempDir dir_;
  std::filesystem::path config_;
  std::uint16_t metrics_port_ = 0;
  std::uint16_t udp_port_ = 0;
  std::unique_ptr<Process> proc_;
};

TEST_F(Running, ServesMetricsWithTheNamespace) {
  auto v4 = scrape("127.0.0.1");
  EXPECT_EQ(v4.sum("fptest_flowpulse_build_info"), 1.0);
  auto version = test::run({test::flowpulse_binary(), "version"}).out;  // "flowpulse X (..."
  std::string expected_version = version.substr(10, version.find(' ', 10) - 10);
  bool labelled = false;
  for (const auto& s : v4.samples) {
    if (s.name == "fptest_flowpulse_build_info") labelled = s.label("version") == expected_version;
    // Every flowpulse metric carries the namespace; exposer_* are prometheus-cpp's own.
    if (s.name.rfind("exposer_", 0) != 0) {
      EXPECT_EQ(s.name.rfind("fptest_", 0), 0u) << s.name;
    }
  }
  EXPECT_TRUE(labelled);
  double up1 = v4.sum("fptest_flowpulse_uptime_seconds");
  EXPECT_GT(up1, 0.0);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_GT(scrape().sum("fptest_flowpulse_uptime_seconds"), up1 + 0.2);
  auto other_path = test::http_get("127.0.0.1", metrics_port_, "/nope");
  EXPECT_EQ(other_path.status, 404);
}

TEST_F(Running, SighupReloadsAndCountsOutcomes) {
  write_config("debug");
  proc_->signal(SIGHUP);
  ASSERT_TRUE(proc_->wait_for_output("config reloaded", 5000)) << proc_->err();
  EXPECT_EQ(scrape().sum("fptest_flowpulse_config_reloads_total", {{"outcome", "success"}}), 1.0);
  test::write_file(config_, "metrics: {port: nope}\n");
  proc_->signal(SIGHUP);
  ASSERT_TRUE(proc_->wait_for_output("config reload failed", 5000)) << proc_->err();
  auto e = scrape();
  EXPECT_EQ(e.sum("fptest_flowpulse_config_reloads_total", {{"outcome", "failure"}}), 1.0);
  EXPECT_EQ(e.sum("fptest_flowpulse_config_reloads_total", {{"outcome", "success"}}), 1.0);
  EXPECT_TRUE(proc_->running());
}

TEST_F(Running, StopsCleanlyOnSigtermAndSigint) {
  proc_->signal(SIGTERM);
  EXPECT_EQ(proc_->wait(10'000), 0) << proc_->err();
  EXPECT_NE(proc_->err().find("flowpulse stopped"), std::string::npos);
  EXPECT_EQ(test::http_get("127.0.0.1", metrics_port_, "/metrics", 1000).status, 0);  // endpoint closed
  // The listener's port is free again: a new instance starts on the same ports and stops on SIGINT.
  Process again({test::flowpulse_binary(), "run", "--config", config_.string()}, dir_.path(), "again");
  ASSERT_TRUE(again.wait_for_output("flowpulse started", 10'000)) << again.err();
  again.signal(SIGINT);
  EXPECT_EQ(again.wait(10'000), 0) << again.err();
}

TEST_F(Running, APortInUseIsAClearErrorAtStart) {
  // A second instance on the same metrics port fails with a message naming it.
  Process second({test::flowpulse_binary(), "run", "--config", config_.string()}, dir_.path(), "second");
  EXPECT_EQ(second.wait(10'000), 1);
  EXPECT_NE(second.err().find("cannot serve metrics on 0.0.0.0:" + std::to_string(metrics_port_)),
            std::string::npos)
      << second.err();
}

// The README's run command, as a user types it: scripts/run builds (already built here) and runs
// the default config: /metrics on 0.0.0.0:9469 and the four listeners of config/flowpulse.yaml.
TEST(Cli, ScriptsRunServesMetricsOnTheDefaultConfig) {
  // The default ports must be free (a real collector on this machine would hold them).
  auto port_free = [](int type, std::uint16_t port) {
    const int fd = ::socket(AF_INET, type, 0);
    const int one = 1;  // as civetweb does: a connection in TIME_WAIT does not make the port busy
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
  };
  if (!port_free(SOCK_STREAM, 9469) || !port_free(SOCK_DGRAM, 2055)) {
    if (test::in_ci()) FAIL() << "the default ports 9469/tcp or 2055/udp are taken";
    GTEST_SKIP() << "the default ports are taken";
  }
  TempDir dir;
  Process run({(test::source_root() / "scripts" / "run").string()}, dir.path(), "scripts-run");
  ASSERT_TRUE(run.wait_for_output("flowpulse started", 300'000)) << run.err();
  auto r = test::http_get("127.0.0.1", 9469, "/metrics");
  ASSERT_EQ(r.status, 200);
  auto e = test::parse_exposition(r.body);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->sum("flowpulse_build_info"), 1.0);
  for (const char* protocol : {"netflow9", "netflow5", "ipfix", "sflow"}) {
    EXPECT_EQ(e->sum("flow_received_packets_total", {{"protocol", protocol}}), 0.0);
    bool present = false;
    for (const auto& s : e->samples)
      present |= s.name == "flow_received_packets_total" && s.label("protocol") == protocol;
    EXPECT_TRUE(present) << protocol;
  }
  run.signal(SIGINT);
  EXPECT_EQ(run.wait(20'000), 0) << run.err();
}

}  // namespace
}  // namespace flowpulse
