// The collector end to end: the real `flowpulse run` binary fed over UDP on loopback.
//
// 1. Real exporters → flowpulse → a real Prometheus server: softflowd (NetFlow v9 and IPFIX) and
//    pmacctd's sfprobe (sFlow v5, sampling rate 1) read a pcap this test writes; a Prometheus server
//    scrapes flowpulse every second, and the totals per 5-tuple read back through Prometheus' HTTP
//    API equal what went into the pcap, counted the way each exporter counts (see exporters_test.cpp).
// 2. A flood of 3 million distinct 5-tuples in NetFlow v9, built here: /metrics stays within the
//    series budget, the totals (including the "other" series) are exact, and the RSS stays flat.
// 3. Malformed datagrams mixed with valid NetFlow v5/v9, IPFIX and sFlow: per listener received =
//    parsed + dropped with the exact count per reason, the valid records all counted, the process
//    still running, and the errors logged rate-limited.
//
// Tests that need a tool skip without it, and fail instead under CI=true.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/ip_address.hpp"
#include "netflow_builder.hpp"
#include "pcap_builder.hpp"
#include "test_support.hpp"

namespace flowpulse {
namespace {

using test::Bytes;
using test::FiveTuple;
using test::ip;
using test::Process;
using test::TempDir;
using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------------------------------------
// Helpers: tools, waiting, wire encoding, UDP, /proc, /metrics, Prometheus' JSON.

// Polls `done` every 100 ms until it holds or `timeout_ms` passes; returns whether it held. The
// callers assert on what they saw afterwards, so a timeout shows the values that were wrong.
bool wait_until(int timeout_ms, const std::function<bool()>& done) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    if (done()) return true;
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

using test::put16;
using test::put32;
using test::put64;
using test::put8;
void set16(Bytes& b, std::size_t at, unsigned v) {
  b[at] = static_cast<std::uint8_t>((v >> 8) & 0xff);
  b[at + 1] = static_cast<std::uint8_t>(v & 0xff);
}
std::uint32_t now_secs() { return static_cast<std::uint32_t>(std::time(nullptr)); }

// A UDP socket on 127.0.0.1 sending to ports on 127.0.0.1.
class UdpSender {
 public:
  UdpSender() {
    fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
    if (fd_ < 0) throw std::runtime_error("socket failed");
    int sndbuf = 4 << 20;
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  }
  ~UdpSender() { ::close(fd_); }
  UdpSender(const UdpSender&) = delete;
  UdpSender& operator=(const UdpSender&) = delete;

  void send(std::uint16_t port, const std::uint8_t* data, std::size_t size) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const ssize_t n = ::sendto(fd_, data, size, 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
    if (n != static_cast<ssize_t>(size)) throw std::runtime_error("sendto failed");
  }
  void send(std::uint16_t port, const Bytes& b) { send(port, b.data(), b.size()); }

 private:
  int fd_ = -1;
};

// Bytes waiting in, and datagrams dropped by, every UDP socket bound to `port` (the workers'
// SO_REUSEPORT sockets; IPv4 and IPv6), from /proc/net/udp{,6}.
struct SocketQueue {
  std::uint64_t queued = 0;
  std::uint64_t drops = 0;
};
SocketQueue udp_queue(std::uint16_t port) {
  SocketQueue q;
  for (const char* file : {"/proc/net/udp", "/proc/net/udp6"}) {
    std::ifstream in(file);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream s(line);
      std::string sl, local, remote, st, queues, tr, retr, uid, timeout, inode, ref, ptr, drops;
      s >> sl >> local >> remote >> st >> queues >> tr >> retr >> uid >> timeout >> inode >> ref >> ptr >>
          drops;
      const auto colon = local.find(':');
      if (colon == std::string::npos || std::stoul(local.substr(colon + 1), nullptr, 16) != port) continue;
      q.queued += std::stoull(queues.substr(queues.find(':') + 1), nullptr, 16);
      q.drops += std::stoull(drops);
    }
  }
  return q;
}

// VmRSS of a process in bytes.
std::uint64_t rss_bytes(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

test::Exposition scrape(std::uint16_t port) {
  const auto r = test::http_get("127.0.0.1", port, "/metrics");
  if (r.status != 200) return {};
  std::string error;
  auto e = test::parse_exposition(r.body, &error);
  if (!e) throw std::runtime_error("/metrics is not valid text format: " + error);
  return *e;
}

// The samples of `name` whose `listener` label is the listener on `port` ("127.0.0.1:PORT",
// "[::]:PORT").
double listener_value(const test::Exposition& e, const std::string& name, std::uint16_t port,
                      const std::vector<std::pair<std::string, std::string>>& match = {}) {
  const std::string suffix = ":" + std::to_string(port);
  double total = 0;
  for (const auto& s : e.samples) {
    if (s.name != name) continue;
    const std::string l = s.label("listener");
    if (l.size() < suffix.size() || l.compare(l.size() - suffix.size(), suffix.size(), suffix) != 0) continue;
    bool all = true;
    for (const auto& [k, v] : match) all = all && s.label(k) == v;
    if (all) total += s.value;
  }
  return total;
}

std::size_t count_samples(const test::Exposition& e, const std::string& name,
                          const std::vector<std::pair<std::string, std::string>>& match = {}) {
  std::size_t n = 0;
  for (const auto& s : e.samples) {
    if (s.name != name) continue;
    bool all = true;
    for (const auto& [k, v] : match) all = all && s.label(k) == v;
    n += all ? 1 : 0;
  }
  return n;
}

std::unique_ptr<Process> start_flowpulse(const TempDir& dir, const std::string& yaml,
                                         const std::string& name) {
  const auto path = dir / (name + ".yaml");
  test::write_file(path, yaml);
  auto p = std::make_unique<Process>(
      std::vector<std::string>{test::flowpulse_binary(), "run", "--config", path.string()}, dir.path(), name);
  if (!p->wait_for_output("flowpulse started", 15'000)) {
    ADD_FAILURE() << name << " did not start: " << p->err();
    return nullptr;
  }
  return p;
}

// Just enough JSON to read Prometheus' query answers.
struct Json {
  enum class Kind { null, boolean, number, string, array, object } kind = Kind::null;
  double number = 0;
  std::string text;
  std::vector<Json> items;
  // An object's members as two parallel vectors: std::pair<std::string, Json> would need Json
  // complete here, which libc++/clang enforce.
  std::vector<std::string> keys;
  std::vector<Json> values;

  const Json* get(const std::string& key) const {
    for (std::size_t i = 0; i < keys.size(); ++i) {
      if (keys[i] == key) return &values[i];
    }
    return nullptr;
  }
};

class JsonParser {
 public:
  explicit JsonParser(const std::string& s) : s_(s) {}
  Json parse() {
    Json v = value();
    ws();
    if (i_ != s_.size()) fail();
    return v;
  }

 private:
  [[noreturn]] void fail() const { throw std::runtime_error("bad JSON at " + std::to_string(i_)); }
  void ws() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  char peek() {
    ws();
    if (i_ >= s_.size()) fail();
    return s_[i_];
  }
  void expect(char c) {
    if (peek() != c) fail();
    ++i_;
  }
  std::string string() {
    expect('"');
    std::string out;
    while (i_ < s_.size() && s_[i_] != '"') {
      char c = s_[i_++];
      if (c == '\\') {
        if (i_ >= s_.size()) fail();
        c = s_[i_++];
        switch (c) {
          case 'n': out.push_back('\n'); break;
          case 't': out.push_back('\t'); break;
          case 'u': {  // label values here are ASCII; keep the escape readable
            out += "\\u" + s_.substr(i_, 4);
            i_ += 4;
            break;
          }
          default: out.push_back(c);
        }
      } else {
        out.push_back(c);
      }
    }
    expect('"');
    return out;
  }
  Json value() {
    Json v;
    const char c = peek();
    if (c == '{') {
      v.kind = Json::Kind::object;
      ++i_;
      if (peek() == '}') {
        ++i_;
        return v;
      }
      for (;;) {
        std::string k = string();
        expect(':');
        v.keys.push_back(std::move(k));
        v.values.push_back(value());
        if (peek() == ',') {
          ++i_;
          continue;
        }
        expect('}');
        return v;
      }
    }
    if (c == '[') {
      v.kind = Json::Kind::array;
      ++i_;
      if (peek() == ']') {
        ++i_;
        return v;
      }
      for (;;) {
        v.items.push_back(value());
        if (peek() == ',') {
          ++i_;
          continue;
        }
        expect(']');
        return v;
      }
    }
    if (c == '"') {
      v.kind = Json::Kind::string;
      v.text = string();
      return v;
    }
    for (const char* word : {"true", "false", "null"}) {
      if (s_.compare(i_, std::strlen(word), word) == 0) {
        i_ += std::strlen(word);
        v.kind = word[0] == 'n' ? Json::Kind::null : Json::Kind::boolean;
        v.number = word[0] == 't' ? 1 : 0;
        return v;
      }
    }
    const char* start = s_.c_str() + i_;
    char* end = nullptr;
    v.kind = Json::Kind::number;
    v.number = std::strtod(start, &end);
    if (end == start) fail();
    i_ += static_cast<std::size_t>(end - start);
    return v;
  }

  const std::string& s_;
  std::size_t i_ = 0;
};

// One series of an instant-query answer.
struct PromSeries {
  std::map<std::string, std::string> labels;
  double value = 0;
};

std::string url_encode(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.') {
      out.push_back(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", static_cast<unsigned char>(c));
      out += buf;
    }
  }
  return out;
}

// Runs an instant query against Prometheus' HTTP API; nullopt when it does not answer (yet).
std::optional<std::vector<PromSeries>> prom_query(std::uint16_t port, const std::string& promql) {
  const auto r = test::http_get("127.0.0.1", port, "/api/v1/query?query=" + url_encode(promql));
  if (r.status != 200) return std::nullopt;
  // {"status":"success","data":{"resultType":"vector","result":[{"metric":{...},"value":[t,"v"]}]}}
  const Json doc = JsonParser(r.body).parse();
  const Json* status = doc.get("status");
  const Json* data = doc.get("data");
  if (status == nullptr || status->text != "success" || data == nullptr) return std::nullopt;
  const Json* result = data->get("result");
  if (result == nullptr) return std::nullopt;
  std::vector<PromSeries> out;
  for (const Json& item : result->items) {
    PromSeries s;
    if (const Json* m = item.get("metric")) {
      for (std::size_t i = 0; i < m->keys.size(); ++i) s.labels[m->keys[i]] = m->values[i].text;
    }
    const Json* value = item.get("value");
    if (value == nullptr || value->items.size() != 2) return std::nullopt;
    s.value = std::strtod(value->items[1].text.c_str(), nullptr);
    out.push_back(std::move(s));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// 1. Real exporters → flowpulse → Prometheus.

using test::KnownFlow;

struct Traffic {
  std::vector<KnownFlow> flows;
  KnownFlow filler;
};

// Six flows (TCP and UDP over IPv4 and IPv6, ICMP echo), interleaved round-robin 10 ms apart, then
// a filler flow of 2000 ICMPv6 echo requests 1 ms apart. pmacctd in savefile mode hands its plugins
// the last, partly filled buffer a second time when it stops (exporters_test.cpp), so the filler
// pushes the known flows through in full buffers and is the only flow sFlow over-counts; it has a
// protocol of its own (ipv6-icmp) so that the per-protocol totals of the known flows stay exact.
Traffic write_traffic(const std::filesystem::path& pcap) {
  Traffic t;
  t.flows = {
      // IP bytes (softflowd)            sFlow bytes (frame + FCS per packet)
      {{ip("10.1.0.1"), ip("10.2.0.1"), 6, 40001, 80}, 10, 100},        // 10 x 140 = 1400   10 x 158 = 1580
      {{ip("10.1.0.2"), ip("10.2.0.2"), 17, 5353, 53}, 5, 50},          // 5 x 78 = 390      5 x 96 = 480
      {{ip("2001:db8::1"), ip("2001:db8::2"), 6, 40002, 443}, 7, 200},  // 7 x 260 = 1820    7 x 278 = 1946
      {{ip("2001:db8::3"), ip("2001:db8::4"), 17, 1000, 2000}, 3, 10},  // 3 x 58 = 174      3 x 76 = 228
      {{ip("10.1.0.3"), ip("10.2.0.3"), 1, 0, 0}, 4, 56},               // 4 x 84 = 336      4 x 102 = 408
      {{ip("10.1.0.4"), ip("10.2.0.4"), 17, 7000, 7001}, 8, 1000},      // 8 x 1028 = 8224   8 x 1046 = 8368
  };
  t.filler = {{ip("2001:db8::9"), ip("2001:db8::a"), 58, 0, 0}, 2000, 0};  // 2000 x 48 = 96000; frame 66
  test::PcapBuilder b;
  std::uint64_t now = 1'700'000'000'000'000'000ULL;
  for (int round = 0; round < 10; ++round) {
    for (const auto& f : t.flows) {
      if (round >= f.packets) continue;
      b.add(now, test::ethernet_frame(test::ip_packet(f.tuple, f.payload)));
      now += 10'000'000;
    }
  }
  for (int i = 0; i < t.filler.packets; ++i) {
    b.add(now, test::ethernet_frame(test::ip_packet(t.filler.tuple, t.filler.payload)));
    now += 1'000'000;
  }
  b.write(pcap);
  return t;
}

std::string protocol_name(std::uint8_t p) {
  switch (p) {
    case 1: return "icmp";
    case 6: return "tcp";
    case 17: return "udp";
    case 58: return "ipv6-icmp";
    default: return std::to_string(p);
  }
}

struct Totals {
  double flows = 0;
  double packets = 0;
  double bytes = 0;
  friend bool operator==(const Totals&, const Totals&) = default;
};
std::ostream& operator<<(std::ostream& o, const Totals& t) {
  return o << "{flows " << t.flows << ", packets " << t.packets << ", bytes " << t.bytes << "}";
}

// A series key in a dimension set: the values of its labels. ICMP flows are keyed without ports:
// NetFlow exporters may carry type << 8 | code in the destination port, a parsed sFlow header need
// not, so the port labels of an ICMP flow can depend on the exporter.
std::string series_key(const std::map<std::string, std::string>& labels) {
  auto get = [&labels](const char* k) {
    auto it = labels.find(k);
    return it == labels.end() ? std::string() : it->second;
  };
  const std::string proto = get("protocol");
  const bool icmp = proto == "icmp" || proto == "ipv6-icmp";
  return get("exporter") + "|" + get("src_addr") + "|" + get("dst_addr") + "|" + proto + "|" +
         (icmp ? "" : get("src_port")) + "|" + (icmp ? "" : get("dst_port"));
}
std::string series_key(const std::string& exporter, const FiveTuple* t, std::uint8_t proto) {
  std::map<std::string, std::string> l{{"protocol", protocol_name(proto)}};
  if (!exporter.empty()) l["exporter"] = exporter;
  if (t != nullptr) {
    l["src_addr"] = core::to_string(t->src);
    l["dst_addr"] = core::to_string(t->dst);
    l["src_port"] = std::to_string(t->src_port);
    l["dst_port"] = std::to_string(t->dst_port);
  }
  return series_key(l);
}

// What Prometheus holds for one dimension set: key → totals.
using SetTotals = std::map<std::string, Totals>;

std::optional<std::map<std::string, SetTotals>> prom_flow_totals(std::uint16_t prom_port) {
  std::map<std::string, SetTotals> out;
  for (const auto& [metric, member] :
       {std::pair{"flow_flows_total", &Totals::flows}, std::pair{"flow_packets_total", &Totals::packets},
        std::pair{"flow_bytes_total", &Totals::bytes}}) {
    auto r = prom_query(prom_port, std::string(metric) + "{job=\"flowpulse\"}");
    if (!r) return std::nullopt;
    for (const auto& s : *r) {
      auto set = s.labels.find("dimension_set");
      if (set == s.labels.end()) continue;
      out[set->second][series_key(s.labels)].*member += s.value;
    }
  }
  return out;
}

// Writes pmacctd's config: sfprobe at sampling rate 1, agent address `agent`, reading the pcap.
std::string sfprobe_config(const std::filesystem::path& pcap, std::uint16_t port, const std::string& agent) {
  return "daemonize: false\npcap_savefile: " + pcap.string() +
         "\npcap_savefile_wait: true\nplugins: sfprobe[sf]\nsfprobe_receiver[sf]: 127.0.0.1:" +
         std::to_string(port) + "\nsfprobe_agentip[sf]: " + agent + "\nsampling_rate[sf]: 1\n";
}

// One flowpulse with three listeners (dual stack, "::") receives all three exporters at once. The
// exporters are told apart by their exporter address, so the [exporter, protocol] set gives the
// totals per protocol listener without a flowpulse per exporter:
//   - softflowd -v 9 sends to 127.0.0.1: exporter 127.0.0.1 (the datagram's source);
//   - softflowd -v 10 sends to [::1]: exporter ::1 (and the IPv6 side of the listener is exercised);
//   - sfprobe sets the sFlow agent address to 127.0.0.3, which sFlow records carry as the exporter.
// A third set [exporter + 5-tuple] gives the exact totals per exporter and 5-tuple; the 5-tuple set
// holds the sum of the three.
TEST(Collector, RealExportersThroughPrometheus) {
  REQUIRE_TOOL(softflowd, "softflowd");
  REQUIRE_TOOL(pmacctd, "pmacctd");
  REQUIRE_TOOL(prometheus, "prometheus");
  TempDir dir;
  const auto pcap = dir / "traffic.pcap";
  const Traffic t = write_traffic(pcap);

  const std::uint16_t nf9_port = test::free_port(SOCK_DGRAM);
  const std::uint16_t ipfix_port = test::free_port(SOCK_DGRAM);
  const std::uint16_t sflow_port = test::free_port(SOCK_DGRAM);
  const std::uint16_t metrics_port = test::free_port(SOCK_STREAM);
  const std::string nf9_exporter = "127.0.0.1", ipfix_exporter = "::1", sflow_exporter = "127.0.0.3";
  // clang-format off
  const std::string yaml =
      "listeners:\n"
      "  - {protocol: netflow9, address: '::', port: " + std::to_string(nf9_port) + "}\n" +
      "  - {protocol: ipfix, address: '::', port: " + std::to_string(ipfix_port) + "}\n" +
      "  - {protocol: sflow, address: '::', port: " + std::to_string(sflow_port) + "}\n" +
      "performance: {workers: 2}\n"
      "metrics:\n"
      "  address: 127.0.0.1\n"
      "  port: " + std::to_string(metrics_port) + "\n" +
      "  windows: [1m]\n"
      "  dimensions:\n"
      "    - {name: five_tuple, labels: [src_addr, dst_addr, src_port, dst_port, protocol]}\n"
      "    - {name: exporter, labels: [exporter, protocol]}\n"
      "    - {name: exporter_five_tuple,\n"
      "       labels: [exporter, src_addr, dst_addr, src_port, dst_port, protocol]}\n";
  // clang-format on
  auto flowpulse = start_flowpulse(dir, yaml, "flowpulse");
  ASSERT_TRUE(flowpulse);

  const std::uint16_t prom_port = test::free_port(SOCK_STREAM);
  test::write_file(dir / "prometheus.yml",
                   "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: flowpulse\n"
                   "    static_configs:\n      - targets: ['127.0.0.1:" +
                       std::to_string(metrics_port) + "']\n");
  Process prom({prometheus, "--config.file=" + (dir / "prometheus.yml").string(),
                "--storage.tsdb.path=" + (dir / "tsdb").string(),
                "--web.listen-address=127.0.0.1:" + std::to_string(prom_port)},
               dir.path(), "prometheus");

  // pmacctd sleeps 2 s before it reads a savefile: start it first, run softflowd meanwhile.
  test::write_file(dir / "sfprobe.conf", sfprobe_config(pcap, sflow_port, sflow_exporter));
  Process pmacct({pmacctd, "-f", (dir / "sfprobe.conf").string()}, dir.path(), "pmacctd");
  // Never -c with -r: softflowd would wait on its control socket forever.
  for (const auto& [version, target] : {std::pair{"9", "127.0.0.1:" + std::to_string(nf9_port)},
                                        std::pair{"10", "[::1]:" + std::to_string(ipfix_port)}}) {
    Process sf({softflowd, "-d", "-r", pcap.string(), "-n", target, "-v", version, "-A", "milli"}, dir.path(),
               std::string("softflowd") + version);
    ASSERT_EQ(sf.wait(60'000), 0) << sf.err();
  }
  ASSERT_TRUE(pmacct.wait_for_output("finished reading PCAP capture file", 60'000)) << pmacct.err();
  // The filler's 2000 packets push the known flows' samples out in full buffers; the rest is sent
  // when pmacctd stops on SIGINT (and the last buffer twice: the filler is checked as "at least").
  std::uint64_t known_packets = 0;
  for (const auto& f : t.flows) known_packets += static_cast<std::uint64_t>(f.packets);  // 37
  pmacct.signal(SIGINT);
  // pmacctd exits 0, or 1 when its plugin went first ("no more plugins active"): both clean stops.
  const int pmacct_code = pmacct.wait(30'000);
  EXPECT_TRUE(pmacct_code == 0 || pmacct_code == 1) << pmacct_code << pmacct.err();

  // Expected totals per set (key → totals), from the pcap:
  //   softflowd (v9 and IPFIX alike): one record per flow, its packets, IP bytes;
  //   sfprobe at rate 1: one record per packet, bytes = Ethernet frame + FCS.
  SetTotals want_exporter_tuple, want_tuple, want_exporter;
  for (const auto& f : t.flows) {
    const auto n = static_cast<double>(f.packets);
    const Totals soft{1, n, static_cast<double>(f.ip_bytes())};
    const Totals sflow{n, n, static_cast<double>(f.sflow_bytes())};
    for (const auto& [exporter, tot] :
         {std::pair{nf9_exporter, soft}, std::pair{ipfix_exporter, soft}, std::pair{sflow_exporter, sflow}}) {
      want_exporter_tuple[series_key(exporter, &f.tuple, f.tuple.proto)] = tot;
      Totals& per_proto = want_exporter[series_key(exporter, nullptr, f.tuple.proto)];
      Totals& per_tuple = want_tuple[series_key("", &f.tuple, f.tuple.proto)];
      for (Totals* x : {&per_proto, &per_tuple}) {
        x->flows += tot.flows;
        x->packets += tot.packets;
        x->bytes += tot.bytes;
      }
    }
  }
  // E.g. exporter 127.0.0.1, tcp: 2 flows, 17 packets, 1400 + 1820 = 3220 bytes; 127.0.0.3, tcp: 17
  // flows, 17 packets, 1580 + 1946 = 3526 bytes. 5-tuple 10.1.0.1:40001 -> 10.2.0.1:80 tcp: 1 + 1 +
  // 10 = 12 flows, 30 packets, 1400 + 1400 + 1580 = 4380 bytes.
  // The filler: exact from softflowd (1 flow, 2000 packets, 96000 bytes per exporter); from sFlow at
  // least 2000 samples, one flow and 66 bytes each (checked below).
  const Totals filler_soft{1, 2000, 96000};
  const std::string filler_v9 = series_key(nf9_exporter, &t.filler.tuple, 58);
  const std::string filler_ipfix = series_key(ipfix_exporter, &t.filler.tuple, 58);
  const std::string filler_sflow = series_key(sflow_exporter, &t.filler.tuple, 58);
  want_exporter_tuple[filler_v9] = filler_soft;
  want_exporter_tuple[filler_ipfix] = filler_soft;
  want_exporter[series_key(nf9_exporter, nullptr, 58)] = filler_soft;
  want_exporter[series_key(ipfix_exporter, nullptr, 58)] = filler_soft;

  // The exporters have exited, so every datagram is in flowpulse's sockets (loopback delivers within
  // sendto). flowpulse has it all once the sockets are empty and its count holds over more than a
  // tick (1 s); Prometheus then has to reach that count, and the checks read one settled state.
  double settled_records = -1;
  EXPECT_TRUE(wait_until(20'000, [&] {
    for (std::uint16_t p : {nf9_port, ipfix_port, sflow_port}) {
      if (udp_queue(p).queued != 0) return false;
    }
    const double before = scrape(metrics_port).sum("flow_parsed_records_total");
    std::this_thread::sleep_for(std::chrono::milliseconds(1200));
    settled_records = scrape(metrics_port).sum("flow_parsed_records_total");
    return settled_records == before;
  })) << "flowpulse's counts did not settle";
  std::map<std::string, SetTotals> got;
  ASSERT_TRUE(wait_until(30'000,
                         [&] {
                           auto records =
                               prom_query(prom_port, "sum(flow_parsed_records_total{job=\"flowpulse\"})");
                           if (!records || records->empty() || records->front().value != settled_records)
                             return false;
                           auto g = prom_flow_totals(prom_port);
                           if (!g) return false;
                           got = std::move(*g);
                           return true;
                         }))
      << "Prometheus did not reach flowpulse's count in time. prometheus: " << prom.err().substr(0, 2000);

  // Per exporter and 5-tuple: exact for every known flow of every exporter, and the softflowd fillers.
  const SetTotals& et = got["exporter_five_tuple"];
  for (const auto& [k, v] : want_exporter_tuple) {
    SCOPED_TRACE("exporter_five_tuple " + k);
    ASSERT_TRUE(et.count(k));
    EXPECT_EQ(et.at(k), v);
  }
  ASSERT_TRUE(et.count(filler_sflow));
  const Totals sf_filler = et.at(filler_sflow);
  EXPECT_GE(sf_filler.packets, 2000);
  EXPECT_EQ(sf_filler.flows, sf_filler.packets);  // one sample per packet
  EXPECT_EQ(sf_filler.bytes, sf_filler.packets * 66);
  EXPECT_EQ(et.size(), want_exporter_tuple.size() + 1) << "series nobody sent";

  // Per 5-tuple: the three exporters summed.
  const SetTotals& tuple = got["five_tuple"];
  for (const auto& [k, v] : want_tuple) {
    SCOPED_TRACE("five_tuple " + k);
    ASSERT_TRUE(tuple.count(k));
    EXPECT_EQ(tuple.at(k), v);
  }
  const std::string filler_key = series_key("", &t.filler.tuple, 58);
  ASSERT_TRUE(tuple.count(filler_key));
  EXPECT_EQ(tuple.at(filler_key),
            (Totals{2 + sf_filler.flows, 4000 + sf_filler.packets, 192000 + sf_filler.bytes}));
  EXPECT_EQ(tuple.size(), want_tuple.size() + 1);

  // Per exporter and protocol: the protocol listener's totals.
  want_exporter[series_key(sflow_exporter, nullptr, 58)] = sf_filler;
  const SetTotals& ex = got["exporter"];
  for (const auto& [k, v] : want_exporter) {
    SCOPED_TRACE("exporter " + k);
    ASSERT_TRUE(ex.count(k));
    EXPECT_EQ(ex.at(k), v);
  }
  EXPECT_EQ(ex.size(), want_exporter.size());

  // Health, through Prometheus too: every datagram parsed, no drop; records per listener = what each
  // exporter sent (softflowd: 6 flows + the filler = 7 records; sFlow: one per sample).
  auto listener_metric = [&](const std::string& name, std::uint16_t port) {
    auto r = prom_query(prom_port,
                        "sum(" + name + "{job=\"flowpulse\",listener=~\".*:" + std::to_string(port) + "\"})");
    return r && !r->empty() ? r->front().value : -1.0;
  };
  const double sflow_records = static_cast<double>(known_packets) + sf_filler.packets;
  for (const auto& [port, records] :
       {std::pair{nf9_port, 7.0}, std::pair{ipfix_port, 7.0}, std::pair{sflow_port, sflow_records}}) {
    SCOPED_TRACE("listener port " + std::to_string(port));
    const double received = listener_metric("flow_received_packets_total", port);
    EXPECT_GT(received, 0);
    EXPECT_EQ(listener_metric("flow_parsed_packets_total", port), received);
    EXPECT_EQ(listener_metric("flow_parsed_records_total", port), records);
  }
  auto dropped = prom_query(prom_port, "flow_dropped_packets_total{job=\"flowpulse\"}");
  ASSERT_TRUE(dropped);
  EXPECT_TRUE(dropped->empty()) << "datagrams dropped: " << dropped->size() << " series";
  // Series of flow_dropped_records_total{exporter,reason} exist only for drops that happened.
  auto dropped_records = prom_query(prom_port, "flow_dropped_records_total{job=\"flowpulse\"} > 0");
  ASSERT_TRUE(dropped_records);
  EXPECT_TRUE(dropped_records->empty()) << "records dropped: " << dropped_records->size() << " series";
  EXPECT_EQ(scrape(metrics_port).sum("flow_parsed_records_total"), settled_records)
      << "records kept arriving";

  prom.signal(SIGTERM);
  EXPECT_EQ(prom.wait(20'000), 0);
  flowpulse->signal(SIGTERM);
  EXPECT_EQ(flowpulse->wait(20'000), 0) << flowpulse->err();
}

// ---------------------------------------------------------------------------------------------
// 2. A flood of distinct 5-tuples.

// NetFlow v9 with one template (id 256) of seven fields, 21 bytes a record.
constexpr std::uint16_t flood_template_id = 256;
constexpr std::size_t flood_record_size = 4 + 4 + 2 + 2 + 1 + 4 + 4;

void netflow9_header(Bytes& b, std::uint32_t sequence, std::uint16_t count) {
  put16(b, 9);
  put16(b, count);
  put32(b, 123456);  // sysUptime, ms
  put32(b, now_secs());
  put32(b, sequence);
  put32(b, 42);  // source id
}

Bytes flood_template(std::uint32_t sequence) {
  Bytes b;
  netflow9_header(b, sequence, 1);
  put16(b, 0);  // template flowset
  put16(b, 4 + 4 + 7 * 4);
  put16(b, flood_template_id);
  put16(b, 7);
  // IPV4_SRC_ADDR, IPV4_DST_ADDR, L4_SRC_PORT, L4_DST_PORT, PROTOCOL, IN_BYTES, IN_PKTS.
  constexpr std::pair<unsigned, unsigned> fields[] = {{8, 4}, {12, 4}, {7, 2}, {11, 2},
                                                      {4, 1}, {1, 4},  {2, 4}};
  for (auto [type, len] : fields) {
    put16(b, type);
    put16(b, len);
  }
  return b;
}

// Record i of the flood: a 5-tuple no other record has (the source address is 10.0.0.0 + i), and
// bytes and packets the test sums as it sends.
struct FloodRecord {
  std::uint32_t src, dst;
  std::uint16_t src_port, dst_port;
  std::uint8_t proto;
  std::uint32_t bytes, packets;
};
FloodRecord flood_record(std::uint32_t i) {
  return {0x0A000000U + i,
          0xC6336401U,  // 198.51.100.1
          static_cast<std::uint16_t>(1024 + i % 60000),
          static_cast<std::uint16_t>(i % 4 == 0 ? 53 : 443),
          static_cast<std::uint8_t>(i % 4 == 0 ? 17 : 6),
          64 + i % 1437,
          1 + i % 5};
}

// Within the budget: per family at most `budget` label sets, per set at most budget / 2 (two
// sets), "other" among them; the same for the bandwidth gauges of the one window.
void check_flood_budget(const test::Exposition& m, std::uint32_t series_budget) {
  for (const char* family : {"flow_flows_total", "flow_packets_total", "flow_bytes_total"}) {
    SCOPED_TRACE(family);
    EXPECT_LE(count_samples(m, family), series_budget);
    EXPECT_LE(count_samples(m, family, {{"dimension_set", "five_tuple"}}), series_budget / 2);
    EXPECT_EQ(count_samples(m, family, {{"dimension_set", "five_tuple"}, {"src_addr", "other"}}), 1u);
    EXPECT_EQ(count_samples(m, family, {{"dimension_set", "protocol"}}), 2u);  // tcp, udp: no "other"
  }
  for (const char* family : {"flow_bandwidth_bytes_per_second", "flow_bandwidth_packets_per_second"}) {
    SCOPED_TRACE(family);
    EXPECT_GT(count_samples(m, family, {{"window", "10s"}}), 0u);
    EXPECT_LE(count_samples(m, family, {{"window", "10s"}}), series_budget);
    EXPECT_LE(count_samples(m, family, {{"window", "10s"}, {"dimension_set", "five_tuple"}}),
              series_budget / 2);
    EXPECT_EQ(count_samples(m, family), count_samples(m, family, {{"window", "10s"}}));
  }
}

TEST(Collector, FloodOfDistinctTuplesStaysWithinBudgetAndMemory) {
  TempDir dir;
  const std::uint16_t port = test::free_port(SOCK_DGRAM);
  const std::uint16_t metrics_port = test::free_port(SOCK_STREAM);
  constexpr std::uint32_t series_budget = 100;  // two sets: 50 series each, "other" included
  // clang-format off
  const std::string yaml =
      "listeners:\n"
      "  - {protocol: netflow9, address: 127.0.0.1, port: " + std::to_string(port) +
      ", receive_buffer: 32MiB}\n" +
      "performance: {workers: 2, table_capacity: 4096, tick: 100ms}\n"
      "metrics:\n"
      "  address: 127.0.0.1\n"
      "  port: " + std::to_string(metrics_port) + "\n" +
      "  series_budget: " + std::to_string(series_budget) + "\n" +
      "  windows: [10s]\n"
      "  dimensions:\n"
      "    - {name: five_tuple, labels: [src_addr, dst_addr, src_port, dst_port, protocol]}\n"
      "    - {name: protocol, labels: [protocol]}\n";
  // clang-format on
  auto flowpulse = start_flowpulse(dir, yaml, "flowpulse");
  ASSERT_TRUE(flowpulse);
  const int pid = flowpulse->pid();

  // 3,000,000 records, 30 per datagram: 100,000 datagrams of 20 + 4 + 630 = 654 bytes, from 8
  // sockets (SO_REUSEPORT spreads them over both workers), each sending the template first.
  constexpr std::uint32_t records = 3'000'000;
  constexpr std::uint32_t per_datagram = 30;
  constexpr std::uint32_t datagrams = records / per_datagram;
  constexpr std::size_t sockets = 8;
  // 20,000 datagrams (600,000 records) a second: the flood lasts 5 s, 50 ticks of 100 ms, so the
  // stats core merges, truncates and publishes many times while it runs.
  constexpr double datagrams_per_second = 20'000;
  std::vector<std::unique_ptr<UdpSender>> senders;
  std::uint32_t sequence = 0;
  for (std::size_t i = 0; i < sockets; ++i) {
    senders.push_back(std::make_unique<UdpSender>());
    senders.back()->send(port, flood_template(sequence++));
  }
  std::uint64_t want_bytes = 0, want_packets = 0;
  std::map<std::string, Totals> want_proto;
  std::vector<std::uint64_t> rss;  // at 25 %, 50 %, 75 % sent, then at the end
  std::uint64_t max_queued = 0;
  Bytes b;
  b.reserve(20 + 4 + per_datagram * flood_record_size);
  const auto t0 = Clock::now();
  for (std::uint32_t d = 0; d < datagrams; ++d) {
    if (d != 0 && d % (datagrams / 4) == 0) {
      // Mid-flood: /metrics already within the budget; then the RSS (after the scrape, so the HTTP
      // side is warm in every measurement).
      SCOPED_TRACE("at " + std::to_string(d * 100 / datagrams) + " %");
      check_flood_budget(scrape(metrics_port), series_budget);
      rss.push_back(rss_bytes(pid));
    }
    if (d % 32 == 0) {
      // Pace: the target rate, and never more than 4 MiB waiting in the 32 MiB socket buffers, so
      // the kernel does not drop (the test is about what flowpulse keeps, not about loss).
      std::this_thread::sleep_until(t0 + std::chrono::duration_cast<Clock::duration>(
                                             std::chrono::duration<double>(d / datagrams_per_second)));
      for (;;) {
        const SocketQueue q = udp_queue(port);
        max_queued = std::max(max_queued, q.queued);
        if (q.queued < (4u << 20)) break;
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
    }
    b.clear();
    netflow9_header(b, sequence++, per_datagram);
    put16(b, flood_template_id);
    put16(b, static_cast<unsigned>(4 + per_datagram * flood_record_size));
    for (std::uint32_t k = 0; k < per_datagram; ++k) {
      const FloodRecord r = flood_record(d * per_datagram + k);
      put32(b, r.src);
      put32(b, r.dst);
      put16(b, r.src_port);
      put16(b, r.dst_port);
      put8(b, r.proto);
      put32(b, r.bytes);
      put32(b, r.packets);
      want_bytes += r.bytes;
      want_packets += r.packets;
      Totals& p = want_proto[protocol_name(r.proto)];
      p.flows += 1;
      p.packets += r.packets;
      p.bytes += r.bytes;
    }
    senders[d % sockets]->send(port, b);
  }
  const double send_seconds = std::chrono::duration<double>(Clock::now() - t0).count();

  // All of it decoded: the datagrams (templates included) received and parsed, every record counted.
  test::Exposition m;
  const bool done = wait_until(60'000, [&] {
    m = scrape(metrics_port);
    return m.sum("flow_received_packets_total") == datagrams + sockets &&
           m.sum("flow_flows_total", {{"dimension_set", "five_tuple"}}) == records;
  });
  rss.push_back(rss_bytes(pid));
  ASSERT_TRUE(done) << "received " << m.sum("flow_received_packets_total") << " of " << datagrams + sockets
                    << ", kernel drops " << m.sum("flow_kernel_drops_total") << ", flows "
                    << m.sum("flow_flows_total", {{"dimension_set", "five_tuple"}});
  std::cout << "flood: " << records << " records in " << datagrams << " datagrams sent in " << send_seconds
            << " s; max queued " << max_queued << " bytes; table overflow "
            << m.sum("flow_table_overflow_total") << "; RSS at 25/50/75/100 %:";
  for (auto r : rss) std::cout << " " << r / 1024 << " KiB";
  std::cout << "\n";

  EXPECT_EQ(m.sum("flow_kernel_drops_total"), 0);
  EXPECT_EQ(m.sum("flow_parsed_packets_total"), datagrams + sockets);
  EXPECT_EQ(count_samples(m, "flow_dropped_packets_total"), 0u);
  EXPECT_EQ(m.sum("flow_parsed_records_total"), records);
  // The shards really overflowed (more than 4096 new keys per worker per tick), and it cost nothing.
  EXPECT_GT(m.sum("flow_table_overflow_total"), 0);

  check_flood_budget(m, series_budget);

  // Exact totals: the sum over every series of the 5-tuple set, "other" included, is what was sent
  // (integers below 2^53, which the text format carries exactly); per protocol too.
  EXPECT_EQ(m.sum("flow_flows_total", {{"dimension_set", "five_tuple"}}), records);
  EXPECT_EQ(m.sum("flow_packets_total", {{"dimension_set", "five_tuple"}}),
            static_cast<double>(want_packets));
  EXPECT_EQ(m.sum("flow_bytes_total", {{"dimension_set", "five_tuple"}}), static_cast<double>(want_bytes));
  for (const auto& [proto, want] : want_proto) {
    SCOPED_TRACE(proto);
    const Totals got{m.sum("flow_flows_total", {{"dimension_set", "protocol"}, {"protocol", proto}}),
                     m.sum("flow_packets_total", {{"dimension_set", "protocol"}, {"protocol", proto}}),
                     m.sum("flow_bytes_total", {{"dimension_set", "protocol"}, {"protocol", proto}})};
    EXPECT_EQ(got, want);
  }
  // The window keeps its totals exact too: its bandwidth series (top 49 + "other") of the 5-tuple
  // set add up to those of the protocol set, which has no "other". Both divide by the same time.
  for (const char* family : {"flow_bandwidth_bytes_per_second", "flow_bandwidth_packets_per_second"}) {
    const double tuples = m.sum(family, {{"window", "10s"}, {"dimension_set", "five_tuple"}});
    const double protocols = m.sum(family, {{"window", "10s"}, {"dimension_set", "protocol"}});
    EXPECT_GT(protocols, 0) << family;
    EXPECT_NEAR(tuples, protocols, protocols * 1e-9) << family;
  }
  // While the whole flood is less than 10 s old, the window holds all of it.
  if (Clock::now() - t0 < std::chrono::seconds(9)) {
    EXPECT_EQ(m.sum("flow_window_flows", {{"window", "10s"}}), records);
    EXPECT_EQ(m.sum("flow_window_bytes", {{"window", "10s"}}), static_cast<double>(want_bytes));
  }
  // Every key was seen once, so nearly everything is in "other": all but the 49 named series.
  const double other_flows =
      m.sum("flow_flows_total", {{"dimension_set", "five_tuple"}, {"src_addr", "other"}});
  EXPECT_GE(other_flows, records - (series_budget / 2 - 1));

  // Flat RSS between the 25 % mark and the end: at most 8 MiB of growth. What must not grow with
  // the number of keys: the workers' shards are fixed (4096 entries); the stats core merges at most
  // 2 x 4096 keys (+ "other") a tick and keeps budget-sized totals and window buckets. Per-key
  // state that stayed would show: 2.25 million keys reach the workers after the 25 % mark, and
  // about 37 ticks x 2 x 4096 = 300,000 keys reach the stats core; an unordered_map node holding a
  // 72-byte key and its counters takes over 100 bytes, so a stats core that stopped truncating
  // would add 30 MB or more (a build that skipped truncating its cumulative totals grew by 49 MiB
  // here), a worker that kept its keys over 200 MB. Measured: +0.7 MiB while the 10 s window's
  // buckets fill, then flat (a 12-million-record run levels off at +1.4 MiB after 10 s).
  ASSERT_EQ(rss.size(), 4u);
  const std::uint64_t base = rss[0];
  for (std::size_t i = 1; i < rss.size(); ++i) {
    EXPECT_LT(rss[i], base + (8u << 20))
        << "RSS grew from " << base / 1024 << " KiB to " << rss[i] / 1024 << " KiB at mark " << i;
  }

  flowpulse->signal(SIGTERM);
  EXPECT_EQ(flowpulse->wait(20'000), 0) << flowpulse->err();
}

// ---------------------------------------------------------------------------------------------
// 3. received = parsed + dropped, with malformed datagrams mixed in.

// NetFlow v5: 24-byte header, 48-byte records.
Bytes netflow5(std::uint16_t count_field, std::uint16_t records, std::uint32_t first_bytes) {
  std::vector<test::V5Record> r;
  for (std::uint16_t i = 0; i < records; ++i) {
    // 10.5.0.i:1000+i -> 10.6.0.i:80 TCP, 2+i packets, first_bytes + 100 i bytes
    r.push_back({0x0A050000U + i, 0x0A060000U + i, static_cast<std::uint16_t>(1000 + i), 80, 6, 2U + i,
                 first_bytes + 100U * i});
  }
  return test::netflow5_datagram(r, 7, count_field);
}

// NetFlow v9 data flowset for flood_template(): `n` records from record index `first`.
Bytes netflow9_data(std::uint32_t sequence, std::uint16_t set_id, std::uint32_t first, std::uint32_t n,
                    std::uint64_t* bytes) {
  Bytes b;
  netflow9_header(b, sequence, static_cast<std::uint16_t>(n));
  put16(b, set_id);
  put16(b, static_cast<unsigned>(4 + n * flood_record_size));
  for (std::uint32_t i = first; i < first + n; ++i) {
    const FloodRecord r = flood_record(i);
    put32(b, r.src);
    put32(b, r.dst);
    put16(b, r.src_port);
    put16(b, r.dst_port);
    put8(b, r.proto);
    put32(b, r.bytes);
    put32(b, r.packets);
    if (bytes != nullptr) *bytes += r.bytes;
  }
  return b;
}

// IPFIX: template 300 = addresses, ports, protocol, octetDeltaCount and packetDeltaCount (8 bytes
// each) and interfaceName (variable length).
constexpr std::uint16_t ipfix_template_id = 300;

void ipfix_header(Bytes& b, std::uint32_t sequence) {
  put16(b, 10);
  put16(b, 0);  // length, set by ipfix_finish
  put32(b, now_secs());
  put32(b, sequence);
  put32(b, 7);  // observation domain
}
void ipfix_finish(Bytes& b) { set16(b, 2, static_cast<unsigned>(b.size())); }

Bytes ipfix_template(std::uint32_t sequence) {
  Bytes b;
  ipfix_header(b, sequence);
  put16(b, 2);
  put16(b, 4 + 4 + 8 * 4);
  put16(b, ipfix_template_id);
  put16(b, 8);
  constexpr std::pair<unsigned, unsigned> fields[] = {{8, 4}, {12, 4}, {7, 2}, {11, 2},
                                                      {4, 1}, {1, 8},  {2, 8}, {82, 65535}};
  for (auto [id, len] : fields) {
    put16(b, id);
    put16(b, len);
  }
  ipfix_finish(b);
  return b;
}

void ipfix_record(Bytes& b, std::uint32_t i, std::uint64_t bytes, const std::string& ifname) {
  put32(b, 0x0A070000U + i);  // 10.7.0.i
  put32(b, 0x0A080000U + i);
  put16(b, 2000 + i);
  put16(b, 443);
  put8(b, 6);
  put64(b, bytes);
  put64(b, 3);
  put8(b, static_cast<unsigned>(ifname.size()));
  b.insert(b.end(), ifname.begin(), ifname.end());
}

// sFlow v5: `samples` flow samples (rate 1) of one Ethernet frame each, announcing `announced`.
Bytes sflow(std::uint32_t announced, std::uint32_t samples, const Bytes& frame) {
  Bytes b;
  put32(b, 5);
  put32(b, 1);           // agent address: IPv4
  put32(b, 0x7F000009);  // 127.0.0.9
  put32(b, 0);           // sub agent
  put32(b, 1);           // sequence
  put32(b, 5000);        // uptime
  put32(b, announced);
  const std::size_t padded = (frame.size() + 3) / 4 * 4;
  for (std::uint32_t s = 0; s < samples; ++s) {
    const std::size_t record = 16 + padded;
    put32(b, 1);  // flow sample
    put32(b, static_cast<std::uint32_t>(32 + 8 + record));
    put32(b, s);  // sequence
    put32(b, 3);  // source: ifIndex 3
    put32(b, 1);  // sampling rate
    put32(b, 100);
    put32(b, 0);  // drops
    put32(b, 3);  // input
    put32(b, 4);  // output
    put32(b, 1);  // one record
    put32(b, 1);  // raw packet header
    put32(b, static_cast<std::uint32_t>(record));
    put32(b, 1);                                             // Ethernet
    put32(b, static_cast<std::uint32_t>(frame.size() + 4));  // frame length with FCS
    put32(b, 4);                                             // stripped: the FCS
    put32(b, static_cast<std::uint32_t>(frame.size()));
    b.insert(b.end(), frame.begin(), frame.end());
    b.resize(b.size() + padded - frame.size(), 0);
  }
  return b;
}

// Deterministic junk whose first two bytes are no version any decoder knows (0xA55A).
Bytes junk(std::size_t n, std::uint32_t seed) {
  Bytes b(n);
  std::uint32_t x = seed;
  for (auto& c : b) {
    x = x * 1664525U + 1013904223U;
    c = static_cast<std::uint8_t>(x >> 24);
  }
  if (n >= 2) {
    b[0] = 0xA5;
    b[1] = 0x5A;
  }
  return b;
}

TEST(Collector, ReceivedEqualsParsedPlusDropped) {
  TempDir dir;
  const std::uint16_t nf5_port = test::free_port(SOCK_DGRAM);
  const std::uint16_t nf9_port = test::free_port(SOCK_DGRAM);
  const std::uint16_t ipfix_port = test::free_port(SOCK_DGRAM);
  const std::uint16_t sflow_port = test::free_port(SOCK_DGRAM);
  const std::uint16_t metrics_port = test::free_port(SOCK_STREAM);
  auto listener = [](const char* protocol, std::uint16_t port) {
    return std::string("  - {protocol: ") + protocol + ", address: 127.0.0.1, port: " + std::to_string(port) +
           "}\n";
  };
  // A held data set expires after 1 s; repeated errors: 5 lines per kind and exporter per second.
  auto flowpulse =
      start_flowpulse(dir,
                      "listeners:\n" + listener("netflow5", nf5_port) + listener("netflow9", nf9_port) +
                          listener("ipfix", ipfix_port) + listener("sflow", sflow_port) +
                          "performance: {workers: 2}\n"
                          "decode: {pending_timeout: 1s}\n"
                          "logging: {rate_limit_interval: 1s, rate_limit_burst: 5}\n"
                          "metrics:\n  address: 127.0.0.1\n  port: " +
                          std::to_string(metrics_port) +
                          "\n  windows: [1m]\n  dimensions:\n    - {name: protocol, labels: [protocol]}\n",
                      "flowpulse");
  ASSERT_TRUE(flowpulse);

  // One sending socket: SO_REUSEPORT keeps it on one worker per listener, so templates and their
  // data meet in one template cache.
  UdpSender s;
  std::uint64_t want_bytes = 0;

  // NetFlow v5 listener: 52 datagrams.
  //   valid: 3 x 2 records (parsed 3, records 6; bytes 1000+1100, 2000+2100, 3000+3100)
  //   truncated: 5 x a 12-byte v5 header; 1 x count 3 with 2 records; 1 x 3 bytes of junk  → 7
  //   bad_version: 40 x a v5-sized datagram with version 99; 2 x 100 bytes of junk        → 42
  for (std::uint32_t i = 1; i <= 3; ++i) {
    s.send(nf5_port, netflow5(2, 2, 1000 * i));
    want_bytes += 2 * 1000 * i + 100;
  }
  {
    Bytes b = netflow5(1, 0, 0);
    b.resize(12);
    for (int i = 0; i < 5; ++i) s.send(nf5_port, b);
  }
  s.send(nf5_port, netflow5(3, 2, 5000));
  s.send(nf5_port, junk(3, 1));
  for (int i = 0; i < 40; ++i) {
    Bytes b = netflow5(1, 1, 7000);
    set16(b, 0, 99);
    s.send(nf5_port, b);
  }
  s.send(nf5_port, junk(100, 2));
  s.send(nf5_port, junk(100, 3));

  // NetFlow v9 listener: 13 datagrams.
  //   valid: the template; 4 x 5 records; one data set for template 999, which never comes (held:
  //   the datagram parses, the set expires a second later as pending_expired)   → parsed 6, records 20
  //   truncated: 2 x a 10-byte v9 header; a set of length 200 in a 45-byte datagram; an empty datagram → 4
  //   bad_length: 2 valid records, then a set header of length 2 with bytes after it → 1 (records +2)
  //   bad_version: 2 x 64 bytes of junk → 2
  std::uint32_t seq = 100;
  s.send(nf9_port, flood_template(seq++));
  for (std::uint32_t i = 0; i < 4; ++i)
    s.send(nf9_port, netflow9_data(seq++, flood_template_id, i * 5, 5, &want_bytes));
  s.send(nf9_port, netflow9_data(seq++, 999, 0, 3, nullptr));
  for (int i = 0; i < 2; ++i) {
    Bytes b = flood_template(seq++);
    b.resize(10);
    s.send(nf9_port, b);
  }
  {
    Bytes b = netflow9_data(seq++, flood_template_id, 100, 1, nullptr);  // 20 + 4 + 21 = 45 bytes
    set16(b, 22, 200);
    s.send(nf9_port, b);
  }
  s.send(nf9_port, Bytes{});
  {
    Bytes b = netflow9_data(seq++, flood_template_id, 200, 2, &want_bytes);
    for (unsigned v : {0x01u, 0x00u, 0x00u, 0x02u, 0xFFu, 0xFFu, 0xFFu, 0xFFu}) put8(b, v);
    s.send(nf9_port, b);
  }
  s.send(nf9_port, junk(64, 4));
  s.send(nf9_port, junk(64, 5));

  // IPFIX listener: 8 datagrams.
  //   valid: the template; 3 x 4 records (bytes 500 + 10 i, i = 0..11)             → parsed 4, records 12
  //   truncated: 1 good record then one whose interfaceName says 100 bytes past the set end (records +1);
  //   a message whose length field says 400 in a 100-byte datagram                  → 2
  //   bad_length: a message length of 8, below the 16-byte header                   → 1
  //   bad_version: 50 bytes of junk                                                 → 1
  std::uint32_t iseq = 1;
  s.send(ipfix_port, ipfix_template(iseq++));
  for (std::uint32_t d = 0; d < 3; ++d) {
    Bytes b;
    ipfix_header(b, iseq++);
    put16(b, ipfix_template_id);
    const std::size_t len_at = b.size();
    put16(b, 0);
    for (std::uint32_t k = 0; k < 4; ++k) {
      const std::uint32_t i = d * 4 + k;
      ipfix_record(b, i, 500 + 10 * i, "eth" + std::to_string(i));
      want_bytes += 500 + 10 * i;
    }
    set16(b, len_at, static_cast<unsigned>(b.size() - len_at + 2));
    ipfix_finish(b);
    s.send(ipfix_port, b);
  }
  {
    Bytes b;
    ipfix_header(b, iseq++);
    put16(b, ipfix_template_id);
    const std::size_t len_at = b.size();
    put16(b, 0);
    ipfix_record(b, 50, 999, "ge-0/0/0");
    want_bytes += 999;
    ipfix_record(b, 51, 1, "");
    b.back() = 100;  // the interfaceName length byte: 100 bytes that are not there
    put8(b, 'x');
    put8(b, 'y');
    set16(b, len_at, static_cast<unsigned>(b.size() - len_at + 2));
    ipfix_finish(b);
    s.send(ipfix_port, b);
  }
  {
    Bytes b = ipfix_template(iseq++);
    b.resize(100, 0);
    set16(b, 2, 400);
    s.send(ipfix_port, b);
  }
  {
    Bytes b = ipfix_template(iseq++);
    set16(b, 2, 8);
    s.send(ipfix_port, b);
  }
  s.send(ipfix_port, junk(50, 6));

  // sFlow listener: 6 datagrams.
  //   valid: 2 x 3 flow samples of one UDP frame (rate 1: bytes = frame + FCS)     → parsed 2, records 6
  //   truncated: 12 bytes of a v5 header; 2 samples announced, 1 there (records +1) → 2
  //   unsupported: version 4 → 1;   bad_version: 40 bytes of junk → 1
  const Bytes frame = test::ethernet_frame(
      test::ip_packet({ip("10.9.0.1"), ip("10.9.0.2"), 17, 1111, 2222}, 100));  // 142 bytes
  for (int i = 0; i < 2; ++i) s.send(sflow_port, sflow(3, 3, frame));
  want_bytes += 7 * (frame.size() + 4);  // 6 + 1 samples of 146 bytes
  {
    Bytes b = sflow(1, 0, frame);
    b.resize(12);
    s.send(sflow_port, b);
  }
  s.send(sflow_port, sflow(2, 1, frame));
  {
    Bytes b = sflow(1, 1, frame);
    b[3] = 4;
    s.send(sflow_port, b);
  }
  s.send(sflow_port, junk(40, 7));

  struct Want {
    std::uint16_t port;
    double received, parsed, records;
    std::map<std::string, double> dropped;
  };
  const std::vector<Want> want = {
      {nf5_port, 52, 3, 6, {{"truncated", 7}, {"bad_version", 42}}},
      {nf9_port, 13, 6, 22, {{"truncated", 4}, {"bad_length", 1}, {"bad_version", 2}}},
      {ipfix_port, 8, 4, 13, {{"truncated", 2}, {"bad_length", 1}, {"bad_version", 1}}},
      {sflow_port, 6, 2, 7, {{"truncated", 2}, {"unsupported", 1}, {"bad_version", 1}}},
  };
  // Records and sets not decoded, by reason, over all listeners: one per malformed datagram above,
  // and the held set that expired.
  const std::map<std::string, double> want_dropped_records = {
      {"truncated", 15}, {"bad_version", 46}, {"bad_length", 2}, {"unsupported", 1}, {"pending_expired", 1}};

  test::Exposition m;
  const bool settled = wait_until(20'000, [&] {
    m = scrape(metrics_port);
    for (const Want& w : want) {
      if (listener_value(m, "flow_received_packets_total", w.port) != w.received) return false;
    }
    return m.sum("flow_dropped_records_total", {{"reason", "pending_expired"}}) == 1;
  });
  EXPECT_TRUE(settled) << "the counts did not settle; checks follow";

  for (const Want& w : want) {
    SCOPED_TRACE("listener port " + std::to_string(w.port));
    const double received = listener_value(m, "flow_received_packets_total", w.port);
    const double parsed = listener_value(m, "flow_parsed_packets_total", w.port);
    const double dropped = listener_value(m, "flow_dropped_packets_total", w.port);
    EXPECT_EQ(received, parsed + dropped) << "received = parsed + dropped";
    EXPECT_EQ(received, w.received);
    EXPECT_EQ(parsed, w.parsed);
    EXPECT_EQ(listener_value(m, "flow_parsed_records_total", w.port), w.records);
    double dropped_listed = 0;
    for (const auto& [reason, n] : w.dropped) {
      EXPECT_EQ(listener_value(m, "flow_dropped_packets_total", w.port, {{"reason", reason}}), n) << reason;
      dropped_listed += n;
    }
    EXPECT_EQ(dropped, dropped_listed) << "drops under reasons not expected";
    EXPECT_EQ(listener_value(m, "flow_kernel_drops_total", w.port), 0);
  }
  // flow_dropped_records_total{exporter,reason}: summed over exporters per reason.
  std::set<std::string> reasons;
  for (const auto& sample : m.samples) {
    if (sample.name == "flow_dropped_records_total") reasons.insert(sample.label("reason"));
  }
  for (const auto& [reason, n] : want_dropped_records) reasons.insert(reason);
  for (const std::string& reason : reasons) {
    const auto it = want_dropped_records.find(reason);
    EXPECT_EQ(m.sum("flow_dropped_records_total", {{"reason", reason}}),
              it == want_dropped_records.end() ? 0 : it->second)
        << reason;
  }
  // The valid records, all of them: 6 + 22 + 13 + 7 = 48, with their bytes.
  EXPECT_EQ(m.sum("flow_parsed_records_total"), 48);
  EXPECT_EQ(m.sum("flow_flows_total"), 48);
  EXPECT_EQ(m.sum("flow_bytes_total"), static_cast<double>(want_bytes));

  // Still running and serving.
  EXPECT_TRUE(flowpulse->running());
  EXPECT_EQ(test::http_get("127.0.0.1", metrics_port, "/metrics").status, 200);

  // Rate-limited logging: the 42 bad NetFlow versions from one exporter give at most 5 lines (the
  // burst); the rest are reported as suppressed=N, by a later line or the per-tick flush once the
  // 1 s interval is over. Lines plus suppressed add up to 42.
  auto bad_version_accounted = [&](std::size_t* lines) {
    std::istringstream err(flowpulse->err());
    std::size_t n = 0;
    std::uint64_t suppressed = 0;
    for (std::string line; std::getline(err, line);) {
      const bool passed = line.find("NetFlow datagram with an unknown version") != std::string::npos;
      const bool flushed = line.find("repeated messages suppressed") != std::string::npos &&
                           line.find("kind=netflow5_bad_version") != std::string::npos;
      n += passed ? 1 : 0;
      const auto at = line.find(" suppressed=");
      if ((passed || flushed) && at != std::string::npos) suppressed += std::stoull(line.substr(at + 12));
    }
    if (lines != nullptr) *lines = n;
    return n + suppressed;
  };
  EXPECT_TRUE(wait_until(10'000, [&] { return bad_version_accounted(nullptr) == 42; }));
  std::size_t lines = 0;
  EXPECT_EQ(bad_version_accounted(&lines), 42u) << flowpulse->err();
  EXPECT_GE(lines, 1u);
  EXPECT_LE(lines, 5u) << flowpulse->err();
  // And in all: far fewer warnings than the 79 malformed datagrams.
  std::size_t warnings = 0;
  {
    std::istringstream err(flowpulse->err());
    for (std::string line; std::getline(err, line);) warnings += line.find("level=warn") != std::string::npos;
  }
  EXPECT_LT(warnings, 40u) << flowpulse->err();

  // A clean stop.
  flowpulse->signal(SIGTERM);
  EXPECT_EQ(flowpulse->wait(20'000), 0) << flowpulse->err();
  EXPECT_NE(flowpulse->err().find("flowpulse stopped"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// 4. Kernel drops are counted: a socket buffer too small for a burst overflows, and what the kernel
// dropped plus what flowpulse received is exactly what was sent.

TEST(Collector, KernelDropsAreCounted) {
  TempDir dir;
  const std::uint16_t metrics_port = test::free_port(SOCK_STREAM);
  const std::uint16_t udp_port = test::free_port(SOCK_DGRAM);
  // One worker, the smallest receive buffer the config allows: a burst of 3000 datagrams of ~1.4 KB
  // sent as fast as one socket can must overflow it.
  auto p = start_flowpulse(
      dir,
      "listeners:\n  - {protocol: netflow5, address: 127.0.0.1, port: " + std::to_string(udp_port) +
          ", receive_buffer: 4096}\nperformance: {workers: 1, tick: 100ms}\nmetrics: {port: " +
          std::to_string(metrics_port) + "}\n",
      "flowpulse");
  std::vector<test::V5Record> records(29, test::V5Record{0x0A000001, 0x0A000002, 1, 2, 6, 1, 100});
  const Bytes d = test::netflow5_datagram(records);
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(udp_port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int sent = 3000;
  for (int i = 0; i < sent; ++i)
    ::sendto(fd, d.data(), d.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  ::close(fd);
  double received = 0, drops = 0;
  wait_until(10'000, [&] {
    const auto e = scrape(metrics_port);
    received = e.sum("flow_received_packets_total");
    drops = e.sum("flow_kernel_drops_total");
    return received + drops == sent;
  });
  EXPECT_GT(drops, 0.0) << "the burst did not overflow a 4 KiB buffer";
  EXPECT_EQ(received + drops, static_cast<double>(sent));
}

}  // namespace
}  // namespace flowpulse
