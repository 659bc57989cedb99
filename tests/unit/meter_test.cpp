// The meter's two ways into its flow cache: a burst (Meter::process over frames), which takes the
// common frames by a fast path straight from their bytes, and one frame with the full parser's
// result (parse_link, then classify), which is what every frame the fast path declines goes
// through. The two must give the same flows and the same counts for any frame: here both meters
// see the same generated frames (built by tests/support, cut short at every length, and with
// random bytes overwritten), and their flushed records and counters are compared. The expected
// flows of the directed test are the test's own input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/ip_address.hpp"
#include "decode/flow_decoder.hpp"
#include "decode/packet.hpp"
#include "engine/meter.hpp"
#include "pcap_builder.hpp"

namespace flowpulse::engine {
namespace {

using test::Bytes;
using test::ethernet_frame;
using test::FiveTuple;
using test::ip;
using test::ip_packet;

std::string describe(const FlowRecord& r) {
  std::ostringstream s;
  s << core::to_string(r.src_addr) << ' ' << core::to_string(r.dst_addr) << " family "
    << int(r.src_addr.family) << '/' << int(r.dst_addr.family) << " ports " << r.src_port << '>' << r.dst_port
    << " proto " << int(r.proto) << " if " << r.in_if << " bytes " << r.bytes << " packets " << r.packets
    << " flows " << r.flows << " flags " << int(r.tcp_flags) << " last " << r.time_flow_end_ns << " type "
    << int(r.type);
  return s.str();
}

std::string describe(const MeterStats& m) {
  std::ostringstream s;
  s << "frames " << m.frames << " bytes " << m.bytes << " metered " << m.metered << " started "
    << m.flows_started << " exports " << m.export_datagrams << " reassembly " << m.reassembly << " not_ip "
    << m.not_ip << " truncated " << m.truncated << " fragments " << m.fragments << " reassembled "
    << m.reassembled_exports << '/' << m.reassembled_metered << '/' << m.reassembled_bad_udp << " cache_full "
    << m.cache_full;
  return s.str();
}

struct Collect : decode::RecordSink {
  std::vector<std::string> records;
  void on_records(std::span<const FlowRecord> rs) override {
    for (const FlowRecord& r : rs) records.push_back(describe(r));
  }
};

// One meter with its decoder, and the sink of what it writes.
template <typename Sink>
struct MeterWith {
  decode::FlowDecoder decoder{decode::Limits{}};
  Meter meter;
  Sink sink;
  decode::RecordWriter out{sink};
  explicit MeterWith(const MeterSettings& s) : meter(s, decoder) {}
};

struct Metered : MeterWith<Collect> {
  using MeterWith::MeterWith;
  std::vector<std::string> flushed() {
    meter.flush(out);
    out.flush();
    return sink.records;
  }
};

struct Frames {
  std::vector<Bytes> bytes;
  std::vector<io::Frame> frames;  // caplen may be short of the bytes (a cut capture)
  // A frame of `wire_len` bytes captured as `b` (only these bytes exist: an ASan build catches a
  // read past them).
  void add(const Bytes& b, std::size_t wire_len, std::uint16_t port) {
    bytes.push_back(b);
    io::Frame f;
    f.caplen = static_cast<std::uint32_t>(b.size());
    f.wire_len = static_cast<std::uint32_t>(wire_len);
    f.timestamp_ns = 1'700'000'000'000'000'000ULL + frames.size() * 1000;
    f.port = port;
    frames.push_back(f);
  }
  // Points the frames at their bytes once all are added (the vector no longer moves).
  std::vector<io::Frame>& ready() {
    for (std::size_t i = 0; i < frames.size(); ++i) frames[i].data = bytes[i].data();
    return frames;
  }
};

FiveTuple tuple(const char* src, const char* dst, std::uint8_t proto, std::uint16_t sp, std::uint16_t dp) {
  return FiveTuple{ip(src), ip(dst), proto, sp, dp};
}

// Frames of every shape the fast path takes and of the shapes next to them that it must decline.
std::vector<Bytes> shapes() {
  std::vector<Bytes> out;
  const std::vector<FiveTuple> tuples = {
      tuple("10.0.0.1", "10.0.0.2", 6, 40000, 443),
      tuple("10.0.0.3", "192.0.2.9", 17, 5353, 53),
      tuple("10.0.0.4", "192.0.2.9", 17, 9995, 2055),  // to an export port: a flow export
      tuple("10.0.0.5", "10.0.0.6", 1, 0, 0),
      tuple("2001:db8::1", "2001:db8::2", 6, 40001, 80),
      tuple("2001:db8::3", "2001:db8::4", 17, 40002, 4739),  // IPFIX port
      tuple("2001:db8::5", "2001:db8::6", 17, 40003, 123),
      tuple("2001:db8::7", "2001:db8::8", 58, 0, 0),
  };
  for (const FiveTuple& t : tuples) {
    for (std::size_t payload : {0, 1, 40}) {
      const Bytes packet = ip_packet(t, payload);
      out.push_back(ethernet_frame(packet));
      out.push_back(ethernet_frame(packet, 100));
      // QinQ: an 802.1ad tag before the 802.1Q one.
      Bytes qinq = ethernet_frame(packet, 200);
      qinq.insert(qinq.begin() + 12, {0x88, 0xa8, 0x00, 0x07});
      out.push_back(qinq);
      for (const Bytes& fragment : test::fragment_ip_packet(ip_packet(t, 600), 256, 77))
        out.push_back(ethernet_frame(fragment));
    }
  }
  // IPv4 with options (IHL 6): the fast path leaves it to the parser.
  Bytes with_options = ip_packet(tuples[0], 10);
  with_options.insert(with_options.begin() + 20, {1, 1, 1, 0});
  with_options[0] = 0x46;
  with_options[3] = static_cast<std::uint8_t>(with_options[3] + 4);
  out.push_back(ethernet_frame(with_options));
  // GRE (47) and an IPv6 hop-by-hop header in front of TCP.
  Bytes gre = ip_packet(tuples[0], 20);
  gre[9] = 47;
  out.push_back(ethernet_frame(gre));
  Bytes hop = ip_packet(tuples[4], 20);
  hop.insert(hop.begin() + 40, {6, 0, 1, 4, 0, 0, 0, 0});
  hop[6] = 0;
  hop[5] = static_cast<std::uint8_t>(hop[5] + 8);
  out.push_back(ethernet_frame(hop));
  // Not IP.
  Bytes arp = ethernet_frame(Bytes(28, 0));
  arp[12] = 0x08;
  arp[13] = 0x06;
  out.push_back(arp);
  return out;
}

// Each shape whole and cut at every length, then copies with 1-3 random bytes of the first 80
// overwritten (header fields at and past every bound the parsers check). Fixed seed: the same
// frames on every run.
Frames generated() {
  Frames f;
  std::mt19937 rng(20261122);
  const std::vector<Bytes> all = shapes();
  for (std::size_t i = 0; i < all.size(); ++i) {
    const Bytes& b = all[i];
    const auto port = static_cast<std::uint16_t>(i % 3);
    for (std::size_t cut = 0; cut <= b.size(); ++cut) {
      f.add(Bytes(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(cut)), b.size(), port);
    }
    for (int m = 0; m < 300; ++m) {
      Bytes mutant = b;
      const int changes = 1 + static_cast<int>(rng() % 3);
      for (int c = 0; c < changes; ++c) {
        mutant[rng() % std::min<std::size_t>(mutant.size(), 80)] = static_cast<std::uint8_t>(rng());
      }
      f.add(mutant, mutant.size(), port);
    }
    // Repeats, so flows have more than one packet.
    f.add(b, b.size(), port);
  }
  return f;
}

TEST(MeterFastPath, GivesTheFlowsAndCountsOfTheFullParse) {
  Frames input = generated();
  const std::vector<io::Frame>& frames = input.ready();
  MeterSettings settings;
  settings.flow_cache_capacity = 1U << 15;

  Metered burst(settings);
  // Bursts of varying sizes, as sources hand them over.
  std::mt19937 rng(7);
  for (std::size_t at = 0; at < frames.size();) {
    const std::size_t n = std::min<std::size_t>(1 + rng() % 64, frames.size() - at);
    burst.meter.process(std::span<const io::Frame>(frames.data() + at, n), burst.out);
    at += n;
  }
  Metered full(settings);
  for (const io::Frame& f : frames) {
    const decode::PacketInfo info = decode::parse_link(1, f.data, f.caplen);
    full.meter.process(f, info, full.out);
  }

  const std::vector<std::string> a = burst.flushed();
  const std::vector<std::string> b = full.flushed();
  EXPECT_EQ(describe(burst.meter.stats()), describe(full.meter.stats()));
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]) << "record " << i;
  // The input holds frames of every kind: some metered, exported, reassembled, not IP, truncated.
  const MeterStats& s = burst.meter.stats();
  EXPECT_EQ(s.frames, frames.size());
  EXPECT_GT(s.metered, 0u);
  EXPECT_GT(s.export_datagrams, 0u);
  EXPECT_GT(s.reassembled_metered, 0u);
  EXPECT_GT(s.not_ip, 0u);
  EXPECT_GT(s.truncated, 0u);
}

TEST(MeterFastPath, CountsTheFramesItBuilt) {
  // Two packets of one TCP flow, one UDP packet over IPv6 on a VLAN, on port 3: expected values
  // are the frames' own.
  const FiveTuple tcp = tuple("198.51.100.7", "203.0.113.9", 6, 51000, 443);
  const FiveTuple udp = tuple("2001:db8:1::10", "2001:db8:2::20", 17, 33000, 53);
  test::PacketOptions syn;
  syn.tcp_flags = 0x02;
  test::PacketOptions fin_ack;
  fin_ack.tcp_flags = 0x11;
  Frames input;
  const Bytes first = ethernet_frame(ip_packet(tcp, 0, syn));
  const Bytes second = ethernet_frame(ip_packet(tcp, 100, fin_ack));
  const Bytes third = ethernet_frame(ip_packet(udp, 12), 42);
  for (const Bytes* b : {&first, &second, &third}) input.add(*b, b->size(), 3);
  const std::vector<io::Frame>& frames = input.ready();

  Metered m(MeterSettings{});
  m.meter.process(std::span<const io::Frame>(frames), m.out);
  const std::vector<std::string> records = m.flushed();
  ASSERT_EQ(records.size(), 2u);
  const std::vector<std::string> expected = {
      "198.51.100.7 203.0.113.9 family 4/4 ports 51000>443 proto 6 if 3 bytes " +
          std::to_string(first.size() + second.size()) + " packets 2 flows 1 flags 19 last " +
          std::to_string(frames[1].timestamp_ns) + " type " + std::to_string(int(FlowType::raw)),
      "2001:db8:1::10 2001:db8:2::20 family 6/6 ports 33000>53 proto 17 if 3 bytes " +
          std::to_string(third.size()) + " packets 1 flows 1 flags 0 last " +
          std::to_string(frames[2].timestamp_ns) + " type " + std::to_string(int(FlowType::raw)),
  };
  std::vector<std::string> sorted = records;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, expected);
  EXPECT_EQ(m.meter.stats().metered, 3u);
  EXPECT_EQ(m.meter.stats().flows_started, 2u);
}

// The flow cache's capacity, idle timeout and the sweep that deletes idle flows. The UDP flows
// here differ by source port; every expected count is worked out from the test's own packets.
struct CacheFlows {
  std::vector<Bytes> frames;  // one frame per flow: UDP 10.0.0.1:(10000 + i) -> 10.0.0.2:80
  explicit CacheFlows(std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      frames.push_back(ethernet_frame(ip_packet(
          tuple("10.0.0.1", "10.0.0.2", 17, static_cast<std::uint16_t>(10000 + i), 80), 10 + i % 50)));
    }
  }
};

// Records of every flush, by flush and source port.
struct PerFlow : decode::RecordSink {
  struct Counts {
    std::uint64_t bytes = 0, packets = 0, flows = 0, records = 0;
    friend bool operator==(const Counts&, const Counts&) = default;
  };
  std::vector<std::map<std::uint16_t, Counts>> flushes{1};
  void on_records(std::span<const FlowRecord> rs) override {
    for (const FlowRecord& r : rs) {
      Counts& c = flushes.back()[r.src_port];
      c.bytes += r.bytes;
      c.packets += r.packets;
      c.flows += r.flows;
      ++c.records;
    }
  }
};

struct CacheMeter : MeterWith<PerFlow> {
  using MeterWith::MeterWith;
  void send(const Bytes& b, std::uint64_t t) {
    io::Frame f;
    f.data = b.data();
    f.caplen = f.wire_len = static_cast<std::uint32_t>(b.size());
    f.timestamp_ns = t;
    meter.process(std::span<const io::Frame>(&f, 1), out);
  }
  void flush() {
    meter.flush(out);
    out.flush();
    sink.flushes.emplace_back();
  }
};

constexpr std::uint64_t t0 = 1'700'000'000'000'000'000ULL;
constexpr std::uint64_t second = 1'000'000'000ULL;

TEST(MeterCache, PacketsOfNewFlowsThatFindItFullAreRecordsOfTheirOwn) {
  MeterSettings s;
  s.flow_cache_capacity = 64;
  CacheMeter m(s);
  // 100 flows, 3 rounds of one packet each: flows 0-63 take the 64 entries in round 1; every
  // packet of flows 64-99 finds the cache full and is a flow start and a record of its own.
  const CacheFlows flows(100);
  std::uint64_t t = t0;
  for (int round = 0; round < 3; ++round)
    for (const Bytes& b : flows.frames) m.send(b, t += 1000);
  m.flush();
  const auto& records = m.sink.flushes[0];
  ASSERT_EQ(records.size(), 100u);
  for (std::size_t i = 0; i < 100; ++i) {
    const PerFlow::Counts& c = records.at(static_cast<std::uint16_t>(10000 + i));
    const std::uint64_t size = flows.frames[i].size();
    const PerFlow::Counts want =
        i < 64 ? PerFlow::Counts{3 * size, 3, 1, 1} : PerFlow::Counts{3 * size, 3, 3, 3};
    EXPECT_EQ(c, want) << "flow " << i;
  }
  EXPECT_EQ(m.meter.stats().cache_full, 36u * 3);
  EXPECT_EQ(m.meter.stats().flows_started, 64u + 36 * 3);
  EXPECT_EQ(m.meter.cached_flows(), 64u);
}

TEST(MeterCache, FlowsIdlePastTheTimeoutMakeRoomForNewOnes) {
  MeterSettings s;
  s.flow_cache_capacity = 64;
  s.idle_timeout_ns = second;
  CacheMeter m(s);
  // Flows 0-63 fill the cache at t0. Two seconds later flow 0 comes back (it starts again, in its
  // own entry) and the flush deletes the 63 others, idle past the timeout; then flows 64-126 come,
  // and each takes an entry: none finds the cache full.
  const CacheFlows flows(127);
  for (std::size_t i = 0; i < 64; ++i) m.send(flows.frames[i], t0 + i);
  m.flush();
  EXPECT_EQ(m.meter.cached_flows(), 64u);
  m.send(flows.frames[0], t0 + 2 * second);
  m.flush();
  EXPECT_EQ(m.meter.cached_flows(), 1u);
  for (std::size_t i = 64; i < 127; ++i) m.send(flows.frames[i], t0 + 2 * second + i);
  m.flush();
  EXPECT_EQ(m.meter.stats().cache_full, 0u);
  EXPECT_EQ(m.meter.cached_flows(), 64u);
  EXPECT_EQ(m.meter.stats().flows_started, 64u + 1 + 63);
  ASSERT_EQ(m.sink.flushes[2].size(), 63u);
  for (const auto& [port, c] : m.sink.flushes[2]) EXPECT_EQ(c.flows, 1u) << "port " << port;
}

TEST(MeterCache, AFrameOlderThanItsFlowsLastIsNoNewStart) {
  // Capture times can go back a little (merged captures, several queues): one flow at t0 + 10 s,
  // then at t0 + 9 s, then t0 + 10.5 s: one flow start, three packets, nothing idle.
  MeterSettings s;
  s.idle_timeout_ns = second;
  CacheMeter m(s);
  const CacheFlows flows(1);
  for (std::uint64_t t : {t0 + 10 * second, t0 + 9 * second, t0 + 10 * second + second / 2})
    m.send(flows.frames[0], t);
  m.flush();
  ASSERT_EQ(m.sink.flushes[0].size(), 1u);
  EXPECT_EQ(m.sink.flushes[0].at(10000), (PerFlow::Counts{3 * flows.frames[0].size(), 3, 1, 1}));
  EXPECT_EQ(m.meter.stats().flows_started, 1u);
  EXPECT_EQ(m.meter.cached_flows(), 1u);
}

TEST(MeterCache, FlowsKeepTheirCountsWhileTheSweepMovesEntries) {
  // 20,000 flows in a cache of 32,768 (65,536 slots: the sweep takes more than one flush to go
  // round). For 60 "seconds" a random tenth of the flows sends 1-3 packets each second, then the
  // meter is flushed; deleting idle entries moves others back along their probe chains, and every
  // flow must still be found in its entry. The expected records per flush come from a model of
  // the same packets: a flow starts on its first packet and on the first after more than the idle
  // timeout (1.5 s) without one.
  MeterSettings s;
  s.flow_cache_capacity = 32768;
  s.idle_timeout_ns = second * 3 / 2;
  CacheMeter m(s);
  const CacheFlows flows(20000);
  std::vector<std::uint64_t> last(flows.frames.size(), 0);
  std::vector<std::map<std::uint16_t, PerFlow::Counts>> want;
  std::mt19937 rng(2026);
  std::uint64_t deleted_somewhere = 0;
  for (int sec = 0; sec < 60; ++sec) {
    std::map<std::uint16_t, PerFlow::Counts> expect;
    std::uint64_t t = t0 + static_cast<std::uint64_t>(sec) * second;
    for (std::size_t i = 0; i < flows.frames.size(); ++i) {
      if (rng() % 10 != 0) continue;
      const int packets = 1 + static_cast<int>(rng() % 3);
      for (int k = 0; k < packets; ++k) {
        t += 10;
        m.send(flows.frames[i], t);
        PerFlow::Counts& c = expect[static_cast<std::uint16_t>(10000 + i)];
        c.bytes += flows.frames[i].size();
        ++c.packets;
        if (last[i] == 0 || t - last[i] > s.idle_timeout_ns) ++c.flows;
        c.records = 1;
        last[i] = t;
      }
    }
    const std::size_t before = m.meter.cached_flows();
    m.flush();
    deleted_somewhere += before > m.meter.cached_flows();
    want.push_back(std::move(expect));
  }
  EXPECT_GT(deleted_somewhere, 0u);  // the sweep ran and deleted
  EXPECT_EQ(m.meter.stats().cache_full, 0u);
  for (std::size_t f = 0; f < want.size(); ++f) {
    EXPECT_EQ(m.sink.flushes[f].size(), want[f].size()) << "flush " << f;
    for (const auto& [port, c] : want[f]) {
      const auto it = m.sink.flushes[f].find(port);
      ASSERT_NE(it, m.sink.flushes[f].end()) << "flush " << f << " port " << port;
      EXPECT_EQ(it->second, c) << "flush " << f << " port " << port;
    }
  }
}

}  // namespace
}  // namespace flowpulse::engine
