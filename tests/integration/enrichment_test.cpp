// The collector with GeoIP/ASN enrichment, end to end: the real binary with MaxMind's test
// databases, NetFlow v5 from the test, labels read from /metrics. A database replaced by atomic
// rename while traffic flows changes the labels without a restart and without losing a record; a
// broken replacement is refused and the old database keeps answering; a broken file at start is a
// clear error.
//
// Expected labels (independent source, mmdblookup from Debian's mmdb-bin):
//   mmdblookup --file GeoIP2-City-Test.mmdb --ip 81.2.69.160 country iso_code   -> "GB"
//   mmdblookup --file GeoIP2-City-Test.mmdb --ip 81.2.69.160 city names en      -> "London"
//   mmdblookup --file GeoIP2-Country-Test.mmdb --ip 81.2.69.160 country iso_code -> "GB" (no city record)
//   mmdblookup --file GeoLite2-ASN-Test.mmdb --ip 1.128.0.1 autonomous_system_number       -> 1221
//   mmdblookup --file GeoLite2-ASN-Test.mmdb --ip 1.128.0.1 autonomous_system_organization -> "Telstra Pty
//   Ltd"
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "netflow_builder.hpp"
#include "test_support.hpp"

namespace flowpulse {
namespace {

using test::Process;
using test::TempDir;

constexpr std::uint32_t london = 0x510245a0;   // 81.2.69.160
constexpr std::uint32_t telstra = 0x01800001;  // 1.128.0.1

class Enrichment : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto mmdb = test::shared_data() / "mmdb";
    std::filesystem::copy_file(mmdb / "GeoIP2-City-Test.mmdb", dir_ / "city.mmdb");
    std::filesystem::copy_file(mmdb / "GeoLite2-ASN-Test.mmdb", dir_ / "asn.mmdb");
    metrics_port_ = test::free_port(SOCK_STREAM);
    udp_port_ = test::free_port(SOCK_DGRAM);
  }
  std::string config(const std::string& city_path) {
    return "listeners:\n  - {protocol: netflow5, address: 127.0.0.1, port: " + std::to_string(udp_port_) +
           "}\nperformance: {workers: 2, tick: 100ms}\nmetrics:\n  port: " + std::to_string(metrics_port_) +
           "\n  windows: [1s]\n  dimensions:\n    - {name: geo, labels: [src_country, src_city, dst_asn, "
           "dst_as_org]}\n"
           "enrichment:\n  city_database: " +
           city_path + "\n  asn_database: " + (dir_ / "asn.mmdb").string() +
           "\n  check_interval: 1s\n  labels: {country: true, city: true, asn: true, as_org: true}\n";
  }
  std::unique_ptr<Process> start() {
    test::write_file(dir_ / "flowpulse.yaml", config((dir_ / "city.mmdb").string()));
    auto p = std::make_unique<Process>(std::vector<std::string>{test::flowpulse_binary(), "run", "--config",
                                                                (dir_ / "flowpulse.yaml").string()},
                                       dir_.path(), "flowpulse");
    EXPECT_TRUE(p->wait_for_output("flowpulse started", 10'000)) << p->err();
    return p;
  }
  test::Exposition scrape() {
    auto r = test::http_get("127.0.0.1", metrics_port_, "/metrics");
    auto e = test::parse_exposition(r.body);
    EXPECT_TRUE(e.has_value());
    return e.value_or(test::Exposition{});
  }
  // Sends `n` datagrams of one record each (81.2.69.160 -> 1.128.0.1, 1 packet, 100 bytes).
  void send(int n, int per_second) {
    int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(udp_port_);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < n; ++i) {
      const auto d = test::netflow5_datagram({{london, telstra, 40000, 443, 6, 1, 100}},
                                             static_cast<std::uint32_t>(sent_));
      ::sendto(fd, d.data(), d.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
      ++sent_;
      std::this_thread::sleep_for(std::chrono::microseconds(1'000'000 / per_second));
    }
    ::close(fd);
  }
  // Waits until /metrics counts every record sent, and returns that scrape.
  test::Exposition settled() {
    test::Exposition e;
    for (int i = 0; i < 100; ++i) {
      e = scrape();
      if (e.sum("flow_flows_total") == sent_) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return e;
  }
  // Replaces the city database the way geoipupdate does: write beside it, then rename over it.
  void replace_city_db(const std::filesystem::path& with) {
    std::filesystem::copy_file(with, dir_ / "city.mmdb.new");
    std::filesystem::rename(dir_ / "city.mmdb.new", dir_ / "city.mmdb");
  }

  TempDir dir_;
  std::uint16_t metrics_port_ = 0;
  std::uint16_t udp_port_ = 0;
  int sent_ = 0;
};

TEST_F(Enrichment, LabelsComeFromTheDatabases) {
  auto p = start();
  send(20, 1000);
  auto e = settled();
  const std::vector<std::pair<std::string, std::string>> labels = {
      {"src_country", "GB"}, {"src_city", "London"}, {"dst_asn", "1221"}, {"dst_as_org", "Telstra Pty Ltd"}};
  EXPECT_EQ(e.sum("flow_flows_total", labels), 20.0);
  EXPECT_EQ(e.sum("flow_bytes_total", labels), 2000.0);
  EXPECT_EQ(e.sum("flow_flows_total"), 20.0);  // nothing elsewhere
  // The lookups ran on merged keys: far fewer than records (one key per tick and worker at most).
  const double lookups = e.sum("flow_enrich_lookups_total");
  EXPECT_GT(lookups, 0.0);
  EXPECT_LT(lookups, 20.0 * 2);
  bool city = false, asn = false;
  for (const auto& s : e.samples) {
    if (s.name != "flow_enrich_database_info") continue;
    city |= s.label("kind") == "city" && s.label("type") == "GeoIP2-City";
    asn |= s.label("kind") == "asn" && s.label("type") == "GeoLite2-ASN";
  }
  EXPECT_TRUE(city && asn);
}

TEST_F(Enrichment, ReplacedDatabaseChangesLabelsWithoutRestartOrLoss) {
  auto p = start();
  const int pid = p->pid();
  // Traffic flows before, during and after the replacement: 3 s at 400 datagrams/s.
  std::thread sender([this] { send(1200, 400); });
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  replace_city_db(test::shared_data() / "mmdb" / "GeoIP2-Country-Test.mmdb");  // GB, but no city
  sender.join();
  auto e = settled();
  const double london_flows = e.sum("flow_flows_total", {{"src_city", "London"}});
  const double no_city = e.sum("flow_flows_total", {{"src_country", "GB"}, {"src_city", "unknown"}});
  EXPECT_GT(london_flows, 0.0);  // before the replacement
  EXPECT_GT(no_city, 0.0);       // after it: the new database has no city for this address
  EXPECT_EQ(london_flows + no_city, 1200.0) << "a record was lost or double counted across the reload";
  EXPECT_EQ(e.sum("flow_flows_total"), 1200.0);
  EXPECT_EQ(e.sum("flow_enrich_reloads_total", {{"outcome", "success"}}), 1.0);
  EXPECT_EQ(e.sum("flow_enrich_reloads_total", {{"outcome", "failure"}}), 0.0);
  EXPECT_TRUE(p->running());
  EXPECT_EQ(p->pid(), pid);
  EXPECT_NE(p->err().find("enrichment database reloaded"), std::string::npos);
}

TEST_F(Enrichment, BrokenReplacementIsRefusedAndTheOldDatabaseStays) {
  auto p = start();
  test::write_file(dir_ / "broken", std::string(4096, '\xff'));
  replace_city_db(dir_ / "broken");
  // The file is checked every second; wait for the refusal to be counted.
  double failures = 0;
  for (int i = 0; i < 50 && failures == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    failures = scrape().sum("flow_enrich_reloads_total", {{"outcome", "failure"}});
  }
  EXPECT_EQ(failures, 1.0) << p->err();
  send(10, 1000);
  auto e = settled();
  EXPECT_EQ(e.sum("flow_flows_total", {{"src_city", "London"}}), 10.0);  // the old database answers
  EXPECT_TRUE(p->running());
  // SIGHUP forces a reload attempt of both databases: the broken city file fails again, the ASN
  // file reloads.
  p->signal(SIGHUP);
  ASSERT_TRUE(p->wait_for_output("config reloaded", 5000));
  for (int i = 0; i < 50; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (scrape().sum("flow_enrich_reloads_total", {{"outcome", "success"}}) >= 1.0) break;
  }
  e = scrape();
  EXPECT_EQ(e.sum("flow_enrich_reloads_total", {{"outcome", "success"}}), 1.0) << p->err();
  EXPECT_EQ(e.sum("flow_enrich_reloads_total", {{"outcome", "failure"}}), 2.0) << p->err();
}

TEST_F(Enrichment, BrokenDatabaseAtStartIsAClearError) {
  test::write_file(dir_ / "city.mmdb", "not a database");
  test::write_file(dir_ / "flowpulse.yaml", config((dir_ / "city.mmdb").string()));
  auto r =
      test::run({test::flowpulse_binary(), "run", "--config", (dir_ / "flowpulse.yaml").string()}, 10'000);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("enrichment.city_database"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find((dir_ / "city.mmdb").string()), std::string::npos) << r.err;
  test::write_file(dir_ / "flowpulse.yaml", config((dir_ / "missing.mmdb").string()));
  r = test::run({test::flowpulse_binary(), "run", "--config", (dir_ / "flowpulse.yaml").string()}, 10'000);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("No such file or directory"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace flowpulse
