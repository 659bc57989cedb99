// Every capture path of `flowpulse run`, through the real binary and its /metrics:
//
// 1. SameTotals: one generated traffic set (IPv4 and IPv6, UDP and TCP flows with known packet counts
//    and sizes, interleaved) goes through each capture source, and the flow totals per 5-tuple
//    (dimension set [src_addr, dst_addr, src_port, dst_port, protocol]) must be exactly what the test
//    generated. Paths: a pcap_file source and DPDK net_pcap, both reading the generated pcap; and,
//    on a veth pair whose far end is in a test namespace (the frames are written raw into the far
//    end), DPDK net_af_packet, DPDK net_af_xdp, the afxdp source, the afpacket source (2 workers in
//    one fanout group) and the pcap (libpcap live) source.
// 2. ExportsInRawTraffic: real NetFlow v9, IPFIX, NetFlow v5 and sFlow datagrams (logstash payloads,
//    pktvisor captures) are sent with UDP sockets to the listeners of one `flowpulse run` on
//    loopback. The same datagrams, wrapped in Ethernet/IP/UDP frames to capture.export_ports, go
//    through DPDK net_pcap, net_af_packet, net_af_xdp and the afxdp source, either whole or as IP
//    fragments (IPv4 and IPv6; one datagram last fragment first; two datagrams over 1500 bytes that
//    cannot go unfragmented). The decoded flow totals per 5-tuple must equal the UDP path's.
// Each run also checks that flow_capture_handled_frames_total sums to flow_capture_frames_total per
// source and that no source counted drops or errors. DPDK starts once per process, so every case is
// a `flowpulse run` of its own, stopped by its pid.
//
// Needs root (netns, veth, XDP, DPDK's EAL) and a flowpulse built with DPDK and AF_XDP: skipped
// without them, failed under CI=true.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/ip_address.hpp"
#include "flowpulse_build_config.hpp"
#include "io/pcap_file.hpp"
#include "netns_rig.hpp"
#include "pcap_builder.hpp"
#include "test_support.hpp"

namespace flowpulse {
namespace {

using test::Bytes;
using test::FiveTuple;
using test::ip;
using test::NetnsRig;
using test::Process;
using test::TempDir;
using Clock = std::chrono::steady_clock;

constexpr int tick_ms = 100;  // performance.tick of every run: how often /metrics can change

#define REQUIRE_ROOT()                                                                          \
  if (geteuid() != 0) {                                                                         \
    if (test::in_ci()) FAIL() << "capture source tests need root (netns, veth, XDP, DPDK EAL)"; \
    GTEST_SKIP() << "capture source tests need root (netns, veth, XDP, DPDK EAL)";              \
  }

// ---------------------------------------------------------------------------------------------
// The capture paths and the `capture.sources` entry each one is.

enum class Path { pcap_file, dpdk_pcap, dpdk_af_packet, dpdk_af_xdp, afxdp, afpacket, pcap };

const char* to_string(Path p) {
  switch (p) {
    case Path::pcap_file: return "pcap_file";
    case Path::dpdk_pcap: return "dpdk_net_pcap";
    case Path::dpdk_af_packet: return "dpdk_net_af_packet";
    case Path::dpdk_af_xdp: return "dpdk_net_af_xdp";
    case Path::afxdp: return "afxdp";
    case Path::afpacket: return "afpacket";
    case Path::pcap: return "pcap_live";
  }
  return "?";
}

bool on_veth(Path p) { return p != Path::pcap_file && p != Path::dpdk_pcap; }
bool is_dpdk(Path p) { return p == Path::dpdk_pcap || p == Path::dpdk_af_packet || p == Path::dpdk_af_xdp; }

// Whether this flowpulse was built with what the path needs; "" or the reason.
std::string missing_feature(Path p) {
  if (is_dpdk(p) && FLOWPULSE_HAVE_DPDK == 0)
    return "flowpulse was built without DPDK (meson -Ddpdk=enabled)";
  if (p == Path::afxdp && FLOWPULSE_HAVE_AFXDP == 0)
    return "flowpulse was built without AF_XDP (meson -Dafxdp=enabled)";
  return "";
}

std::string quoted(const std::string& s) { return "'" + s + "'"; }

// The YAML of the path's source. `pcap` is the file pcap_file and net_pcap read, `ifname` the veth.
std::string source_yaml(Path p, const std::string& pcap, const std::string& ifname) {
  std::string vdev;
  switch (p) {
    case Path::pcap_file: return "    - {type: pcap_file, file: " + quoted(pcap) + "}\n";
    case Path::afxdp: return "    - {type: afxdp, device: " + ifname + "}\n";
    case Path::afpacket: return "    - {type: afpacket, device: " + ifname + "}\n";
    case Path::pcap: return "    - {type: pcap, device: " + ifname + "}\n";
    case Path::dpdk_pcap: vdev = "net_pcap0,rx_pcap=" + pcap; break;
    case Path::dpdk_af_packet: vdev = "net_af_packet0,iface=" + ifname; break;
    case Path::dpdk_af_xdp: vdev = "net_af_xdp0,iface=" + ifname + ",start_queue=0,queue_count=1"; break;
  }
  // No hugepages here; a file prefix of this process's own, so its runtime directory is its own
  // (and removed at the EAL's cleanup).
  const std::vector<std::string> eal = {"--no-huge", "-m",
                                        "512",       "--no-shconf",
                                        "--no-pci",  "--file-prefix=fp-sources-" + std::to_string(getpid()),
                                        "--vdev",    vdev};
  std::string args;
  for (const auto& a : eal) args += (args.empty() ? "" : ", ") + quoted(a);
  const std::string device = vdev.substr(0, vdev.find(','));
  return "    - {type: dpdk, device: " + device + ", queues: [0], eal_args: [" + args + "]}\n";
}

// ---------------------------------------------------------------------------------------------
// /metrics: flow series by label values, the capture counters, waiting.

struct Totals {
  std::uint64_t bytes = 0;
  std::uint64_t packets = 0;
  std::uint64_t flows = 0;
  bool operator==(const Totals&) const = default;
  Totals& operator+=(const Totals& o) {
    bytes += o.bytes;
    packets += o.packets;
    flows += o.flows;
    return *this;
  }
};
using Key = std::vector<std::string>;  // label values, in the dimension set's order
using Series = std::map<Key, Totals>;

const std::vector<std::string> tuple_labels = {"src_addr", "dst_addr", "src_port", "dst_port", "protocol"};
const std::vector<std::string> exporter_tuple_labels = {"exporter", "src_addr", "dst_addr",
                                                        "src_port", "dst_port", "protocol"};

// Both dimension sets every run has: the 5-tuple, and the 5-tuple by exporter (which tells decoded
// records from the meter's own: those carry no exporter).
std::string metrics_yaml(std::uint16_t port) {
  return "metrics:\n"
         "  address: 127.0.0.1\n"
         "  port: " +
         std::to_string(port) +
         "\n"
         "  windows: [1m]\n"
         "  series_budget: 100000\n"
         "  dimensions:\n"
         "    - {name: five_tuple, labels: [src_addr, dst_addr, src_port, dst_port, protocol]}\n"
         "    - {name: exporter_five_tuple, labels: [exporter, src_addr, dst_addr, src_port, dst_port, "
         "protocol]}\n";
}

std::optional<test::Exposition> scrape(std::uint16_t port) {
  const auto r = test::http_get("127.0.0.1", port, "/metrics");
  if (r.status != 200) return std::nullopt;
  std::string error;
  auto e = test::parse_exposition(r.body, &error);
  EXPECT_TRUE(e) << "/metrics is not valid text format: " << error;
  return e;
}

Series flow_series(const test::Exposition& e, const std::string& set,
                   const std::vector<std::string>& labels) {
  Series out;
  for (const auto& s : e.samples) {
    std::uint64_t Totals::*field = nullptr;
    if (s.name == "flow_bytes_total") field = &Totals::bytes;
    if (s.name == "flow_packets_total") field = &Totals::packets;
    if (s.name == "flow_flows_total") field = &Totals::flows;
    if (field == nullptr || s.label("dimension_set") != set) continue;
    Key k;
    for (const auto& l : labels) k.push_back(s.label(l));
    out[k].*field += static_cast<std::uint64_t>(s.value);
  }
  return out;
}

// The records decoded from flow exports, per 5-tuple, whatever their exporter: the exporter set
// without the meter's records (their exporter is the all-zero address, "::").
Series decoded_series(const test::Exposition& e) {
  Series out;
  for (const auto& [k, t] : flow_series(e, "exporter_five_tuple", exporter_tuple_labels)) {
    if (k[0] == "::") continue;
    out[Key(k.begin() + 1, k.end())] += t;
  }
  return out;
}

std::string describe(const Key& k) {
  std::string s;
  for (const auto& v : k) s += (s.empty() ? "" : " ") + v;
  return s;
}
std::string describe(const Totals& t) {
  return std::to_string(t.bytes) + " B / " + std::to_string(t.packets) + " pkt / " + std::to_string(t.flows) +
         " flows";
}

// The series that differ, for a failure message.
std::string difference(const Series& want, const Series& got) {
  std::ostringstream out;
  int shown = 0;
  std::set<Key> keys;
  for (const auto& [k, t] : want) keys.insert(k);
  for (const auto& [k, t] : got) keys.insert(k);
  for (const auto& k : keys) {
    const auto w = want.find(k);
    const auto g = got.find(k);
    const Totals tw = w == want.end() ? Totals{} : w->second;
    const Totals tg = g == got.end() ? Totals{} : g->second;
    if (tw == tg) continue;
    if (++shown > 25) {
      out << "  ...\n";
      break;
    }
    out << "  " << describe(k) << ": want " << describe(tw) << ", got " << describe(tg) << "\n";
  }
  return out.str();
}

Totals sum(const Series& s) {
  Totals t;
  for (const auto& [k, v] : s) t += v;
  return t;
}

std::set<std::string> capture_sources(const test::Exposition& e) {
  std::set<std::string> out;
  for (const auto& s : e.samples) {
    if (s.name == "flow_capture_frames_total") out.insert(s.label("source"));
  }
  return out;
}

// Every frame a source handed over ends in one outcome; nothing was dropped or failed; and no two
// series have the same name and labels (a scrape with such a pair is refused by Prometheus).
void expect_capture_accounting(const test::Exposition& e) {
  std::set<std::pair<std::string, std::vector<std::pair<std::string, std::string>>>> seen;
  for (const auto& s : e.samples) {
    auto labels = s.labels;
    std::sort(labels.begin(), labels.end());
    EXPECT_TRUE(seen.insert({s.name, labels}).second) << "duplicate series " << s.name << " " << [&] {
      std::string l;
      for (const auto& [k, v] : labels) l += k + "=" + v + " ";
      return l;
    }();
  }
  const auto sources = capture_sources(e);
  EXPECT_FALSE(sources.empty()) << "no flow_capture_frames_total series";
  for (const auto& s : sources) {
    const double frames = e.sum("flow_capture_frames_total", {{"source", s}});
    EXPECT_EQ(e.sum("flow_capture_handled_frames_total", {{"source", s}}), frames)
        << "source " << s << ": the outcomes of flow_capture_handled_frames_total do not sum to its frames";
    EXPECT_EQ(e.sum("flow_capture_drops_total", {{"source", s}}), 0.0) << s;
    EXPECT_EQ(e.sum("flow_capture_errors_total", {{"source", s}}), 0.0) << s;
  }
}

// Polls `done` until it holds or `timeout_ms` passes; the callers assert on what they saw, so a
// timeout shows the values that were wrong.
bool wait_until(int timeout_ms, const std::function<bool()>& done) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    if (done()) return true;
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

long long ms_since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

// A `flowpulse run` on `yaml`; stopped with SIGTERM by stop(), or killed by its pid when the test
// ends early.
class Flowpulse {
 public:
  Flowpulse(const TempDir& dir, const std::string& name, const std::string& yaml) {
    const auto path = dir / (name + ".yaml");
    test::write_file(path, yaml);
    process_ = std::make_unique<Process>(
        std::vector<std::string>{test::flowpulse_binary(), "run", "--config", path.string()}, dir.path(),
        name);
    started_ = process_->wait_for_output("flowpulse started", 30'000);
  }
  bool started() const { return started_; }
  std::string log() const { return process_->out() + process_->err(); }
  // A clean stop (the DPDK port closed, the XDP program detached): exit code 0.
  int stop() {
    process_->signal(SIGTERM);
    return process_->wait(30'000);
  }

 private:
  std::unique_ptr<Process> process_;
  bool started_ = false;
};

// ---------------------------------------------------------------------------------------------
// 1. The meter's traffic: flows of known counts and sizes.

struct FlowSpec {
  FiveTuple t;
  int packets;
  std::size_t payload;  // above the TCP/UDP header
};

const char* proto_label(std::uint8_t proto) { return proto == 6 ? "tcp" : proto == 17 ? "udp" : "?"; }

Key key_of(const FiveTuple& t) {
  return {core::to_string(t.src), core::to_string(t.dst), std::to_string(t.src_port),
          std::to_string(t.dst_port), proto_label(t.proto)};
}

struct Traffic {
  std::vector<Bytes> frames;
  std::vector<std::uint64_t> times_ns;
  Series want;  // per 5-tuple
  std::set<std::string> addresses;
};

// The flows are interleaved frame by frame (as on a real link) at 10 us steps, so each lasts well
// under the meter's 15 s idle timeout: one flow per 5-tuple. None goes to an export port.
Traffic meter_traffic() {
  std::vector<FlowSpec> specs = {
      {{ip("198.51.100.1"), ip("198.51.100.2"), 17, 40001, 53}, 120, 100},
      {{ip("198.51.100.2"), ip("198.51.100.1"), 17, 53, 40001}, 80, 400},
      {{ip("198.51.100.3"), ip("198.51.100.4"), 6, 41000, 443}, 200, 1446},  // 1500-byte IP packets
      {{ip("198.51.100.4"), ip("198.51.100.3"), 6, 443, 41000}, 100, 0},     // bare ACKs: 54-byte frames
      {{ip("2001:db8::1"), ip("2001:db8::2"), 17, 5353, 5353}, 60, 200},
      {{ip("2001:db8::3"), ip("2001:db8::4"), 6, 50000, 443}, 40, 1000},
      {{ip("2001:db8::4"), ip("2001:db8::3"), 6, 443, 50000}, 40, 0},
  };
  // Enough small flows that a hash split over two fanout members leaves neither empty.
  for (int i = 0; i < 16; ++i) {
    const bool v4 = i % 2 == 0;
    specs.push_back({{ip(v4 ? "198.51.100.20" : "2001:db8::20"), ip(v4 ? "198.51.100.21" : "2001:db8::21"),
                      17, static_cast<std::uint16_t>(42000 + i), 9000},
                     10,
                     static_cast<std::size_t>(64 + i)});
  }
  Traffic t;
  std::vector<int> left;
  for (const auto& s : specs) left.push_back(s.packets);
  std::uint64_t now = 1'700'000'000'000'000'000ULL;
  for (bool any = true; any;) {
    any = false;
    for (std::size_t i = 0; i < specs.size(); ++i) {
      if (left[i] == 0) continue;
      --left[i];
      any = true;
      test::PacketOptions o;
      o.ipv4_id = static_cast<std::uint16_t>(left[i]);
      const Bytes frame = test::ethernet_frame(test::ip_packet(specs[i].t, specs[i].payload, o));
      // What the meter counts per frame: its length on the wire (Frame.wire_len), Ethernet header
      // included: 14 + IP header (20/40) + TCP (20) / UDP (8) header + payload.
      Totals& w = t.want[key_of(specs[i].t)];
      w.bytes += frame.size();
      w.packets += 1;
      w.flows = 1;
      now += 10'000;
      t.times_ns.push_back(now);
      t.frames.push_back(frame);
    }
  }
  for (const auto& s : specs) {
    t.addresses.insert(core::to_string(s.t.src));
    t.addresses.insert(core::to_string(s.t.dst));
  }
  return t;
}

void write_pcap(const std::filesystem::path& path, const std::vector<Bytes>& frames,
                const std::vector<std::uint64_t>& times) {
  test::PcapBuilder b;
  for (std::size_t i = 0; i < frames.size(); ++i) b.add(times[i], frames[i]);
  b.write(path);
}

class SameTotals : public ::testing::TestWithParam<Path> {};

TEST_P(SameTotals, AsGenerated) {
  REQUIRE_ROOT();
  const Path path = GetParam();
  if (const std::string why = missing_feature(path); !why.empty()) {
    if (test::in_ci()) FAIL() << why;
    GTEST_SKIP() << why;
  }
  const auto t0 = Clock::now();
  const Traffic traffic = meter_traffic();
  TempDir dir;
  const auto pcap = dir / "traffic.pcap";
  write_pcap(pcap, traffic.frames, traffic.times_ns);
  std::optional<NetnsRig> rig;
  if (on_veth(path)) {
    rig.emplace();
    ASSERT_TRUE(rig->ok()) << "scripts/netns-rig up failed: " << rig->error();
  }

  const std::uint16_t metrics_port = test::free_port(SOCK_STREAM);
  const unsigned workers = path == Path::afpacket ? 2 : 1;
  const std::string yaml = "listeners: []\ncapture:\n  sources:\n" +
                           source_yaml(path, pcap.string(), rig ? rig->outer() : "") +
                           "performance: {workers: " + std::to_string(workers) +
                           ", tick: " + std::to_string(tick_ms) + "ms}\n" + metrics_yaml(metrics_port);
  Flowpulse fp(dir, "flowpulse", yaml);
  ASSERT_TRUE(fp.started()) << "flowpulse did not start:\n" << fp.log();
  const auto t_started = Clock::now();
  if (rig) {
    const std::string error = rig->inject(traffic.frames);
    ASSERT_EQ(error, "") << "sending the frames into the veth failed";
  }

  // The series of the generated flows, and every other one (on a veth, link-local chatter may pass).
  const std::uint64_t want_packets = sum(traffic.want).packets;
  Series ours, others;
  std::optional<test::Exposition> last;
  auto read = [&] {
    last = scrape(metrics_port);
    if (!last) return false;
    ours.clear();
    others.clear();
    for (const auto& [k, v] : flow_series(*last, "five_tuple", tuple_labels)) {
      (traffic.want.count(k) != 0 ? ours : others)[k] = v;
    }
    return true;
  };
  const bool arrived = wait_until(30'000, [&] { return read() && sum(ours).packets >= want_packets; });
  const auto t_arrived = Clock::now();
  EXPECT_TRUE(arrived) << to_string(path) << ": " << sum(ours).packets << " of " << want_packets
                       << " packets after 30 s";
  // Then a few more ticks: what came late (a duplicate) would show now.
  std::this_thread::sleep_for(std::chrono::milliseconds(3 * tick_ms));
  ASSERT_TRUE(read()) << "scrape failed";
  EXPECT_EQ(ours, traffic.want) << to_string(path) << ":\n" << difference(traffic.want, ours);
  for (const auto& [k, v] : others) {
    // Anything else on the veth is the kernel's own link chatter (IPv6 MLD/ND), never our addresses.
    EXPECT_TRUE(on_veth(path)) << "unexpected series " << describe(k) << ": " << describe(v);
    EXPECT_EQ(traffic.addresses.count(k[0]) + traffic.addresses.count(k[1]), 0u)
        << "a series of the generated addresses that was not generated: " << describe(k);
  }
  expect_capture_accounting(*last);
  const double frames = last->sum("flow_capture_frames_total");
  if (on_veth(path)) {
    EXPECT_GE(frames, static_cast<double>(traffic.frames.size()));
  } else {
    EXPECT_EQ(frames, static_cast<double>(traffic.frames.size()));
  }
  if (path == Path::afpacket) {
    // Two fanout members, and each has part of the flows.
    const auto sources = capture_sources(*last);
    EXPECT_EQ(sources.size(), 2u);
    for (const auto& s : sources) {
      EXPECT_GT(last->sum("flow_capture_frames_total", {{"source", s}}), 0.0) << s << " got nothing";
    }
  }
  const auto t_stop = Clock::now();
  EXPECT_EQ(fp.stop(), 0) << fp.log();
  std::printf(
      "sources: %-18s %zu frames, %zu flows; started in %lld ms, all counted %lld ms later, stopped in %lld "
      "ms; %lld ms in all\n",
      to_string(path), traffic.frames.size(), traffic.want.size(),
      static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(t_started - t0).count()),
      static_cast<long long>(
          std::chrono::duration_cast<std::chrono::milliseconds>(t_arrived - t_started).count()),
      ms_since(t_stop), ms_since(t0));
}

INSTANTIATE_TEST_SUITE_P(Paths, SameTotals,
                         ::testing::Values(Path::pcap_file, Path::dpdk_pcap, Path::dpdk_af_packet,
                                           Path::dpdk_af_xdp, Path::afxdp, Path::afpacket, Path::pcap),
                         [](const ::testing::TestParamInfo<Path>& i) {
                           return std::string(to_string(i.param));
                         });

// ---------------------------------------------------------------------------------------------
// 2. Flow exports inside raw traffic.

enum class Proto { netflow9, netflow5, ipfix, sflow };

std::uint16_t export_port(Proto p) {  // capture.export_ports' defaults
  switch (p) {
    case Proto::netflow9: return 2055;
    case Proto::netflow5: return 2056;
    case Proto::ipfix: return 4739;
    case Proto::sflow: return 6343;
  }
  return 0;
}

struct Export {
  std::string what;
  Bytes payload;
  Proto proto;
  bool v6;  // sent by an IPv6 exporter (raw path) / from ::1 (UDP path)
};

Bytes logstash(const std::string& name) {
  return test::read_file(test::shared_data() / "payloads" / "logstash" / name);
}

std::vector<Bytes> udp_payloads(const std::string& capture) {
  std::vector<Bytes> out;
  auto file = io::PcapFile::open((test::shared_data() / "captures" / "pktvisor" / capture).string());
  if (!file) {
    ADD_FAILURE() << file.error();
    return out;
  }
  io::PcapUdpReader reader(*file);
  io::UdpDatagram dg;
  for (;;) {
    auto more = reader.next(dg);
    if (!more || !*more) break;
    out.emplace_back(dg.payload, dg.payload + dg.size);
  }
  return out;
}

void set16(Bytes& b, std::size_t at, std::size_t v) {
  b[at] = static_cast<std::uint8_t>(v >> 8);
  b[at + 1] = static_cast<std::uint8_t>(v);
}

// One IPFIX message with the sets of `a` then `b` (a's header, its length field made the sum): an
// exporter that sends its template and a full data set in one datagram larger than 1500 bytes.
Bytes merge_ipfix(const Bytes& a, const Bytes& b) {
  Bytes m = a;
  m.insert(m.end(), b.begin() + 16, b.end());
  set16(m, 2, m.size());
  return m;
}

// The datagrams: `small` fit one frame each; `large` (over 1500 bytes) exist only as fragments.
// Which files are valid exports (and what they hold) is in tests/unit/netflow_test.cpp and
// sflow_test.cpp; sequence numbers and times inside them do not matter to the totals.
struct ExportSet {
  std::vector<Export> small;
  std::vector<Export> large;
};

ExportSet export_set() {
  ExportSet s;
  s.small = {
      {"netflow9 cisco asa template", logstash("netflow9_test_cisco_asa_1_tpl.dat"), Proto::netflow9, false},
      {"netflow9 cisco asa data", logstash("netflow9_test_cisco_asa_1_data.dat"), Proto::netflow9, false},
      {"netflow9 cisco 1941K9 template+data", logstash("netflow9_test_cisco_1941K9.dat"), Proto::netflow9,
       false},
      {"ipfix mikrotik template", logstash("ipfix_test_mikrotik_tpl.dat"), Proto::ipfix, true},
      {"ipfix mikrotik data 258", logstash("ipfix_test_mikrotik_data258.dat"), Proto::ipfix, true},
      {"ipfix mikrotik data 259", logstash("ipfix_test_mikrotik_data259.dat"), Proto::ipfix, true},
      {"ipfix openbsd template", logstash("ipfix_test_openbsd_pflow_tpl.dat"), Proto::ipfix, true},
      {"ipfix openbsd data", logstash("ipfix_test_openbsd_pflow_data.dat"), Proto::ipfix, true},
  };
  for (auto& p : udp_payloads("sflow_keyed.pcap")) s.small.push_back({"sflow keyed", p, Proto::sflow, false});
  for (auto& p : udp_payloads("sflow_ipv6.pcap")) s.small.push_back({"sflow ipv6", p, Proto::sflow, true});
  s.large = {
      {"ipfix mikrotik template+data 258 in one message",
       merge_ipfix(logstash("ipfix_test_mikrotik_tpl.dat"), logstash("ipfix_test_mikrotik_data258.dat")),
       Proto::ipfix, true},
      {"netflow5 (1728 bytes)", logstash("netflow5.dat"), Proto::netflow5, false},
  };
  return s;
}

// The raw path's ends: exporter and collector addresses (documentation prefixes; the frames are
// written into the veth raw, so no host needs to own them).
FiveTuple export_tuple(const Export& e) {
  return e.v6 ? FiveTuple{ip("2001:db8:e::10"), ip("2001:db8:e::1"), 17, 50000, export_port(e.proto)}
              : FiveTuple{ip("192.0.2.10"), ip("192.0.2.1"), 17, 50000, export_port(e.proto)};
}

// The frames of one datagram cut into IP fragments, as a sender whose path MTU is smaller than the
// datagram does: the UDP header and payload (checksum over the whole datagram) in pieces of `piece`
// bytes (a multiple of 8), each behind its own IPv4 header (same id, MF on all but the last, offset
// in 8-byte units) or IPv6 header plus fragment header (next header UDP, 32-bit id).
std::vector<Bytes> fragment_frames(const FiveTuple& t, const Bytes& payload, std::size_t piece,
                                   std::uint32_t id) {
  // An MTU that leaves exactly `piece` bytes of payload per fragment after the IPv4 header, or the
  // IPv6 header and its fragment header.
  const std::size_t mtu = piece + (t.src.is_v4() ? 20 : 48);
  std::vector<Bytes> out;
  for (const Bytes& f : test::fragment_ip_packet(test::ip_packet_with(t, payload), mtu, id)) {
    out.push_back(test::ethernet_frame(f));
  }
  return out;
}

std::size_t round_up8(std::size_t n) { return (n + 7) / 8 * 8; }

// The raw traffic of a set: whole frames of the small datagrams, or every datagram fragmented (the
// small ones into 3 pieces, the large ones at a 1500-byte MTU: 1480 bytes of IPv4 payload, 1448 of
// IPv6 after the fragment header), the NetFlow v5 one last fragment first.
std::vector<Bytes> export_frames(const ExportSet& set, bool fragmented) {
  std::vector<Bytes> out;
  std::uint32_t id = 0x1000;
  if (!fragmented) {
    for (const auto& e : set.small)
      out.push_back(test::ethernet_frame(test::ip_packet_with(export_tuple(e), e.payload)));
    return out;
  }
  for (const auto& e : set.small) {
    const std::size_t piece = round_up8((e.payload.size() + 8 + 2) / 3);
    for (auto& f : fragment_frames(export_tuple(e), e.payload, piece, ++id)) out.push_back(std::move(f));
  }
  for (const auto& e : set.large) {
    auto frags = fragment_frames(export_tuple(e), e.payload, e.v6 ? 1448 : 1480, ++id);
    EXPECT_GE(frags.size(), 2u) << e.what;
    if (e.proto == Proto::netflow5) std::reverse(frags.begin(), frags.end());
    for (auto& f : frags) out.push_back(std::move(f));
  }
  return out;
}

// What the UDP listeners made of the datagrams: after the small ones, and after the large ones too.
struct Baseline {
  Series small;  // the whole set's expectation
  Series all;    // the fragmented set's
  double small_dropped_records = 0;
  double all_dropped_records = 0;
  std::string error;  // set when the UDP run failed
};

class UdpExporter {
 public:
  explicit UdpExporter(bool v6) : v6_(v6) {
    fd_ = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  }
  ~UdpExporter() {
    if (fd_ >= 0) ::close(fd_);
  }
  UdpExporter(const UdpExporter&) = delete;
  UdpExporter& operator=(const UdpExporter&) = delete;
  bool send(std::uint16_t port, const Bytes& b) const {
    sockaddr_storage to{};
    socklen_t len = 0;
    if (v6_) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&to);
      a->sin6_family = AF_INET6;
      a->sin6_port = htons(port);
      a->sin6_addr = in6addr_loopback;
      len = sizeof *a;
    } else {
      auto* a = reinterpret_cast<sockaddr_in*>(&to);
      a->sin_family = AF_INET;
      a->sin_port = htons(port);
      a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      len = sizeof *a;
    }
    return ::sendto(fd_, b.data(), b.size(), 0, reinterpret_cast<sockaddr*>(&to), len) ==
           static_cast<ssize_t>(b.size());
  }

 private:
  bool v6_;
  int fd_ = -1;
};

// One `flowpulse run` with a UDP listener per protocol on loopback: the IPv4 exporter's datagrams
// come from 127.0.0.1, the IPv6 exporter's from ::1, in the order the raw traffic has them.
Baseline udp_baseline(const ExportSet& set) {
  Baseline b;
  TempDir dir;
  const std::uint16_t metrics_port = test::free_port(SOCK_STREAM);
  std::map<Proto, std::uint16_t> ports;
  std::string listeners = "listeners:\n";
  for (const auto& [proto, name] :
       {std::pair{Proto::netflow9, "netflow9"}, std::pair{Proto::netflow5, "netflow5"},
        std::pair{Proto::ipfix, "ipfix"}, std::pair{Proto::sflow, "sflow"}}) {
    ports[proto] = test::free_port(SOCK_DGRAM);
    listeners += "  - {protocol: " + std::string(name) +
                 ", address: '::', port: " + std::to_string(ports[proto]) + "}\n";
  }
  Flowpulse fp(dir, "flowpulse-udp",
               listeners + "performance: {workers: 1, tick: " + std::to_string(tick_ms) + "ms}\n" +
                   metrics_yaml(metrics_port));
  if (!fp.started()) {
    b.error = "flowpulse with UDP listeners did not start:\n" + fp.log();
    return b;
  }
  const UdpExporter v4(false), v6(true);
  std::size_t sent = 0;
  auto send_all = [&](const std::vector<Export>& list) {
    for (const auto& e : list) {
      if (!(e.v6 ? v6 : v4).send(ports[e.proto], e.payload)) {
        b.error = "sendto failed for " + e.what;
        return false;
      }
      ++sent;
    }
    return true;
  };
  // Every datagram received (received = parsed + dropped, so all of them went through the decoder).
  auto settle = [&](Series& into, double& dropped) {
    std::optional<test::Exposition> e;
    const bool ok = wait_until(10'000, [&] {
      e = scrape(metrics_port);
      return e && e->sum("flow_received_packets_total") == static_cast<double>(sent);
    });
    if (!ok || !e) {
      b.error = "the UDP listeners did not receive all " + std::to_string(sent) + " datagrams";
      return false;
    }
    EXPECT_EQ(e->sum("flow_kernel_drops_total"), 0.0);
    into = decoded_series(*e);
    dropped = e->sum("flow_dropped_records_total");
    return true;
  };
  if (!send_all(set.small) || !settle(b.small, b.small_dropped_records)) return b;
  if (!send_all(set.large) || !settle(b.all, b.all_dropped_records)) return b;
  EXPECT_EQ(fp.stop(), 0) << fp.log();
  return b;
}

const Baseline& baseline() {
  static const Baseline b = udp_baseline(export_set());
  return b;
}

struct ExportCase {
  Path path;
  bool fragmented;
};

class ExportsInRawTraffic : public ::testing::TestWithParam<ExportCase> {};

TEST_P(ExportsInRawTraffic, DecodedAsOnUdp) {
  REQUIRE_ROOT();
  const Path path = GetParam().path;
  const bool fragmented = GetParam().fragmented;
  if (const std::string why = missing_feature(path); !why.empty()) {
    if (test::in_ci()) FAIL() << why;
    GTEST_SKIP() << why;
  }
  const auto t0 = Clock::now();
  const Baseline& udp = baseline();
  ASSERT_EQ(udp.error, "");
  const Series& want = fragmented ? udp.all : udp.small;
  const double want_dropped = fragmented ? udp.all_dropped_records : udp.small_dropped_records;
  ASSERT_FALSE(want.empty()) << "the UDP path decoded nothing";

  const ExportSet set = export_set();
  const std::vector<Bytes> frames = export_frames(set, fragmented);
  TempDir dir;
  const auto pcap = dir / "exports.pcap";
  std::vector<std::uint64_t> times;
  for (std::size_t i = 0; i < frames.size(); ++i) times.push_back(1'700'000'000'000'000'000ULL + i * 1000);
  write_pcap(pcap, frames, times);
  std::optional<NetnsRig> rig;
  if (on_veth(path)) {
    rig.emplace();
    ASSERT_TRUE(rig->ok()) << "scripts/netns-rig up failed: " << rig->error();
  }
  const std::uint16_t metrics_port = test::free_port(SOCK_STREAM);
  const std::string yaml =
      "listeners: []\ncapture:\n  sources:\n" + source_yaml(path, pcap.string(), rig ? rig->outer() : "") +
      "performance: {workers: 1, tick: " + std::to_string(tick_ms) + "ms}\n" + metrics_yaml(metrics_port);
  Flowpulse fp(dir, "flowpulse", yaml);
  ASSERT_TRUE(fp.started()) << "flowpulse did not start:\n" << fp.log();
  if (rig) {
    ASSERT_EQ(rig->inject(frames), "") << "sending the frames into the veth failed";
  }

  // Until the decoded totals are the UDP path's (each snapshot holds what the frames it counts decoded
  // into). Not until a frame count: link chatter adds frames on a veth, and DPDK's net_af_packet
  // joins a PACKET_FANOUT group with FLAG_DEFRAG, so the kernel hands it IPv4 datagrams reassembled.
  std::optional<test::Exposition> last;
  Series got;
  const bool decoded = wait_until(30'000, [&] {
    last = scrape(metrics_port);
    got = last ? decoded_series(*last) : Series{};
    return got == want;
  });
  const auto t_decoded = Clock::now();
  std::this_thread::sleep_for(std::chrono::milliseconds(3 * tick_ms));  // late duplicates would show
  last = scrape(metrics_port);
  ASSERT_TRUE(last) << "scrape failed";
  got = decoded_series(*last);
  const Totals tw = sum(want), tg = sum(got);
  const double seen = last->sum("flow_capture_frames_total");
  EXPECT_TRUE(decoded) << "not decoded within 30 s";
  EXPECT_EQ(got, want) << to_string(path) << (fragmented ? " fragmented" : " whole") << " (" << seen << " of "
                       << frames.size() << " frames seen): UDP path " << describe(tw) << " in " << want.size()
                       << " series, this path " << describe(tg) << " in " << got.size() << " series:\n"
                       << difference(want, got);
  EXPECT_EQ(last->sum("flow_dropped_records_total"), want_dropped);
  expect_capture_accounting(*last);
  if (path == Path::dpdk_pcap) {
    // Nothing but the exports is in the file: every frame is an export datagram, or a fragment of
    // one that reassembly made whole and the decoders took.
    const std::size_t datagrams = set.small.size() + (fragmented ? set.large.size() : 0);
    EXPECT_EQ(seen, static_cast<double>(frames.size()));
    EXPECT_EQ(last->sum("flow_capture_handled_frames_total", {{"outcome", "metered"}}), 0.0)
        << "frames of the exports were metered instead of decoded";
    if (fragmented) {
      EXPECT_EQ(last->sum("flow_capture_fragments_total"), static_cast<double>(frames.size()));
      EXPECT_EQ(last->sum("flow_capture_handled_frames_total", {{"outcome", "reassembly"}}),
                static_cast<double>(frames.size()));
      EXPECT_EQ(last->sum("flow_capture_reassembly_fragments_total", {{"outcome", "reassembled"}}),
                static_cast<double>(frames.size()));
      EXPECT_EQ(last->sum("flow_capture_reassembled_datagrams_total", {{"kind", "flow_export"}}),
                static_cast<double>(datagrams));
    } else {
      EXPECT_EQ(last->sum("flow_capture_handled_frames_total", {{"outcome", "flow_export"}}),
                static_cast<double>(datagrams));
    }
  } else if (path != Path::dpdk_af_packet) {
    EXPECT_GE(seen, static_cast<double>(frames.size()));
  }
  const auto t_stop = Clock::now();
  EXPECT_EQ(fp.stop(), 0) << fp.log();
  std::printf(
      "sources: exports %-18s %-10s %zu frames sent, %.0f seen, %zu datagrams, %zu series; decoded %lld ms "
      "after start, stopped in %lld ms; %lld ms in all\n",
      to_string(path), fragmented ? "fragmented" : "whole", frames.size(), seen,
      set.small.size() + (fragmented ? set.large.size() : 0), want.size(),
      static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(t_decoded - t0).count()),
      ms_since(t_stop), ms_since(t0));
}

INSTANTIATE_TEST_SUITE_P(
    Paths, ExportsInRawTraffic,
    ::testing::Values(ExportCase{Path::dpdk_pcap, false}, ExportCase{Path::dpdk_pcap, true},
                      ExportCase{Path::dpdk_af_packet, false}, ExportCase{Path::dpdk_af_packet, true},
                      ExportCase{Path::dpdk_af_xdp, false}, ExportCase{Path::dpdk_af_xdp, true},
                      ExportCase{Path::afxdp, false}, ExportCase{Path::afxdp, true}),
    [](const ::testing::TestParamInfo<ExportCase>& i) {
      return std::string(to_string(i.param.path)) + (i.param.fragmented ? "_fragmented" : "_whole");
    });

}  // namespace
}  // namespace flowpulse
