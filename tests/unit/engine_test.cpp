// Engine pieces without sockets: keys and address masking, the fixed-capacity shard and its overflow
// entry, and the stats core's totals, series budget ("other") and windows, driven with synthetic
// ticks. Expected values are computed from the records each test adds.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <sched.h>
#include <sys/socket.h>
#include <array>
#include <bit>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <set>
#include <sstream>
#include <thread>

#include "bytes.hpp"
#include "core/ip_address.hpp"
#include "decode/reassembly.hpp"
#include "engine/collector.hpp"
#include "engine/flow_table.hpp"
#include "engine/meter.hpp"
#include "engine/stats_core.hpp"
#include "engine/worker.hpp"
#include "test_support.hpp"

namespace flowpulse::engine {
namespace {

constexpr std::uint64_t s = 1'000'000'000ULL;

Dimensions dims(std::vector<Label> labels, std::uint8_t v4 = 32, std::uint8_t v6 = 128) {
  config::DimensionSet ds{"test", {}, v4, v6};
  for (Label l : labels) ds.labels.push_back(to_string(l));
  auto d = compile_dimensions({ds});
  EXPECT_TRUE(d.ok());
  return d->front();
}

FlowRecord record(const char* src, const char* dst, std::uint16_t sport, std::uint16_t dport,
                  std::uint64_t bytes) {
  FlowRecord r;
  r.src_addr = *core::parse_ip(src);
  r.dst_addr = *core::parse_ip(dst);
  r.src_port = sport;
  r.dst_port = dport;
  r.proto = 6;
  r.bytes = bytes;
  r.packets = 1;
  return r;
}

// The stats core's key of `r` in set 0 (as a worker makes it, widened).
FlowKey key_of(const FlowRecord& r, const Dimensions& d) {
  ShardKey s;
  const std::uint64_t h = make_key(r, d, 0, s);
  EXPECT_EQ(h, hash_key(s));  // the hash it computes from its words is the key's
  return widen(s);
}

TEST(FlowKey, MasksAddressesAndZeroesUnusedLabels) {
  const Dimensions d = dims({Label::src_addr, Label::dst_addr, Label::protocol}, 24, 64);
  FlowKey k = key_of(record("192.0.2.77", "2001:db8:1:2:3:4:5:6", 1234, 80, 10), d);
  EXPECT_EQ(label_value(k, Label::src_addr), "192.0.2.0");
  EXPECT_EQ(label_value(k, Label::dst_addr), "2001:db8:1:2::");
  EXPECT_EQ(label_value(k, Label::protocol), "tcp");
  EXPECT_EQ(k.src_port, 0);  // not in the set
  FlowKey other = key_of(record("192.0.2.1", "2001:db8:1:2:ffff::", 9, 9, 10), d);
  EXPECT_EQ(k, other);  // same /24 and /64, ports ignored
  EXPECT_EQ(hash_key(k), hash_key(other));
  EXPECT_EQ(label_value(overflow_key(0), Label::src_addr), "other");
}

// The key a set gives a record, written out label by label from what the labels mean (the test's
// own oracle for make_key's word masks): addresses masked to the set's prefix unless kept whole
// for a lookup, the export's AS kept with an address looked up for an ASN, the rest as carried.
ShardKey expected_key(const FlowRecord& r, const Dimensions& d, std::uint8_t set) {
  ShardKey k;
  auto address = [&d](const IpAddress& a, bool lookup, Label label) {
    std::array<std::uint8_t, 16> b{};
    if (!lookup && !d.has(label)) return b;
    b = a.bytes;
    if (lookup) return b;
    unsigned keep = a.family == 6 ? d.ipv6_prefix : 96U + d.ipv4_prefix;
    for (auto& byte : b) {
      const unsigned bits = std::min(keep, 8U);
      byte &= static_cast<std::uint8_t>(0xff00U >> bits);
      keep -= bits;
    }
    return b;
  };
  k.src_addr = address(r.src_addr, d.src_lookup, Label::src_addr);
  k.dst_addr = address(r.dst_addr, d.dst_lookup, Label::dst_addr);
  if (d.has(Label::exporter)) k.exporter = r.sampler_address.bytes;
  if (d.has(Label::in_if)) k.in_if = r.in_if;
  if (d.has(Label::out_if)) k.out_if = r.out_if;
  if (d.has(Label::src_as) || (d.src_lookup && d.has(Label::src_asn))) k.src_as = r.src_as;
  if (d.has(Label::dst_as) || (d.dst_lookup && d.has(Label::dst_asn))) k.dst_as = r.dst_as;
  if (d.has(Label::src_port)) k.src_port = r.src_port;
  if (d.has(Label::dst_port)) k.dst_port = r.dst_port;
  if (d.has(Label::protocol)) k.proto = r.proto;
  if (d.has(Label::direction)) k.direction = static_cast<std::uint8_t>(r.direction);
  k.set = set;
  return k;
}

// make_key_with<W> for a W only known at run time (the shard aggregator's dispatch, done here by
// the test itself).
template <std::size_t... W>
std::uint64_t make_key_for(unsigned words, const FlowRecord& r, const Dimensions& d, std::uint8_t set,
                           ShardKey& out, bool* narrow, std::index_sequence<W...>) {
  std::uint64_t h = 0;
  ((words == W ? (h = make_key_with<W>(r, d, set, out, narrow), true) : false) || ...);
  return h;
}

// Every combination of the labels a worker keys by (2^11), each with no lookup, a source lookup
// (src_country), a destination one (dst_asn) or both, and prefixes /32 /128 or /20 /44: the key
// make_key gives, and the one the set's own specialization gives (what ShardAggregator runs),
// equal the key written out label by label, with the same hash and narrowness.
TEST(FlowKey, EverySetsKeyIsItsLabels) {
  std::vector<FlowRecord> records;
  const char* addrs[][2] = {{"192.0.2.77", "198.51.100.200"},
                            {"2001:db8:1:2:3:4:5:6", "10.1.2.3"},
                            {"10.9.8.7", "2001:db8:ffff::1"},
                            {"", "203.0.113.9"}};
  std::uint16_t port = 1000;
  for (const auto& a : addrs) {
    for (const char* exporter : {"192.0.2.1", "2001:db8::9"}) {
      FlowRecord r;
      if (*a[0] != '\0') r.src_addr = *core::parse_ip(a[0]);
      r.dst_addr = *core::parse_ip(a[1]);
      r.sampler_address = *core::parse_ip(exporter);
      r.src_port = port++;
      r.dst_port = static_cast<std::uint16_t>(port++ * 7);
      r.proto = static_cast<std::uint8_t>(port % 3 == 0 ? 6 : 17);
      r.etype = 0x86dd;  // next to proto and the ports in the record: must not leak into the key
      r.in_if = port * 11U;
      r.out_if = 0xfffffff0U + port % 7;
      r.src_as = 64500U + port;
      r.dst_as = 4200000000U + port;
      r.direction = port % 2 == 0 ? FlowDirection::egress : FlowDirection::ingress;
      records.push_back(r);
    }
  }
  const std::vector<Label> worker_labels = {
      Label::src_addr, Label::dst_addr, Label::src_port, Label::dst_port, Label::protocol, Label::in_if,
      Label::out_if,   Label::exporter, Label::src_as,   Label::dst_as,   Label::direction};
  std::size_t checked = 0;
  std::set<unsigned> words_seen;
  for (unsigned combo = 0; combo < (1U << worker_labels.size()); ++combo) {
    for (unsigned lookups = 0; lookups < 4; ++lookups) {
      for (const bool narrow_prefixes : {false, true}) {
        std::vector<Label> labels;
        for (std::size_t i = 0; i < worker_labels.size(); ++i)
          if (combo >> i & 1U) labels.push_back(worker_labels[i]);
        if (lookups & 1U) labels.push_back(Label::src_country);
        if (lookups & 2U) labels.push_back(Label::dst_asn);
        const Dimensions d = narrow_prefixes ? dims(labels, 20, 44) : dims(labels);
        words_seen.insert(d.key_words);
        for (const FlowRecord& r : records) {
          const ShardKey want = expected_key(r, d, 3);
          ShardKey general, special;
          bool general_narrow = false, special_narrow = false;
          const std::uint64_t h = make_key(r, d, 3, general, &general_narrow);
          const std::uint64_t hs = make_key_for(d.key_words, r, d, 3, special, &special_narrow,
                                                std::make_index_sequence<key_words_all + 1>{});
          ASSERT_TRUE(general == want) << "labels " << combo << " lookups " << lookups;
          ASSERT_TRUE(special == want) << "labels " << combo << " lookups " << lookups;
          ASSERT_EQ(h, hash_key(want));
          ASSERT_EQ(hs, h);
          ASSERT_EQ(general_narrow, narrow_key(want));
          ASSERT_EQ(special_narrow, general_narrow);
          ++checked;
        }
      }
    }
  }
  EXPECT_EQ(checked, (1U << 11) * 4 * 2 * records.size());
  EXPECT_EQ(words_seen.size(), key_words_all + 1U);  // every specialization was run
}

// The engine's side of enrichment with a table in place of the MaxMind databases (src/enrich is
// tested against the real databases): what the key keeps, drops and masks, and who wins for ASNs.
class TableEnricher final : public AddressEnricher {
 public:
  Enrichment lookup(const IpAddress& a) override {
    ++lookups;
    if (a == *core::parse_ip("81.2.69.160") || a == *core::parse_ip("81.2.69.161"))
      return {pack_country("GB"), 0, 1, 0};
    if (a == *core::parse_ip("1.128.0.1")) return {pack_country("AU"), 1221, 0, 1};
    return {};
  }
  std::shared_ptr<const EnrichmentNames> names() override { return names_; }
  EnrichmentStats stats() const override { return {}; }
  void tick(std::uint64_t) override {}
  void request_reload() override {}
  int lookups = 0;

 private:
  std::shared_ptr<const EnrichmentNames> names_ =
      std::make_shared<EnrichmentNames>(EnrichmentNames{{"", "London"}, {"", "Telstra Pty Ltd"}});
};

TEST(FlowKey, EnrichmentReplacesAddressesByTheirLabels) {
  config::DimensionSet ds{"geo", {"src_country", "src_city", "dst_asn", "dst_as_org"}, 32, 128};
  auto dims_or = compile_dimensions({ds});
  ASSERT_TRUE(dims_or.ok());
  const Dimensions& d = dims_or->front();
  EXPECT_TRUE(d.src_lookup);
  EXPECT_TRUE(d.dst_lookup);
  TableEnricher enricher;
  FlowRecord r1 = record("81.2.69.160", "1.128.0.1", 1, 2, 100);
  FlowRecord r2 = record("81.2.69.161", "1.128.0.1", 3, 4, 100);
  r2.dst_as = 64500;  // the export's own AS for the destination
  FlowKey k1 = key_of(r1, d);
  FlowKey k2 = key_of(r2, d);
  EXPECT_NE(k1, k2);  // workers keep whole addresses (and the export's AS) for the lookup
  enrich_key(k1, d, enricher, /*flow_as_wins=*/false);
  enrich_key(k2, d, enricher, false);
  EXPECT_EQ(k1, k2);  // one London / AS1221 series: the addresses are not labels, so they are dropped
  const auto names = enricher.names();
  EXPECT_EQ(label_value(k1, Label::src_country, names.get()), "GB");
  EXPECT_EQ(label_value(k1, Label::src_city, names.get()), "London");
  EXPECT_EQ(label_value(k1, Label::dst_asn, names.get()), "1221");
  EXPECT_EQ(label_value(k1, Label::dst_as_org, names.get()), "Telstra Pty Ltd");
  EXPECT_EQ(k1.dst_as, 0u);  // dst_as is not a label of the set
  // as_source: flow — the export's AS wins where it carries one.
  FlowKey k3 = key_of(r2, d);
  enrich_key(k3, d, enricher, /*flow_as_wins=*/true);
  EXPECT_EQ(label_value(k3, Label::dst_asn, names.get()), "64500");
  // Not in the table: "unknown".
  FlowKey k4 = key_of(record("192.0.2.1", "192.0.2.2", 1, 2, 1), d);
  enrich_key(k4, d, enricher, false);
  EXPECT_EQ(label_value(k4, Label::src_country, names.get()), "unknown");
  EXPECT_EQ(label_value(k4, Label::dst_as_org, names.get()), "unknown");
}

TEST(FlowKey, EnrichmentKeepsMaskedAddressesThatAreLabels) {
  config::DimensionSet ds{"geo", {"src_addr", "src_country"}, 24, 64};
  auto d = compile_dimensions({ds});
  ASSERT_TRUE(d.ok());
  TableEnricher enricher;
  FlowKey k = key_of(record("81.2.69.160", "10.0.0.1", 1, 2, 1), d->front());
  EXPECT_EQ(label_value(k, Label::src_addr), "81.2.69.160");  // whole until looked up
  enrich_key(k, d->front(), enricher, false);
  EXPECT_EQ(label_value(k, Label::src_addr), "81.2.69.0");
  EXPECT_EQ(label_value(k, Label::src_country), "GB");
  EXPECT_EQ(enricher.lookups, 1);  // the destination is not looked up: no dst label needs it
}

TEST(FlowTable, MergesKeysAndOverflowsWithoutLosingTotals) {
  const Dimensions d = dims({Label::src_port});
  FlowTable t(8, 1);
  Counters added;
  // 20 distinct ports, 3 records each: 8 fit, the other 12 keys go to the overflow entry.
  for (int round = 0; round < 3; ++round) {
    for (std::uint16_t p = 1; p <= 20; ++p) {
      ShardKey k;
      make_key(record("10.0.0.1", "10.0.0.2", p, 80, p), d, 0, k);
      Counters c{p, 1, 1};
      t.add(k, hash_key(k), c);
      added += c;
    }
  }
  EXPECT_EQ(t.size(), 8u);
  EXPECT_EQ(t.overflow_records(), 36u);  // 12 keys x 3 rounds
  Counters seen;
  std::size_t entries = 0;
  bool saw_overflow = false;
  t.for_each([&](const ShardKey& k, const Counters& c) {
    seen += c;
    ++entries;
    saw_overflow |= k.overflow != 0;
    if (!k.overflow) {
      EXPECT_EQ(c.flows, 3u);  // each kept key merged its three records
    }
  });
  EXPECT_EQ(seen, added);
  EXPECT_EQ(entries, 9u);
  EXPECT_TRUE(saw_overflow);
  t.clear();
  EXPECT_EQ(t.size(), 0u);
  std::size_t after = 0;
  t.for_each([&](const ShardKey&, const Counters&) { ++after; });
  EXPECT_EQ(after, 0u);
}

// Keys whose addresses are all IPv4 or absent live narrow (4-byte addresses), the others whole:
// every mix must come back from for_each exactly as it was added, none taken for another (0.0.0.0
// is not an absent address; :: is, as in ShardKey), and the capacity counts both kinds.
TEST(FlowTable, NarrowAndWideKeysComeBackExactly) {
  const Dimensions d = dims({Label::src_addr, Label::dst_addr, Label::exporter});
  const char* const addresses[] = {"0.0.0.0", "::", "10.0.0.1", "255.255.255.255", "2001:db8::1"};
  const char* const exporters[] = {"0.0.0.0", "192.0.2.1", "2001:db8::2"};
  std::vector<ShardKey> keys;
  for (const char* src : addresses) {
    for (const char* dst : addresses) {
      for (const char* exporter : exporters) {
        FlowRecord r = record(src, dst, 1, 2, 0);
        r.sampler_address = *core::parse_ip(exporter);
        ShardKey k;
        make_key(r, d, 0, k);
        keys.push_back(k);
      }
    }
  }
  auto index_of = [&keys](const ShardKey& k) {
    for (std::size_t i = 0; i < keys.size(); ++i)
      if (keys[i] == k) return i;
    return keys.size();
  };
  for (const std::size_t capacity : {keys.size(), std::size_t{10}}) {
    FlowTable t(capacity, 1);
    for (int pass = 0; pass < 2; ++pass) {  // the second pass after clear(): emptied slots are reused
      Counters added;
      for (int round = 1; round <= 2; ++round) {
        for (std::size_t i = 0; i < keys.size(); ++i) {
          const Counters c{1000 * i + static_cast<std::uint64_t>(round), static_cast<std::uint64_t>(round),
                           1};
          t.add(keys[i], hash_key(keys[i]), c);
          added += c;
        }
      }
      EXPECT_EQ(t.size(), capacity);
      std::set<std::size_t> seen;
      Counters total;
      t.for_each([&](const ShardKey& k, const Counters& c) {
        total += c;
        if (k.overflow) return;
        const std::size_t i = index_of(k);
        ASSERT_LT(i, keys.size()) << "a key came back changed";
        EXPECT_TRUE(seen.insert(i).second) << "key " << i << " came back twice";
        EXPECT_EQ(c, (Counters{2000 * i + 3, 3, 2})) << "key " << i;  // its two records, rounds 1 and 2
      });
      EXPECT_EQ(seen.size(), capacity);
      EXPECT_EQ(total, added);  // what did not fit is in the overflow entry
      t.clear();
    }
  }
}

class Stats : public ::testing::Test {
 protected:
  StatsCore make(std::uint32_t budget, std::vector<std::uint64_t> windows) {
    StatsSettings ss;
    ss.dimensions = {dims({Label::src_port})};
    ss.windows_ns = std::move(windows);
    ss.tick_ns = s;
    ss.series_budget = budget;
    ss.table_capacity = 1024;
    return StatsCore(ss, {});
  }
  void add(StatsCore& core, std::uint16_t port, std::uint64_t bytes) {
    FlowTable t(16, 1);
    ShardKey k;
    make_key(record("10.0.0.1", "10.0.0.2", port, 80, bytes), dims({Label::src_port}), 0, k);
    t.add(k, hash_key(k), Counters{bytes, 1, 1});
    core.merge(t);
  }
  static Counters sum(const std::vector<Series>& v) {
    Counters c;
    for (const auto& x : v) c += x.counters;
    return c;
  }
};

TEST_F(Stats, BudgetKeepsTheTopAndSumsTheRestIntoOther) {
  StatsCore core = make(4, {});
  // Ports 1..10 with bytes = port * 100: the top 3 (10, 9, 8) stay, 1..7 go to "other".
  for (std::uint16_t p = 1; p <= 10; ++p) add(core, p, p * 100ULL);
  core.publish(100 * s);
  auto snap = core.snapshot();
  ASSERT_EQ(snap->totals.size(), 4u);
  EXPECT_EQ(sum(snap->totals).bytes, 5500u);  // 100 * (1 + ... + 10)
  EXPECT_EQ(snap->totals[0].key.src_port, 10);
  EXPECT_EQ(snap->totals[2].key.src_port, 8);
  EXPECT_TRUE(snap->totals[3].key.overflow);
  EXPECT_EQ(snap->totals[3].counters.bytes, 2800u);  // 100 * (1 + ... + 7)
  EXPECT_EQ(snap->totals[3].counters.flows, 7u);
  // Counters stay monotonic: more traffic on a folded key adds to "other".
  add(core, 2, 50);
  core.publish(101 * s);
  snap = core.snapshot();
  EXPECT_EQ(sum(snap->totals).bytes, 5550u);
  EXPECT_EQ(snap->totals.size(), 4u);
}

TEST_F(Stats, WindowsCountExactlyTheLastWindowAndForget) {
  StatsCore core = make(100, {10 * s});
  // One record of 1000 bytes per tick for 15 ticks; the all-time totals come from worker
  // snapshots, which this test has none of, so window totals are checked on the series.
  for (int t = 1; t <= 15; ++t) {
    add(core, 7, 1000);
    core.publish(static_cast<std::uint64_t>(t) * s);
  }
  auto snap = core.snapshot();
  ASSERT_EQ(snap->windows.size(), 1u);
  const auto& w = snap->windows[0];
  // Buckets are 1 s (10 s / 12 rounds down to one tick); the series covers the last 10 ticks.
  ASSERT_EQ(w.top.size(), 1u);
  EXPECT_EQ(w.top_covered_ns, 10 * s);
  EXPECT_EQ(w.top[0].counters.bytes, 10'000u);
  EXPECT_EQ(w.top[0].counters.flows, 10u);
  // Silence for a whole window: the series leaves the window.
  for (int t = 16; t <= 26; ++t) core.publish(static_cast<std::uint64_t>(t) * s);
  EXPECT_TRUE(core.snapshot()->windows[0].top.empty());
  EXPECT_EQ(sum(core.snapshot()->totals).bytes, 15'000u);  // the counters keep everything
}

TEST_F(Stats, WindowBucketsStayWithinTheBudget) {
  StatsCore core = make(10, {60 * s});
  Counters sent;
  for (int t = 1; t <= 30; ++t) {
    for (std::uint16_t p = 0; p < 50; ++p) {
      const std::uint16_t port = static_cast<std::uint16_t>(t * 100 + p);  // all distinct
      add(core, port, port);
      sent += Counters{port, 1, 1};
    }
    core.publish(static_cast<std::uint64_t>(t) * s);
  }
  auto snap = core.snapshot();
  EXPECT_LE(snap->windows[0].top.size(), 10u);
  EXPECT_LE(snap->totals.size(), 10u);
  EXPECT_EQ(sum(snap->windows[0].top), sent);  // 30 ticks all within the 60 s window
  EXPECT_EQ(sum(snap->totals), sent);
}

}  // namespace
// Datagrams of every size through a worker's real socket (recvmmsg into the worker's buffers): small
// ones, sizes either side of 2 KiB, a 9 KB one and one near the UDP maximum must decode whole. Each
// IPFIX datagram carries its template and `n` records of 24 bytes (16 + 24 + 4 + 24n bytes, plus
// set padding); record i of datagram d has 1000 * d + i + 1 bytes and 1 packet, so the expected
// totals are the test's own.
// The counter structs summed over workers for the metrics (MeterStats, ReassemblyStats, DecodeStats)
// hold nothing but 64-bit counters: a sum must add each counter to the same counter, every one of
// them (a field left out of operator+=, or added to its neighbour, fails here, new fields included).
template <typename Stats>
class SummedCounters : public ::testing::Test {};
using CounterStructs = ::testing::Types<MeterStats, decode::ReassemblyStats, decode::DecodeStats>;
TYPED_TEST_SUITE(SummedCounters, CounterStructs);

TYPED_TEST(SummedCounters, AddEveryCounterToItself) {
  static_assert(sizeof(TypeParam) % 8 == 0 && std::has_unique_object_representations_v<TypeParam>);
  constexpr std::size_t n = sizeof(TypeParam) / 8;
  using Words = std::array<std::uint64_t, n>;
  Words a{}, b{};
  for (std::size_t i = 0; i < n; ++i) {
    a[i] = i + 1;
    b[i] = 1000 * (i + 1);
  }
  auto x = std::bit_cast<TypeParam>(a);
  x += std::bit_cast<TypeParam>(b);
  const auto sum = std::bit_cast<Words>(x);
  for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(sum[i], 1001 * (i + 1)) << "counter " << i << " of " << n;
}

TEST(Worker, ReceivesDatagramsOfEverySize) {
  struct Size {
    std::uint32_t records;
    std::size_t padding;
  };
  const Size sizes[] = {{1, 0}, {83, 0}, {83, 12}, {84, 0}, {370, 0}, {2700, 0}};
  WorkerSettings ws;
  ws.dimensions = {dims({Label::src_addr})};
  config::Listener listener;
  listener.protocol = decode::Protocol::ipfix;
  listener.address = "127.0.0.1";
  listener.port = 0;
  ws.listeners.push_back(listener);
  auto worker = Worker::create(0, ws);
  ASSERT_TRUE(worker.ok()) << worker.error();
  (*worker)->start();

  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons((*worker)->sockets()[0].port());
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  Counters want;
  std::uint64_t want_records = 0;
  std::vector<std::size_t> sent_sizes;
  for (std::uint32_t d = 0; d < std::size(sizes); ++d) {
    using namespace test;
    Bytes b;
    put16(b, 10);  // IPFIX header; length patched below
    put16(b, 0);
    put32(b, 1700000000);
    put32(b, d);  // sequence
    put32(b, 7);  // observation domain
    put16(b, 2);  // template set: template 256, 4 fields
    put16(b, 4 + 4 + 4 * 4);
    put16(b, 256);
    put16(b, 4);
    for (const unsigned field : {8U, 12U}) put16(b, field), put16(b, 4);  // source/destination IPv4 address
    for (const unsigned field : {1U, 2U}) put16(b, field), put16(b, 8);   // octet/packet delta count
    put16(b, 256);
    put16(b, static_cast<unsigned>(4 + 24 * sizes[d].records + sizes[d].padding));
    for (std::uint32_t i = 0; i < sizes[d].records; ++i) {
      put32(b, 0x0a000000U + i);
      put32(b, 0xc0000201U);
      const std::uint64_t bytes = 1000ULL * d + i + 1;
      put64(b, bytes);
      put64(b, 1);
      want += Counters{bytes, 1, 1};
    }
    b.resize(b.size() + sizes[d].padding, 0);
    b[2] = static_cast<std::uint8_t>(b.size() >> 8);
    b[3] = static_cast<std::uint8_t>(b.size() & 0xff);
    want_records += sizes[d].records;
    sent_sizes.push_back(b.size());
    ASSERT_EQ(::sendto(fd, b.data(), b.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof to),
              static_cast<ssize_t>(b.size()))
        << std::strerror(errno);
  }
  ::close(fd);
  EXPECT_EQ(sent_sizes, (std::vector<std::size_t>{68, 2036, 2048, 2060, 8924, 64844}));

  // Hand-overs until the worker has parsed every datagram; the flows are summed over the shards.
  FlowTable first(ws.table_capacity, 1);
  FlowTable* spare = &first;
  Counters got;
  ListenerCounters seen;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (seen.received < std::size(sizes) && std::chrono::steady_clock::now() < deadline) {
    (*worker)->request_swap(spare);
    FlowTable* retired = nullptr;
    while ((retired = (*worker)->take_retired()) == nullptr && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ASSERT_NE(retired, nullptr) << "the worker never handed its shard over";
    retired->for_each([&got](const ShardKey&, const Counters& c) { got += c; });
    seen = retired->snapshot.listeners.at(0);
    retired->clear();
    spare = retired;  // free again: the worker writes the one it was handed
  }
  (*worker)->stop();
  EXPECT_EQ(seen.received, std::size(sizes));
  EXPECT_EQ(seen.parsed, std::size(sizes));
  EXPECT_EQ(seen.records, want_records);
  EXPECT_EQ(got, want);
}

// The flow tables are committed at start: a table_capacity the machine cannot hold is refused with
// what it would need (64 workers of 2^26 entries: about 2.6 TB, more than any machine this runs
// on), before any table is made.
TEST(Collector, RefusesTablesTheMachineCannotHold) {
  auto cfg = config::load_string("performance: {workers: 64, table_capacity: 67108864}\n");
  ASSERT_TRUE(cfg.ok()) << cfg.error();
  config::Listener l;
  l.protocol = decode::Protocol::ipfix;
  l.address = "127.0.0.1";
  cfg->listeners.push_back(l);
  // Per table: 2^27 slots (2^26 x 4/3, up to a power of two) of a 64-byte narrow entry, a tag byte
  // and a 96-byte wide entry, and a 4-byte used-slot list of 2^26: 21,877,489,664 bytes. Two tables
  // per worker, 64 workers: 2,800,318,676,992 bytes = 2,670,592 MiB.
  auto c = Collector::start(*cfg);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(
      c.error().find("performance.table_capacity 67108864: the flow tables of 64 workers need 2670592 MiB"),
      std::string::npos)
      << c.error();
}

// performance.worker_cpus: each worker thread keeps to its CPU (read back from /proc, the kernel's
// own view), the stats core keeps off it when the process has other CPUs, and a CPU the process
// may not use is a clear error at start.
TEST(Collector, WorkersKeepToTheirConfiguredCpus) {
  auto cfg = config::load_string("performance: {workers: 2, worker_cpus: [0]}\n");
  ASSERT_TRUE(cfg.ok()) << cfg.error();
  config::Listener l;  // an ephemeral port on loopback
  l.protocol = decode::Protocol::ipfix;
  l.address = "127.0.0.1";
  cfg->listeners.push_back(l);
  auto before = [] {
    std::set<std::string> tids;
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/task"))
      tids.insert(e.path().filename());
    return tids;
  }();
  auto c = Collector::start(*cfg);
  ASSERT_TRUE(c.ok()) << c.error();
  int pinned = 0;
  std::string stats_cpus;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/task")) {
    if (before.count(e.path().filename()) != 0) continue;
    std::ifstream status(e.path() / "status");
    std::string name;
    std::getline(std::ifstream(e.path() / "comm"), name);
    for (std::string line; std::getline(status, line);) {
      if (line.rfind("Cpus_allowed_list:", 0) != 0) continue;
      const std::string cpus = line.substr(line.find_last_of(" \t") + 1);
      if (name.rfind("fp-worker-", 0) == 0 && cpus == "0") ++pinned;
      if (name == "fp-stats") stats_cpus = cpus;
    }
  }
  EXPECT_EQ(pinned, 2);  // the two workers
  cpu_set_t mine;
  ASSERT_EQ(sched_getaffinity(0, sizeof mine, &mine), 0);
  if (CPU_COUNT(&mine) > 1 && CPU_ISSET(0, &mine)) {
    // The stats thread has this thread's CPUs but 0.
    std::set<int> want;
    for (int cpu = 1; cpu < CPU_SETSIZE; ++cpu)
      if (CPU_ISSET(cpu, &mine)) want.insert(cpu);
    std::set<int> got;  // from the kernel's list, "1" or "1-3,6"
    std::istringstream list(stats_cpus);
    for (std::string range; std::getline(list, range, ',');) {
      const std::size_t dash = range.find('-');
      const int lo = std::stoi(range.substr(0, dash));
      const int hi = dash == std::string::npos ? lo : std::stoi(range.substr(dash + 1));
      for (int cpu = lo; cpu <= hi; ++cpu) got.insert(cpu);
    }
    EXPECT_EQ(got, want) << "fp-stats may run on " << stats_cpus;
  } else if (test::in_ci()) {
    ADD_FAILURE() << "needs two CPUs, CPU 0 among them, to see the stats core kept off the workers' CPU";
  }
  cfg->performance.worker_cpus = {CPU_SETSIZE - 1};
  auto bad = Collector::start(*cfg);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().find("performance.worker_cpus: cannot run worker 0 on CPU 1023"), std::string::npos)
      << bad.error();
}

}  // namespace flowpulse::engine
