// Enriched address lookups per second on one core (the stats core's work per merged key side),
// over MaxMind's City and ASN test databases (../shared/data/mmdb, or $FLOWPULSE_MMDB_DIR). The
// addresses are drawn from the networks the databases hold (found by walking their search trees),
// IPv4 and IPv6 mixed, so each miss walks a full tree path and decodes a record.
//   warm:  a working set smaller than the cache, pre-warmed: what a steady tick costs.
//   cold:  no cache (cache_size 0), or many more distinct addresses than the cache holds: what a
//          tick after a reload, or a scan across address space, costs.
// A label set (src + dst) is two lookups.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/log.hpp"
#include "enrich/enricher.hpp"
#include "flowpulse_build_config.hpp"

namespace {

using namespace flowpulse;

std::string mmdb_dir() {
  if (const char* d = std::getenv("FLOWPULSE_MMDB_DIR")) return d;
  return std::string(FLOWPULSE_SOURCE_ROOT) + "/../shared/data/mmdb";
}

struct Network {
  std::array<std::uint8_t, 16> bytes{};
  int prefix = 0;
};

// Every network in the database with a data record, by walking the search tree.
void walk(const MMDB_s& mmdb, std::uint32_t node_number, std::array<std::uint8_t, 16> bits, int depth,
          std::vector<Network>& out) {
  MMDB_search_node_s node{};
  if (depth >= 128 || MMDB_read_node(&mmdb, node_number, &node) != MMDB_SUCCESS) return;
  for (int side = 0; side < 2; ++side) {
    auto b = bits;
    if (side == 1) b[static_cast<std::size_t>(depth / 8)] |= static_cast<std::uint8_t>(0x80 >> (depth % 8));
    const std::uint8_t type = side == 0 ? node.left_record_type : node.right_record_type;
    const std::uint64_t record = side == 0 ? node.left_record : node.right_record;
    if (type == MMDB_RECORD_TYPE_SEARCH_NODE)
      walk(mmdb, static_cast<std::uint32_t>(record), b, depth + 1, out);
    else if (type == MMDB_RECORD_TYPE_DATA)
      out.push_back({b, depth + 1});
  }
}

std::vector<Network> networks(const std::string& path) {
  MMDB_s mmdb{};
  std::vector<Network> out;
  if (MMDB_open(path.c_str(), MMDB_MODE_MMAP, &mmdb) != MMDB_SUCCESS) return out;
  walk(mmdb, 0, {}, 0, out);
  MMDB_close(&mmdb);
  return out;
}

// `count` distinct addresses, each a random host in a random network of the databases. Networks
// under ::/96 are the IPv4 space and become IPv4 addresses.
std::vector<IpAddress> addresses(std::size_t count) {
  std::vector<Network> nets = networks(mmdb_dir() + "/GeoIP2-City-Test.mmdb");
  const std::vector<Network> asn = networks(mmdb_dir() + "/GeoLite2-ASN-Test.mmdb");
  nets.insert(nets.end(), asn.begin(), asn.end());
  std::vector<IpAddress> out;
  if (nets.empty()) return out;
  std::mt19937_64 rng(42);
  while (out.size() < count) {
    const Network& n = nets[rng() % nets.size()];
    auto b = n.bytes;
    for (int bit = n.prefix; bit < 128; ++bit)
      if (rng() & 1) b[static_cast<std::size_t>(bit / 8)] |= static_cast<std::uint8_t>(0x80 >> (bit % 8));
    const bool v4 =
        n.prefix >= 96 && std::all_of(b.begin(), b.begin() + 12, [](std::uint8_t x) { return x == 0; });
    IpAddress a = v4 ? IpAddress::v4_bytes(&b[12]) : IpAddress::v6_bytes(b.data());
    out.push_back(a);
  }
  // Distinct, so a cold run really misses every time.
  std::sort(out.begin(), out.end(), [](const IpAddress& x, const IpAddress& y) { return x.bytes < y.bytes; });
  out.erase(std::unique(out.begin(), out.end()), out.end());
  std::shuffle(out.begin(), out.end(), rng);
  return out;
}

std::unique_ptr<enrich::Enricher> open(std::uint32_t cache_size) {
  config::Enrichment c;
  c.city_database = mmdb_dir() + "/GeoIP2-City-Test.mmdb";
  c.asn_database = mmdb_dir() + "/GeoLite2-ASN-Test.mmdb";
  c.cache_size = cache_size;
  c.max_age_ns = 0;
  auto e = enrich::Enricher::open(c);
  if (!e) return nullptr;
  return std::move(e).value();
}

void run(benchmark::State& state, std::uint32_t cache_size, std::size_t distinct, bool prewarm) {
  log::configure({.level = log::Level::error});
  auto e = open(cache_size);
  if (!e) {
    state.SkipWithError("cannot open the test databases (set FLOWPULSE_MMDB_DIR)");
    return;
  }
  const std::vector<IpAddress> addrs = addresses(distinct);
  if (addrs.size() < distinct / 2) {
    state.SkipWithError("too few addresses");
    return;
  }
  if (prewarm)
    for (const IpAddress& a : addrs) benchmark::DoNotOptimize(e->lookup(a));
  std::size_t i = 0;
  std::uint64_t found = 0;
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores): the benchmark loop idiom
    const engine::Enrichment r = e->lookup(addrs[i]);
    found += (r.country | r.asn) != 0;
    benchmark::DoNotOptimize(r);
    if (++i == addrs.size()) i = 0;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  const auto s = e->stats();
  const double total = static_cast<double>(s.hits + s.misses + s.not_found);
  state.counters["hit_ratio"] = total > 0 ? static_cast<double>(s.hits) / total : 0;
  state.counters["found_ratio"] =
      state.iterations() > 0 ? static_cast<double>(found) / static_cast<double>(state.iterations()) : 0;
  state.counters["distinct"] = static_cast<double>(addrs.size());
}

// Warm: 4096 distinct addresses in the default 65536-entry cache.
void bm_enrich_warm(benchmark::State& state) { run(state, 65536, 4096, true); }
// Cold, no cache: every lookup goes to both databases.
void bm_enrich_cold_no_cache(benchmark::State& state) { run(state, 0, 4096, false); }
// Cold, thrashing: 65536 distinct addresses through a 1024-entry cache (misses plus evictions).
void bm_enrich_cold_thrash(benchmark::State& state) { run(state, 1024, 65536, false); }

BENCHMARK(bm_enrich_warm);
BENCHMARK(bm_enrich_cold_no_cache);
BENCHMARK(bm_enrich_cold_thrash);

}  // namespace

BENCHMARK_MAIN();
