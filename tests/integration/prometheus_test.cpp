// A real Prometheus server (Debian's `prometheus`) scrapes a running flowpulse, and `promtool check
// metrics` finds nothing to say about what /metrics serves.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>

#include <regex>
#include <set>
#include <thread>

#include "test_support.hpp"

namespace flowpulse {
namespace {

using test::Process;
using test::TempDir;

class WithPrometheus : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* tool : {"prometheus", "promtool"}) {
      if (!test::have_tool(tool)) {
        if (test::in_ci()) FAIL() << tool << " is not installed (scripts/deps installs it)";
        GTEST_SKIP() << tool << " is not installed";
      }
    }
    metrics_port_ = test::free_port(SOCK_STREAM);
    test::write_file(
        dir_ / "flowpulse.yaml",
        "listeners:\n  - {protocol: ipfix, port: " + std::to_string(test::free_port(SOCK_DGRAM)) +
            "}\nmetrics: {address: 127.0.0.1, port: " + std::to_string(metrics_port_) + "}\n");
    flowpulse_ =
        std::make_unique<Process>(std::vector<std::string>{test::flowpulse_binary(), "run", "--config",
                                                           (dir_ / "flowpulse.yaml").string()},
                                  dir_.path(), "flowpulse");
    ASSERT_TRUE(flowpulse_->wait_for_output("flowpulse started", 10'000)) << flowpulse_->err();
  }

  TempDir dir_;
  std::uint16_t metrics_port_ = 0;
  std::unique_ptr<Process> flowpulse_;
};

// Returns the value of the first sample of an instant query, or "" while there is none.
std::string query(std::uint16_t port, const std::string& promql) {
  std::string q;
  for (char c : promql) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '_') {
      q.push_back(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", static_cast<unsigned char>(c));
      q += buf;
    }
  }
  auto r = test::http_get("127.0.0.1", port, "/api/v1/query?query=" + q);
  // {"status":"success","data":{"resultType":"vector","result":[{"metric":{...},"value":[1700000000.1,"1"]}]}}
  auto at = r.body.find("\"value\":[");
  if (r.status != 200 || at == std::string::npos) return "";
  auto open = r.body.find('"', r.body.find(',', at));
  return r.body.substr(open + 1, r.body.find('"', open + 1) - open - 1);
}

TEST_F(WithPrometheus, ScrapesFlowpulse) {
  const std::uint16_t prom_port = test::free_port(SOCK_STREAM);
  test::write_file(dir_ / "prometheus.yml",
                   "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: flowpulse\n"
                   "    static_configs:\n      - targets: ['127.0.0.1:" +
                       std::to_string(metrics_port_) + "']\n");
  Process prom({"prometheus", "--config.file=" + (dir_ / "prometheus.yml").string(),
                "--storage.tsdb.path=" + (dir_ / "tsdb").string(),
                "--web.listen-address=127.0.0.1:" + std::to_string(prom_port)},
               dir_.path(), "prometheus");
  std::string up, build;
  for (int i = 0; i < 300 && (up != "1" || build != "1"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    up = query(prom_port, "up{job=\"flowpulse\"}");
    build = query(prom_port, "flowpulse_build_info{job=\"flowpulse\"}");
  }
  EXPECT_EQ(up, "1") << prom.err();
  EXPECT_EQ(build, "1");
  // Prometheus saw the uptime grow between scrapes.
  std::string uptime = query(prom_port, "flowpulse_uptime_seconds{job=\"flowpulse\"}");
  ASSERT_FALSE(uptime.empty());
  EXPECT_GT(std::stod(uptime), 0.0);
  prom.signal(SIGTERM);
  EXPECT_EQ(prom.wait(20'000), 0);
}

TEST_F(WithPrometheus, PromtoolFindsNothingToSay) {
  auto r = test::http_get("127.0.0.1", metrics_port_, "/metrics");
  ASSERT_EQ(r.status, 200);
  test::write_file(dir_ / "metrics.txt", r.body);
  auto check = test::run({"sh", "-c", "promtool check metrics < " + (dir_ / "metrics.txt").string()});
  EXPECT_EQ(check.code, 0) << check.out << check.err;
  EXPECT_EQ(check.out + check.err, "");
}

TEST_F(WithPrometheus, ExampleRulesAreValid) {
  auto check = test::run(
      {"promtool", "check", "rules", (test::source_root() / "config/prometheus/rules.yml").string()});
  EXPECT_EQ(check.code, 0) << check.out << check.err;
  EXPECT_NE(check.out.find("SUCCESS"), std::string::npos) << check.out;
}

// Every flowpulse metric the examples use (queries, rules, dashboard) is one flowpulse serves, so
// the examples cannot drift from the code.
TEST_F(WithPrometheus, ExamplesUseOnlyMetricsFlowpulseServes) {
  auto r = test::http_get("127.0.0.1", metrics_port_, "/metrics");
  ASSERT_EQ(r.status, 200);
  auto e = test::parse_exposition(r.body);
  ASSERT_TRUE(e);
  std::set<std::string> served;
  for (const auto& [name, type] : e->types) served.insert(name);
  // A metric name, not part of a recording rule's name (level:metric:operations).
  const std::regex metric(R"((?:^|[^:a-z_])(flow_[a-z_]+|flowpulse_[a-z_]+)(?![:a-z_]))");
  std::size_t checked = 0;
  for (const char* file :
       {"config/prometheus/queries.md", "config/prometheus/rules.yml", "config/grafana/flowpulse.json"}) {
    const std::string text = test::read_text(test::source_root() / file);
    for (auto it = std::sregex_iterator(text.begin(), text.end(), metric); it != std::sregex_iterator();
         ++it) {
      std::string name = (*it)[1];
      if (name.ends_with("_bucket")) name.resize(name.size() - 7);
      ++checked;
      EXPECT_TRUE(served.count(name)) << file << " uses " << name << ", which /metrics does not serve";
    }
  }
  EXPECT_GT(checked, 20u);
}

}  // namespace
}  // namespace flowpulse
