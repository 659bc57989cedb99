// Engine pieces without sockets: keys and address masking, the fixed-capacity shard and its overflow
// entry, and the stats core's totals, series budget ("other") and windows, driven with synthetic
// ticks. Expected values are computed from the records each test adds.
#include <gtest/gtest.h>

#include <numeric>

#include "core/ip_address.hpp"
#include "engine/flow_table.hpp"
#include "engine/stats_core.hpp"

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

TEST(FlowKey, MasksAddressesAndZeroesUnusedLabels) {
  const Dimensions d = dims({Label::src_addr, Label::dst_addr, Label::protocol}, 24, 64);
  FlowKey k;
  make_key(record("192.0.2.77", "2001:db8:1:2:3:4:5:6", 1234, 80, 10), d, 0, k);
  EXPECT_EQ(label_value(k, Label::src_addr), "192.0.2.0");
  EXPECT_EQ(label_value(k, Label::dst_addr), "2001:db8:1:2::");
  EXPECT_EQ(label_value(k, Label::protocol), "tcp");
  EXPECT_EQ(k.src_port, 0);  // not in the set
  FlowKey other;
  make_key(record("192.0.2.1", "2001:db8:1:2:ffff::", 9, 9, 10), d, 0, other);
  EXPECT_EQ(k, other);  // same /24 and /64, ports ignored
  EXPECT_EQ(hash_key(k), hash_key(other));
  EXPECT_EQ(label_value(overflow_key(0), Label::src_addr), "other");
}

TEST(FlowKey, EnrichmentLabelsAreRefusedUntilTheEngineHasThem) {
  auto d = compile_dimensions({{"geo", {"src_country"}, 32, 128}});
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().find("src_country"), std::string::npos);
}

TEST(FlowTable, MergesKeysAndOverflowsWithoutLosingTotals) {
  const Dimensions d = dims({Label::src_port});
  FlowTable t(8, 1);
  Counters added;
  // 20 distinct ports, 3 records each: 8 fit, the other 12 keys go to the overflow entry.
  for (int round = 0; round < 3; ++round) {
    for (std::uint16_t p = 1; p <= 20; ++p) {
      FlowKey k;
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
  t.for_each([&](const FlowKey& k, const Counters& c) {
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
  t.for_each([&](const FlowKey&, const Counters&) { ++after; });
  EXPECT_EQ(after, 0u);
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
    FlowKey k;
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
}  // namespace flowpulse::engine
