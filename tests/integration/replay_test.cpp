// `flowpulse replay` on a capture the test writes: metered flows and the flow exports inside the
// capture come out with exactly the traffic the file holds, and the output is byte-identical across
// runs and across 1, 2 and 4 workers.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <sstream>

#include "core/ip_address.hpp"
#include "netflow_builder.hpp"
#include "pcap_builder.hpp"
#include "test_support.hpp"

namespace flowpulse {
namespace {

using test::ip;
using test::KnownFlow;

constexpr std::uint64_t t0 = 1'700'000'000'000'000'000ULL;  // capture start

struct Capture {
  std::vector<KnownFlow> flows;
  // The NetFlow v5 export inside the capture: 2 records.
  std::vector<test::V5Record> exported = {{0x0A090001, 0x0A090002, 1111, 80, 6, 12, 3400},
                                          {0x0A090003, 0x0A090004, 2222, 53, 17, 3, 210}};
  // A second export, 30 records (1464 bytes of NetFlow v5) sent over IPv6 in fragments of at most
  // 600 bytes, the last fragment first: 30 flows 10.8.0.<i> -> 10.8.1.<i> UDP 7000+i -> 53, i
  // packets, 100*i bytes.
  std::vector<test::V5Record> fragmented;
  std::size_t fragments = 0;
  // A UDP datagram that is not an export (to port 9000), 3000 bytes in IPv4 fragments of <= 1500:
  // metered as one packet train of its flow, all fragments' wire bytes.
  test::FiveTuple big_udp{ip("10.7.0.1"), ip("10.7.0.2"), 17, 7777, 9000};
  std::uint64_t big_udp_wire_bytes = 0;
  std::size_t big_udp_fragments = 0;
  std::uint64_t span_ns = 0;  // last frame time - first frame time
};

// Six flows (TCP, UDP, ICMP over IPv4 and IPv6, both directions of one TCP connection) interleaved
// over 6 s of capture time, one NetFlow v5 datagram from 192.0.2.9 to port 2056 in the middle, a
// larger one from 2001:db8:9::9 in IPv6 fragments (out of order), and a fragmented non-export
// UDP datagram.
Capture write_capture(const std::filesystem::path& path) {
  Capture c;
  c.flows = {
      {{ip("10.1.0.1"), ip("10.2.0.1"), 6, 40001, 80}, 20, 100},
      {{ip("10.2.0.1"), ip("10.1.0.1"), 6, 80, 40001}, 15, 1000},
      {{ip("10.1.0.2"), ip("10.2.0.2"), 17, 5353, 53}, 7, 60},
      {{ip("2001:db8::1"), ip("2001:db8::2"), 6, 40002, 443}, 9, 300},
      {{ip("2001:db8::3"), ip("2001:db8::4"), 17, 9999, 4789}, 11, 1200},
      {{ip("10.1.0.3"), ip("10.2.0.3"), 1, 0, 0}, 5, 56},
  };
  test::PcapBuilder pcap;
  std::uint64_t t = t0;
  std::uint64_t last = t0;
  const auto add = [&](const test::Bytes& frame) {
    pcap.add(t, frame);
    last = t;
  };
  for (int round = 0; round < 20; ++round) {
    for (auto& f : c.flows) {
      if (round >= f.packets) continue;
      add(test::ethernet_frame(test::ip_packet(f.tuple, f.payload)));
      t += 50'000'000;  // 50 ms
    }
    if (round == 5) {
      test::FiveTuple udp{ip("192.0.2.9"), ip("192.0.2.1"), 17, 50000, 2056};
      add(test::ethernet_frame(test::ip_packet_with(udp, test::netflow5_datagram(c.exported))));
      t += 50'000'000;
    }
    if (round == 7) {
      for (std::uint32_t i = 1; i <= 30; ++i) {
        c.fragmented.push_back(
            {0x0A080000 | i, 0x0A080100 | i, static_cast<std::uint16_t>(7000 + i), 53, 17, i, 100 * i});
      }
      test::FiveTuple udp{ip("2001:db8:9::9"), ip("2001:db8:9::1"), 17, 50001, 2056};
      auto frags = test::fragment_ip_packet(test::ip_packet_with(udp, test::netflow5_datagram(c.fragmented)),
                                            600, 0x1234);
      c.fragments = frags.size();
      for (auto it = frags.rbegin(); it != frags.rend(); ++it) {
        add(test::ethernet_frame(*it));
        t += 10'000'000;
      }
      auto big = test::fragment_ip_packet(test::ip_packet(c.big_udp, 3000), 1500, 77);
      c.big_udp_fragments = big.size();
      for (const auto& f : big) {
        const auto frame = test::ethernet_frame(f);
        c.big_udp_wire_bytes += frame.size();
        add(frame);
        t += 10'000'000;
      }
    }
  }
  pcap.write(path);
  c.span_ns = last - t0;
  return c;
}

class Replay : public ::testing::Test {
 protected:
  void SetUp() override {
    capture_ = write_capture(dir_ / "capture.pcap");
    test::write_file(dir_ / "replay.yaml",
                     "performance: {tick: 1s}\n"
                     "metrics:\n  windows: [10s, 1m]\n  dimensions:\n"
                     "    - {name: tuple, labels: [src_addr, dst_addr, src_port, dst_port, protocol]}\n"
                     "    - {name: exporter, labels: [exporter, protocol]}\n");
  }
  test::RunResult replay(const std::vector<std::string>& extra) {
    std::vector<std::string> argv = {test::flowpulse_binary(), "replay", "-c",
                                     (dir_ / "replay.yaml").string()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back((dir_ / "capture.pcap").string());
    return test::run(argv, 60'000);
  }

  test::TempDir dir_;
  Capture capture_;
};

// {"dimension_set":"tuple","src_addr":"10.1.0.1",...,"bytes":N,"packets":N,"flows":N}
std::map<std::string, std::string> fields(const std::string& line) {
  std::map<std::string, std::string> out;
  std::size_t i = 1;
  while (i < line.size() && line[i] == '"') {
    const std::size_t k_end = line.find('"', i + 1);
    const std::string key = line.substr(i + 1, k_end - i - 1);
    std::size_t v = k_end + 2;
    std::string value;
    if (line[v] == '"') {
      const std::size_t v_end = line.find('"', v + 1);
      value = line.substr(v + 1, v_end - v - 1);
      i = v_end + 2;
    } else {
      const std::size_t v_end = line.find_first_of(",}", v);
      value = line.substr(v, v_end - v);
      i = v_end + 1;
    }
    out[key] = value;
  }
  return out;
}

TEST_F(Replay, FlowsAndExportsComeOutExactly) {
  auto r = replay({"--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  std::map<std::string, std::map<std::string, std::string>> tuple_series;
  std::map<std::string, std::map<std::string, std::string>> exporter_series;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) {
    auto f = fields(line);
    if (f["dimension_set"] == "tuple") {
      tuple_series[f["src_addr"] + " " + f["dst_addr"] + " " + f["src_port"] + " " + f["dst_port"] + " " +
                   f["protocol"]] = f;
    } else {
      exporter_series[f["exporter"] + " " + f["protocol"]] = f;
    }
  }
  const char* names[] = {"", "icmp", "", "", "", "", "tcp", "", "", "", "", "", "", "", "", "", "", "udp"};
  std::uint64_t metered_bytes = 0, metered_packets = 0;
  for (const auto& f : capture_.flows) {
    // Each frame: Ethernet (14) + the IP packet; one flow per direction.
    const std::uint64_t bytes = (14 + f.ip_length()) * static_cast<std::uint64_t>(f.packets);
    metered_bytes += bytes;
    metered_packets += static_cast<std::uint64_t>(f.packets);
    std::ostringstream k;
    k << core::to_string(f.tuple.src) << " " << core::to_string(f.tuple.dst) << " " << f.tuple.src_port << " "
      << f.tuple.dst_port << " " << names[f.tuple.proto];
    ASSERT_TRUE(tuple_series.count(k.str())) << k.str() << "\n" << r.out;
    EXPECT_EQ(tuple_series[k.str()]["bytes"], std::to_string(bytes)) << k.str();
    EXPECT_EQ(tuple_series[k.str()]["packets"], std::to_string(f.packets)) << k.str();
    EXPECT_EQ(tuple_series[k.str()]["flows"], "1") << k.str();
  }
  // The export's records, as the datagram says (10.9.0.1 -> 10.9.0.2 TCP, 12 packets, 3400 bytes ...).
  EXPECT_EQ(tuple_series["10.9.0.1 10.9.0.2 1111 80 tcp"]["bytes"], "3400");
  EXPECT_EQ(tuple_series["10.9.0.1 10.9.0.2 1111 80 tcp"]["packets"], "12");
  EXPECT_EQ(tuple_series["10.9.0.3 10.9.0.4 2222 53 udp"]["bytes"], "210");
  // The fragmented export, reassembled and decoded: its 30 records as built.
  for (const auto& rec : capture_.fragmented) {
    std::ostringstream k;
    k << "10.8.0." << (rec.src & 0xff) << " 10.8.1." << (rec.dst & 0xff) << " " << rec.src_port << " 53 udp";
    ASSERT_TRUE(tuple_series.count(k.str())) << k.str();
    EXPECT_EQ(tuple_series[k.str()]["bytes"], std::to_string(rec.bytes)) << k.str();
    EXPECT_EQ(tuple_series[k.str()]["packets"], std::to_string(rec.packets)) << k.str();
  }
  // The big non-export datagram: one flow, one packet per fragment, every fragment's frame bytes.
  const std::string big = "10.7.0.1 10.7.0.2 7777 9000 udp";
  ASSERT_TRUE(tuple_series.count(big)) << r.out;
  EXPECT_EQ(tuple_series[big]["bytes"], std::to_string(capture_.big_udp_wire_bytes));
  EXPECT_EQ(tuple_series[big]["packets"], std::to_string(capture_.big_udp_fragments));
  EXPECT_EQ(tuple_series[big]["flows"], "1");
  metered_bytes += capture_.big_udp_wire_bytes;
  EXPECT_EQ(tuple_series.size(), capture_.flows.size() + 2 + capture_.fragmented.size() +
                                     1);  // nothing else: the export datagrams are not metered
  EXPECT_EQ(exporter_series["192.0.2.9 tcp"]["bytes"], "3400");
  EXPECT_EQ(exporter_series["192.0.2.9 udp"]["flows"], "1");
  // Metered flows have no exporter: the empty address.
  std::uint64_t raw_bytes = 0;
  for (auto& [k, f] : exporter_series) {
    if (k.rfind("192.0.2.9 ", 0) != 0 && k.rfind("2001:db8:9::9 ", 0) != 0)
      raw_bytes += std::stoull(f["bytes"]);
  }
  EXPECT_EQ(raw_bytes, metered_bytes);
  const std::size_t all_fragments = capture_.fragments + capture_.big_udp_fragments;
  EXPECT_NE(r.err.find("2 export datagrams (1 reassembled; 32 records, 0 errors)"), std::string::npos)
      << r.err;
  // Flows started: the 6 metered flows and the big datagram's.
  EXPECT_NE(r.err.find(std::to_string(metered_packets) + " metered (7 flows)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(std::to_string(all_fragments) + " fragments (" + std::to_string(all_fragments) +
                       " UDP to reassembly, 0 not reassembled)"),
            std::string::npos)
      << r.err;
}

TEST_F(Replay, OutputIsByteIdenticalAcrossRunsAndWorkers) {
  const auto first = replay({});
  ASSERT_EQ(first.code, 0) << first.err;
  EXPECT_NE(first.out.find("flow_bytes_total{dimension_set=\"tuple\""), std::string::npos);
  EXPECT_NE(first.out.find("flow_bandwidth_bytes_per_second{window=\"10s\""), std::string::npos);
  EXPECT_EQ(replay({}).out, first.out);
  for (const char* w : {"1", "2", "4"}) {
    EXPECT_EQ(replay({"--workers", w}).out, first.out) << "workers " << w;
    EXPECT_EQ(replay({"--workers", w, "--json"}).out, replay({"--json"}).out) << "workers " << w;
  }
}

// --speed paces the frames by their capture times but changes nothing in the output. The capture
// spans (last - first frame time) capture_.span_ns; at speed 8 the run cannot be shorter than an
// eighth of it (pacing only ever waits).
TEST_F(Replay, SpeedPacesWithoutChangingTheOutput) {
  const auto fast = replay({});
  ASSERT_EQ(fast.code, 0) << fast.err;
  const auto t0 = std::chrono::steady_clock::now();
  const auto paced = replay({"--speed", "8", "--workers", "2"});
  const auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_EQ(paced.code, 0) << paced.err;
  EXPECT_EQ(paced.out, fast.out);
  EXPECT_GE(std::chrono::duration_cast<std::chrono::nanoseconds>(took).count(),
            static_cast<std::int64_t>(capture_.span_ns / 8));
  for (const char* bad : {"-1", "x", "1e9"}) {
    const auto r = replay({"--speed", bad});
    EXPECT_EQ(r.code, 2) << bad;
    EXPECT_NE(r.err.find("--speed takes a number"), std::string::npos) << r.err;
  }
}

TEST_F(Replay, ClearErrors) {
  auto r = test::run({test::flowpulse_binary(), "replay", (dir_ / "missing.pcap").string()});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("missing.pcap"), std::string::npos) << r.err;
  EXPECT_EQ(test::run({test::flowpulse_binary(), "replay"}).code, 2);
  EXPECT_EQ(test::run({test::flowpulse_binary(), "replay", "--workers", "0", "x.pcap"}).code, 2);
}

// capture.idle_timeout reaches the meter: one UDP flow with packets at 0, 0.5, 3 and 3.2 s of capture
// time is one flow at the default 15 s, and two with a 2 s timeout (the 2.5 s gap ends the first).
TEST_F(Replay, IdleTimeoutEndsFlows) {
  test::PcapBuilder pcap;
  const test::FiveTuple udp{ip("10.3.0.1"), ip("10.3.0.2"), 17, 6000, 7000};
  for (std::uint64_t ms : {0, 500, 3000, 3200})
    pcap.add(t0 + ms * 1'000'000, test::ethernet_frame(test::ip_packet(udp, 20)));
  pcap.write(dir_ / "gap.pcap");
  for (const auto& [timeout, flows] : {std::pair<std::string, std::string>{"15s", "1"}, {"2s", "2"}}) {
    test::write_file(dir_ / "gap.yaml",
                     "capture: {idle_timeout: " + timeout +
                         "}\nmetrics:\n  dimensions:\n    - {name: p, labels: [protocol]}\n");
    auto r = test::run({test::flowpulse_binary(), "replay", "-q", "--json", "-c",
                        (dir_ / "gap.yaml").string(), (dir_ / "gap.pcap").string()},
                       60'000);
    ASSERT_EQ(r.code, 0) << r.err;
    auto f = fields(r.out.substr(0, r.out.find('\n')));
    EXPECT_EQ(f["protocol"], "udp") << r.out;
    EXPECT_EQ(f["packets"], "4") << r.out;
    EXPECT_EQ(f["flows"], flows) << "idle_timeout " << timeout << ": " << r.out;
  }
}

// Every shard's flow table and flow cache are committed when made: a capacity the machine cannot
// hold is refused with what it needs, before any is made (not left to the OOM killer).
TEST_F(Replay, RefusesShardsTheMachineCannotHold) {
  test::write_file(dir_ / "huge.yaml", "performance: {table_capacity: 67108864}\n");
  auto r = test::run({test::flowpulse_binary(), "replay", "-q", "-c", (dir_ / "huge.yaml").string(),
                      "--workers", "64", (dir_ / "capture.pcap").string()},
                     60'000);
  EXPECT_EQ(r.code, 1) << r.err;
  // Per shard, 2^27 slots (2^26 x 4/3, up to a power of two): the flow table's 64-byte narrow
  // entries, tag bytes, 96-byte wide entries and 4-byte used list of 2^26 (20,864 MiB), and the
  // flow cache's 64-byte entries and 4-byte slot list (8,704 MiB): 29,568 MiB x 64 = 1,892,352 MiB.
  EXPECT_NE(r.err.find("performance.table_capacity 67108864: the flow tables of 64 workers need 1892352 MiB"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("lower table_capacity or --workers"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace flowpulse
