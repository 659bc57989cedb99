// Enrichment over MaxMind's test databases (../shared/data/mmdb): lookups for IPv4 and IPv6, the
// cache, interning, errors for missing and corrupt files, and hot reload by atomic rename and on
// request. Every expected value was read from the database with libmaxminddb's own CLI, mmdblookup,
// whose command stands beside it (run in ../shared/data/mmdb), so the answers do not come from the
// code under test.
#include <gtest/gtest.h>

#include <spdlog/sinks/ostream_sink.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include "core/ip_address.hpp"
#include "core/log.hpp"
#include "enrich/address_cache.hpp"
#include "enrich/enricher.hpp"
#include "enrich/mmdb_database.hpp"
#include "test_support.hpp"

namespace flowpulse {
namespace {

namespace fs = std::filesystem;
using enrich::AddressCache;
using enrich::Enricher;
using enrich::MmdbDatabase;

constexpr std::uint64_t second = 1'000'000'000ULL;

fs::path mmdb(const std::string& name) { return test::shared_data() / "mmdb" / name; }
const std::string city_db = mmdb("GeoIP2-City-Test.mmdb").string();
const std::string lite_city_db = mmdb("GeoLite2-City-Test.mmdb").string();
const std::string country_db = mmdb("GeoIP2-Country-Test.mmdb").string();
const std::string asn_db = mmdb("GeoLite2-ASN-Test.mmdb").string();

IpAddress ip(std::string_view text) {
  auto a = core::parse_ip(text);
  EXPECT_TRUE(a) << text;
  return a.value_or(IpAddress{});
}

std::uint16_t cc(const char* iso) { return engine::pack_country(iso); }

config::Enrichment settings(std::string city, std::string asn, std::uint32_t cache_size = 1024) {
  config::Enrichment c;
  c.city_database = std::move(city);
  c.asn_database = std::move(asn);
  c.cache_size = cache_size;
  c.check_interval_ns = 10 * second;
  c.max_age_ns = 0;  // the test databases are months old; age warnings have their own test
  return c;
}

std::unique_ptr<Enricher> open_ok(const config::Enrichment& c) {
  auto e = Enricher::open(c);
  EXPECT_TRUE(e) << e.error();
  return e ? std::move(e).value() : nullptr;
}

// Log lines land here for the tests that check what an operator would read.
class EnrichLog : public ::testing::Test {
 protected:
  void SetUp() override {
    log::configure({.level = log::Level::debug}, std::make_shared<spdlog::sinks::ostream_sink_mt>(out_));
  }
  void TearDown() override { log::configure({}); }
  std::string logged() const { return out_.str(); }
  std::ostringstream out_;
};

TEST(MmdbDatabase, OpensAndReadsMetadata) {
  // mmdblookup --file GeoIP2-City-Test.mmdb --ip 1.1.1.1 --verbose  ->  Type: GeoIP2-City,
  // Build epoch: 1770245369
  auto db = MmdbDatabase::open(city_db);
  ASSERT_TRUE(db) << db.error();
  EXPECT_EQ(db->type(), "GeoIP2-City");
  EXPECT_EQ(db->build_epoch(), 1770245369u);
  EXPECT_EQ(db->path(), city_db);
  // mmdblookup --file GeoLite2-ASN-Test.mmdb --ip 1.1.1.1 --verbose  ->  Type: GeoLite2-ASN
  auto asn = MmdbDatabase::open(asn_db);
  ASSERT_TRUE(asn) << asn.error();
  EXPECT_EQ(asn->type(), "GeoLite2-ASN");
}

TEST(MmdbDatabase, MissingFileNamesPathAndReason) {
  test::TempDir dir;
  const std::string path = (dir / "nope.mmdb").string();
  auto db = MmdbDatabase::open(path);
  ASSERT_FALSE(db);
  EXPECT_NE(db.error().find(path), std::string::npos) << db.error();
  EXPECT_NE(db.error().find("No such file or directory"), std::string::npos) << db.error();
  auto d = MmdbDatabase::open(dir.path().string());
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().find("not a regular file"), std::string::npos) << d.error();
}

TEST(MmdbDatabase, CorruptFilesAreRejectedWithTheReason) {
  test::TempDir dir;
  const auto original = test::read_file(city_db);
  const auto write = [&](const std::string& name, const std::vector<std::uint8_t>& bytes) {
    std::string p = (dir / name).string();
    test::write_file(p, std::string(bytes.begin(), bytes.end()));
    return p;
  };
  struct Case {
    std::string path;
    std::string reason;  // MMDB_strerror's text, as mmdblookup prints it for the same file
  };
  std::vector<Case> cases;
  // mmdblookup --file text.mmdb ...  ->  "The MaxMind DB file contains invalid metadata"
  cases.push_back({write("text.mmdb", {'n', 'o', 't', ' ', 'a', ' ', 'd', 'b', '\n'}), "invalid metadata"});
  // mmdblookup --file truncated.mmdb ...  ->  "... contains invalid metadata" (the metadata is at the end)
  cases.push_back({write("truncated.mmdb", {original.begin(), original.begin() + original.size() / 2}),
                   "invalid metadata"});
  // mmdblookup --file tree.mmdb --ip 81.2.69.160  ->  "The MaxMind DB file's search tree is corrupt"
  auto tree = original;
  std::fill(tree.begin(), tree.begin() + 4096, std::uint8_t{0xff});
  cases.push_back({write("tree.mmdb", tree), "corrupt"});
  // The search tree is 1547 nodes of 7 bytes (mmdblookup --verbose: Node count 1547, Record size 28
  // bits), then 16 zero bytes, then the data section.
  // mmdblookup --file data.mmdb --ip 81.2.69.160  ->  "... data section contains bad data ..."
  auto data = original;
  const std::size_t data_start = 1547 * 7 + 16;
  std::fill(data.begin() + data_start, data.begin() + data_start + 3000, std::uint8_t{0xff});
  cases.push_back({write("data.mmdb", data), "data section contains bad data"});
  cases.push_back({write("empty.mmdb", {}), "empty"});
  for (const Case& c : cases) {
    auto db = MmdbDatabase::open(c.path);
    ASSERT_FALSE(db) << c.path;
    EXPECT_NE(db.error().find(c.path), std::string::npos) << db.error();
    EXPECT_NE(db.error().find(c.reason), std::string::npos) << db.error();
  }
}

TEST(Enricher, LooksUpIpv4CountryCityAndAsn) {
  auto e = open_ok(settings(city_db, asn_db));
  ASSERT_TRUE(e);
  auto names = e->names();

  // mmdblookup --file GeoIP2-City-Test.mmdb --ip 81.2.69.160 country iso_code  ->  "GB"
  // mmdblookup --file GeoIP2-City-Test.mmdb --ip 81.2.69.160 city names en      ->  "London"
  // mmdblookup --file GeoLite2-ASN-Test.mmdb --ip 81.2.69.160                   ->  not found
  engine::Enrichment london = e->lookup(ip("81.2.69.160"));
  EXPECT_EQ(london.country, cc("GB"));
  EXPECT_EQ(london.asn, 0u);
  EXPECT_EQ(london.as_org, 0u);
  names = e->names();
  ASSERT_LT(london.city, names->cities.size());
  EXPECT_EQ(names->cities[london.city], "London");

  // mmdblookup --file GeoIP2-City-Test.mmdb --ip 175.16.199.1 country iso_code  ->  "CN"
  // mmdblookup --file GeoIP2-City-Test.mmdb --ip 175.16.199.1 city names en      ->  "Changchun"
  engine::Enrichment changchun = e->lookup(ip("175.16.199.1"));
  EXPECT_EQ(changchun.country, cc("CN"));
  names = e->names();
  EXPECT_EQ(names->cities.at(changchun.city), "Changchun");

  // mmdblookup --file GeoLite2-ASN-Test.mmdb --ip 1.128.0.1 autonomous_system_number        ->  1221
  // mmdblookup --file GeoLite2-ASN-Test.mmdb --ip 1.128.0.1 autonomous_system_organization  ->  "Telstra Pty
  // Ltd"
  engine::Enrichment telstra = e->lookup(ip("1.128.0.1"));
  EXPECT_EQ(telstra.asn, 1221u);
  names = e->names();
  EXPECT_EQ(names->as_orgs.at(telstra.as_org), "Telstra Pty Ltd");

  // mmdblookup --file GeoLite2-ASN-Test.mmdb --ip 12.81.92.1 autonomous_system_number        ->  7018
  // mmdblookup --file GeoLite2-ASN-Test.mmdb --ip 12.81.92.1 autonomous_system_organization  ->  "AT&T
  // Services"
  engine::Enrichment att = e->lookup(ip("12.81.92.1"));
  EXPECT_EQ(att.asn, 7018u);
  names = e->names();
  EXPECT_EQ(names->as_orgs.at(att.as_org), "AT&T Services");

  const auto s = e->stats();
  EXPECT_EQ(s.misses, 4u);
  EXPECT_EQ(s.hits, 0u);
  EXPECT_EQ(s.not_found, 0u);
  ASSERT_EQ(s.databases.size(), 2u);
  EXPECT_EQ(s.databases[0].kind, "city");
  EXPECT_EQ(s.databases[0].path, city_db);
  EXPECT_EQ(s.databases[0].type, "GeoIP2-City");
  EXPECT_EQ(s.databases[0].build_epoch, 1770245369u);
  EXPECT_EQ(s.databases[1].kind, "asn");
  EXPECT_EQ(s.databases[1].type, "GeoLite2-ASN");
}

TEST(Enricher, LooksUpIpv6) {
  auto e = open_ok(settings(city_db, asn_db));
  ASSERT_TRUE(e);
  // mmdblookup --file GeoIP2-City-Test.mmdb --ip 2001:480:10::1 country iso_code  ->  "US"
  // mmdblookup --file GeoIP2-City-Test.mmdb --ip 2001:480:10::1 city names en      ->  "San Diego"
  engine::Enrichment sd = e->lookup(ip("2001:480:10::1"));
  EXPECT_EQ(sd.country, cc("US"));
  EXPECT_EQ(e->names()->cities.at(sd.city), "San Diego");
  // mmdblookup --file GeoIP2-City-Test.mmdb --ip 2001:218::1 country iso_code  ->  "JP"
  // mmdblookup --file GeoIP2-City-Test.mmdb --ip 2001:218::1 city names en      ->  (no such path)
  engine::Enrichment jp = e->lookup(ip("2001:218::1"));
  EXPECT_EQ(jp.country, cc("JP"));
  EXPECT_EQ(jp.city, 0u);
  // mmdblookup --file GeoLite2-ASN-Test.mmdb --ip 2001:1700::1 autonomous_system_number        ->  6730
  // mmdblookup --file GeoLite2-ASN-Test.mmdb --ip 2001:1700::1 autonomous_system_organization  ->  "Sunrise
  // Communications AG" mmdblookup --file GeoIP2-City-Test.mmdb --ip 2001:1700::1 ->  not found
  engine::Enrichment sunrise = e->lookup(ip("2001:1700::1"));
  EXPECT_EQ(sunrise.asn, 6730u);
  EXPECT_EQ(sunrise.country, 0u);
  EXPECT_EQ(e->names()->as_orgs.at(sunrise.as_org), "Sunrise Communications AG");
  // mmdblookup --file GeoLite2-ASN-Test.mmdb --ip 2600:6000::1 autonomous_system_number  ->  237
  EXPECT_EQ(e->lookup(ip("2600:6000::1")).asn, 237u);
  EXPECT_EQ(e->stats().misses, 4u);
}

TEST(Enricher, Ipv4MappedIpv6IsLookedUpAsIpv4AndSharesTheCacheEntry) {
  auto e = open_ok(settings(city_db, ""));
  ASSERT_TRUE(e);
  IpAddress v4 = ip("81.2.69.160");
  IpAddress mapped = IpAddress::v6_bytes(v4.bytes.data());  // ::ffff:81.2.69.160, family 6
  ASSERT_EQ(mapped.family, 6);
  // mmdblookup --file GeoIP2-City-Test.mmdb --ip 81.2.69.160 country iso_code  ->  "GB"
  EXPECT_EQ(e->lookup(mapped).country, cc("GB"));
  EXPECT_EQ(e->lookup(v4).country, cc("GB"));
  EXPECT_EQ(e->stats().misses, 1u);
  EXPECT_EQ(e->stats().hits, 1u);
}

TEST(Enricher, AddressesNotInTheDatabasesGiveZerosAndCountNotFound) {
  auto e = open_ok(settings(city_db, asn_db));
  ASSERT_TRUE(e);
  // mmdblookup --file GeoIP2-City-Test.mmdb --ip 10.0.0.1   ->  not found (and in GeoLite2-ASN-Test)
  // mmdblookup --file GeoIP2-City-Test.mmdb --ip 2001:db8::1  ->  not found (and in GeoLite2-ASN-Test)
  for (const char* a : {"10.0.0.1", "2001:db8::1"}) {
    const engine::Enrichment z = e->lookup(ip(a));
    EXPECT_EQ(z.country, 0u) << a;
    EXPECT_EQ(z.city, 0u) << a;
    EXPECT_EQ(z.asn, 0u) << a;
    EXPECT_EQ(z.as_org, 0u) << a;
  }
  auto s = e->stats();
  EXPECT_EQ(s.not_found, 2u);
  EXPECT_EQ(s.misses, 0u);
  // A not-found answer is cached like any other.
  EXPECT_EQ(e->lookup(ip("10.0.0.1")).country, 0u);
  s = e->stats();
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.not_found, 2u);
  // No address at all is not a lookup.
  EXPECT_EQ(e->lookup(IpAddress{}).country, 0u);
  EXPECT_EQ(e->stats().hits + e->stats().not_found + e->stats().misses, 3u);
}

TEST(Enricher, EitherDatabaseMayBeAbsent) {
  auto asn_only = open_ok(settings("", asn_db));
  ASSERT_TRUE(asn_only);
  // mmdblookup --file GeoLite2-ASN-Test.mmdb --ip 1.128.0.1 autonomous_system_number  ->  1221
  engine::Enrichment t = asn_only->lookup(ip("1.128.0.1"));
  EXPECT_EQ(t.asn, 1221u);
  EXPECT_EQ(t.country, 0u);
  EXPECT_EQ(asn_only->stats().databases.size(), 1u);

  auto city_only = open_ok(settings(city_db, ""));
  ASSERT_TRUE(city_only);
  // mmdblookup --file GeoIP2-City-Test.mmdb --ip 81.2.69.160 country iso_code  ->  "GB"
  engine::Enrichment l = city_only->lookup(ip("81.2.69.160"));
  EXPECT_EQ(l.country, cc("GB"));
  EXPECT_EQ(l.asn, 0u);

  // A Country database in the city key: countries, no cities.
  // mmdblookup --file GeoIP2-Country-Test.mmdb --ip 81.2.69.160 country iso_code  ->  "GB"
  // mmdblookup --file GeoIP2-Country-Test.mmdb --ip 81.2.69.160 city names en      ->  (no such path)
  auto country_only = open_ok(settings(country_db, ""));
  ASSERT_TRUE(country_only);
  engine::Enrichment g = country_only->lookup(ip("81.2.69.160"));
  EXPECT_EQ(g.country, cc("GB"));
  EXPECT_EQ(g.city, 0u);
}

TEST(Enricher, FullLookupHasCountryNameAndLocation) {
  auto e = open_ok(settings(city_db, asn_db));
  ASSERT_TRUE(e);
  // mmdblookup --file GeoIP2-City-Test.mmdb --ip 81.2.69.160 country names en    ->  "United Kingdom"
  // mmdblookup --file GeoIP2-City-Test.mmdb --ip 81.2.69.160 location latitude   ->  51.514200
  // mmdblookup --file GeoIP2-City-Test.mmdb --ip 81.2.69.160 location longitude  ->  -0.093100
  enrich::FullEnrichment f = e->full_lookup(ip("81.2.69.160"));
  EXPECT_TRUE(f.found);
  EXPECT_EQ(f.country_iso, "GB");
  EXPECT_EQ(f.country_name, "United Kingdom");
  EXPECT_EQ(f.city, "London");
  ASSERT_TRUE(f.latitude && f.longitude);
  EXPECT_NEAR(*f.latitude, 51.5142, 1e-6);
  EXPECT_NEAR(*f.longitude, -0.0931, 1e-6);
  EXPECT_EQ(f.asn, 0u);

  // mmdblookup --file GeoLite2-ASN-Test.mmdb --ip 12.81.92.1 autonomous_system_organization  ->  "AT&T
  // Services"
  enrich::FullEnrichment att = e->full_lookup(ip("12.81.92.1"));
  EXPECT_EQ(att.asn, 7018u);
  EXPECT_EQ(att.as_org, "AT&T Services");

  // mmdblookup --file GeoIP2-City-Test.mmdb --ip 2001:480:10::1 location latitude   ->  32.720300
  // mmdblookup --file GeoIP2-City-Test.mmdb --ip 2001:480:10::1 location longitude  ->  -117.155200
  enrich::FullEnrichment sd = e->full_lookup(ip("2001:480:10::1"));
  ASSERT_TRUE(sd.latitude && sd.longitude);
  EXPECT_NEAR(*sd.latitude, 32.7203, 1e-6);
  EXPECT_NEAR(*sd.longitude, -117.1552, 1e-6);

  EXPECT_FALSE(e->full_lookup(ip("10.0.0.1")).found);
  // full_lookup leaves the label path's counters and cache alone.
  const auto s = e->stats();
  EXPECT_EQ(s.hits + s.misses + s.not_found, 0u);
  EXPECT_EQ(e->cache_entries(), 0u);
}

TEST(Enricher, RepeatsAreCacheHits) {
  auto e = open_ok(settings(city_db, asn_db));
  ASSERT_TRUE(e);
  const engine::Enrichment first = e->lookup(ip("81.2.69.160"));
  for (int i = 0; i < 5; ++i) {
    const engine::Enrichment again = e->lookup(ip("81.2.69.160"));
    EXPECT_EQ(again.country, first.country);
    EXPECT_EQ(again.city, first.city);
  }
  const auto s = e->stats();
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.hits, 5u);
  EXPECT_EQ(e->cache_entries(), 1u);
}

TEST(Enricher, CacheSizeZeroCachesNothing) {
  auto e = open_ok(settings(city_db, asn_db, 0));
  ASSERT_TRUE(e);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(e->lookup(ip("81.2.69.160")).country, cc("GB"));
  EXPECT_EQ(e->stats().misses, 3u);
  EXPECT_EQ(e->stats().hits, 0u);
  EXPECT_EQ(e->cache_entries(), 0u);
}

TEST(Enricher, CacheStaysWithinItsSize) {
  auto e = open_ok(settings(city_db, asn_db, 4));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->cache_capacity(), 4u);
  // 81.2.69.144 to 81.2.69.207 are London in GeoIP2-City-Test:
  // mmdblookup --file GeoIP2-City-Test.mmdb --ip 81.2.69.144 city names en  ->  "London"
  // mmdblookup --file GeoIP2-City-Test.mmdb --ip 81.2.69.204 city names en  ->  "London"
  for (int round = 0; round < 3; ++round) {
    for (int i = 144; i < 208; i += 4) {
      const engine::Enrichment r = e->lookup(ip("81.2.69." + std::to_string(i)));
      EXPECT_EQ(r.country, cc("GB"));
      EXPECT_EQ(e->names()->cities.at(r.city), "London");
      EXPECT_LE(e->cache_entries(), 4u);
    }
  }
  EXPECT_EQ(e->cache_entries(), 4u);
  const auto s = e->stats();
  EXPECT_EQ(s.hits + s.misses, 48u);
  EXPECT_GE(s.misses, 16u);
}

TEST(Enricher, NamesAreInternedStableAndPublishedOnlyWhenAdded) {
  auto e = open_ok(settings(city_db, asn_db));
  ASSERT_TRUE(e);
  auto empty = e->names();
  ASSERT_EQ(empty->cities.size(), 1u);
  EXPECT_EQ(empty->cities[0], "");
  EXPECT_EQ(empty->as_orgs[0], "");

  // Two addresses in one city share one id:
  // mmdblookup --file GeoIP2-City-Test.mmdb --ip 81.2.69.160 city names en  ->  "London"
  // mmdblookup --file GeoIP2-City-Test.mmdb --ip 81.2.69.142 city names en  ->  "London"
  const std::uint32_t london = e->lookup(ip("81.2.69.160")).city;
  EXPECT_NE(london, 0u);
  EXPECT_EQ(e->lookup(ip("81.2.69.142")).city, london);
  auto after_london = e->names();
  EXPECT_NE(after_london, empty);
  EXPECT_EQ(empty->cities.size(), 1u);  // a published table never changes
  EXPECT_EQ(e->names(), after_london);  // nothing added: the same pointer
  // A lookup answered from known names publishes nothing new either.
  e->lookup(ip("81.2.69.150"));
  EXPECT_EQ(e->names(), after_london);

  // mmdblookup --file GeoIP2-City-Test.mmdb --ip 89.160.20.112 city names en  ->  "Linköping"
  const std::uint32_t linkoping = e->lookup(ip("89.160.20.112")).city;
  EXPECT_NE(linkoping, london);
  auto after = e->names();
  EXPECT_NE(after, after_london);
  EXPECT_EQ(after->cities.at(linkoping), "Linköping");
  EXPECT_EQ(after->cities.at(london), "London");
  // Ids survive a reload and the cache clearing that comes with it.
  e->request_reload();
  e->tick(1);
  EXPECT_EQ(e->stats().reloads_ok, 2u);
  EXPECT_EQ(e->lookup(ip("81.2.69.160")).city, london);
  EXPECT_EQ(e->lookup(ip("89.160.20.112")).city, linkoping);
}

TEST(Enricher, OpenErrorsNameTheConfigKeyAndFile) {
  test::TempDir dir;
  auto none = Enricher::open(settings("", ""));
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().find("no database configured"), std::string::npos) << none.error();

  const std::string missing = (dir / "GeoLite2-City.mmdb").string();
  auto m = Enricher::open(settings(missing, asn_db));
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().find("enrichment.city_database"), std::string::npos) << m.error();
  EXPECT_NE(m.error().find(missing), std::string::npos) << m.error();

  const std::string corrupt = (dir / "GeoLite2-ASN.mmdb").string();
  test::write_file(corrupt, "<html>404 Not Found</html>\n");
  auto c = Enricher::open(settings(city_db, corrupt));
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().find("enrichment.asn_database"), std::string::npos) << c.error();
  EXPECT_NE(c.error().find(corrupt), std::string::npos) << c.error();
  EXPECT_NE(c.error().find("invalid metadata"), std::string::npos) << c.error();
}

// A database directory the way geoipupdate keeps it: files replaced by writing a temporary beside
// them and renaming it over.
class Reload : public EnrichLog {
 protected:
  void SetUp() override {
    EnrichLog::SetUp();
    path_ = (dir_ / "City.mmdb").string();
    fs::copy_file(city_db, path_);
  }
  void replace_with(const std::string& source) {
    const fs::path tmp = dir_ / "City.mmdb.tmp";
    fs::copy_file(source, tmp, fs::copy_options::overwrite_existing);
    fs::rename(tmp, path_);
  }
  void replace_with_bytes(const std::string& bytes) {
    const fs::path tmp = dir_ / "City.mmdb.tmp";
    test::write_file(tmp, bytes);
    fs::rename(tmp, path_);
  }
  test::TempDir dir_;
  std::string path_;
};

TEST_F(Reload, ReplacedFileIsSwappedInAtTheNextCheckAndTheCacheDropped) {
  auto e = open_ok(settings(path_, asn_db));
  ASSERT_TRUE(e);
  std::uint64_t now = 1000 * second;
  e->tick(now);  // starts the check clock

  // mmdblookup --file GeoIP2-City-Test.mmdb --ip 2001:480::1  ->  not found
  EXPECT_EQ(e->lookup(ip("2001:480::1")).country, 0u);
  // mmdblookup --file GeoIP2-City-Test.mmdb --ip 81.2.69.160 city names en  ->  "London"
  const std::uint32_t london = e->lookup(ip("81.2.69.160")).city;
  EXPECT_EQ(e->names()->cities.at(london), "London");
  EXPECT_EQ(e->cache_entries(), 2u);

  replace_with(lite_city_db);
  e->tick(now += second);  // before the check interval: nothing yet
  EXPECT_EQ(e->stats().reloads_ok, 0u);
  EXPECT_EQ(e->lookup(ip("2001:480::1")).country, 0u);

  e->tick(now += 10 * second);
  auto s = e->stats();
  EXPECT_EQ(s.reloads_ok, 1u);
  EXPECT_EQ(s.reloads_failed, 0u);
  EXPECT_EQ(e->cache_entries(), 0u);
  EXPECT_EQ(s.databases.at(0).type, "GeoLite2-City");
  EXPECT_NE(logged().find("enrichment database reloaded"), std::string::npos) << logged();
  // mmdblookup --file GeoLite2-City-Test.mmdb --ip 2001:480::1 country iso_code  ->  "US"
  // mmdblookup --file GeoLite2-City-Test.mmdb --ip 2001:480::1 city names en      ->  "San Diego"
  const engine::Enrichment sd = e->lookup(ip("2001:480::1"));
  EXPECT_EQ(sd.country, cc("US"));
  EXPECT_EQ(e->names()->cities.at(sd.city), "San Diego");

  // A Country database over it: the city goes, the country stays.
  // mmdblookup --file GeoIP2-Country-Test.mmdb --ip 81.2.69.160 country iso_code  ->  "GB"
  // mmdblookup --file GeoIP2-Country-Test.mmdb --ip 81.2.69.160 city names en      ->  (no such path)
  EXPECT_EQ(e->lookup(ip("81.2.69.160")).city, london);
  replace_with(country_db);
  e->tick(now += 10 * second);
  EXPECT_EQ(e->stats().reloads_ok, 2u);
  const engine::Enrichment gb = e->lookup(ip("81.2.69.160"));
  EXPECT_EQ(gb.country, cc("GB"));
  EXPECT_EQ(gb.city, 0u);
  // An unchanged file is not reopened.
  e->tick(now + 10 * second);
  EXPECT_EQ(e->stats().reloads_ok, 2u);
}

TEST_F(Reload, CorruptReplacementIsRejectedAndTheOldDatabaseKept) {
  auto e = open_ok(settings(path_, ""));
  ASSERT_TRUE(e);
  std::uint64_t now = 5 * second;
  e->tick(now);
  // mmdblookup --file GeoIP2-City-Test.mmdb --ip 175.16.199.1 country iso_code  ->  "CN"
  EXPECT_EQ(e->lookup(ip("175.16.199.1")).country, cc("CN"));

  replace_with_bytes("this is not a MaxMind database\n");
  e->tick(now += 10 * second);
  auto s = e->stats();
  EXPECT_EQ(s.reloads_failed, 1u);
  EXPECT_EQ(s.reloads_ok, 0u);
  EXPECT_EQ(s.databases.at(0).type, "GeoIP2-City");
  const std::string log_text = logged();
  EXPECT_NE(log_text.find("reload failed, keeping the loaded one"), std::string::npos) << log_text;
  EXPECT_NE(log_text.find(path_), std::string::npos) << log_text;
  EXPECT_NE(log_text.find("invalid metadata"), std::string::npos) << log_text;
  // The old database still answers, for cached and new addresses alike.
  EXPECT_EQ(e->lookup(ip("175.16.199.1")).country, cc("CN"));
  // mmdblookup --file GeoIP2-City-Test.mmdb --ip 81.2.69.160 country iso_code  ->  "GB"
  EXPECT_EQ(e->lookup(ip("81.2.69.160")).country, cc("GB"));

  // The same bad file is not retried and counted at every check.
  e->tick(now += 10 * second);
  EXPECT_EQ(e->stats().reloads_failed, 1u);

  // A truncated download is just as bad.
  const auto lite = test::read_file(lite_city_db);
  replace_with_bytes(std::string(lite.begin(), lite.begin() + static_cast<std::ptrdiff_t>(lite.size() / 2)));
  e->tick(now += 10 * second);
  EXPECT_EQ(e->stats().reloads_failed, 2u);
  EXPECT_EQ(e->lookup(ip("81.2.69.160")).country, cc("GB"));

  // Then a good one goes in.
  replace_with(lite_city_db);
  e->tick(now += 10 * second);
  EXPECT_EQ(e->stats().reloads_ok, 1u);
  EXPECT_EQ(e->stats().databases.at(0).type, "GeoLite2-City");

  // A vanished file is not a reload: the loaded database keeps answering.
  fs::remove(path_);
  e->tick(now + 10 * second);
  EXPECT_EQ(e->stats().reloads_failed, 2u);
  EXPECT_EQ(e->lookup(ip("81.2.69.160")).country, cc("GB"));
}

TEST_F(Reload, RequestReloadForcesOneWithoutAFileChange) {
  auto e = open_ok(settings(path_, asn_db));
  ASSERT_TRUE(e);
  e->tick(100);
  e->lookup(ip("81.2.69.160"));
  EXPECT_EQ(e->cache_entries(), 1u);
  // From another thread, as the SIGHUP path does.
  std::thread hup([&] { e->request_reload(); });
  hup.join();
  e->tick(200);  // well before the check interval
  const auto s = e->stats();
  EXPECT_EQ(s.reloads_ok, 2u);  // both databases
  EXPECT_EQ(e->cache_entries(), 0u);
  // Once only.
  e->tick(300);
  EXPECT_EQ(e->stats().reloads_ok, 2u);
}

TEST_F(Reload, WithoutWatchOnlyARequestReloads) {
  auto c = settings(path_, "");
  c.watch = false;
  auto e = open_ok(c);
  ASSERT_TRUE(e);
  std::uint64_t now = second;
  e->tick(now);
  replace_with(lite_city_db);
  e->tick(now += 60 * second);
  EXPECT_EQ(e->stats().reloads_ok, 0u);
  // mmdblookup --file GeoIP2-City-Test.mmdb --ip 2001:480::1  ->  not found
  EXPECT_EQ(e->lookup(ip("2001:480::1")).country, 0u);
  e->request_reload();
  e->tick(now + second);
  EXPECT_EQ(e->stats().reloads_ok, 1u);
  // mmdblookup --file GeoLite2-City-Test.mmdb --ip 2001:480::1 country iso_code  ->  "US"
  EXPECT_EQ(e->lookup(ip("2001:480::1")).country, cc("US"));
}

TEST_F(Reload, ARequestedReloadOfABrokenFileFailsAndKeepsTheOld) {
  auto e = open_ok(settings(path_, ""));
  ASSERT_TRUE(e);
  e->tick(1);
  replace_with_bytes("");
  e->request_reload();
  e->tick(2);
  EXPECT_EQ(e->stats().reloads_failed, 1u);
  EXPECT_EQ(e->lookup(ip("81.2.69.160")).country, cc("GB"));
}

TEST_F(EnrichLog, OldDatabaseIsReportedAtOpenAndAtMostHourlyAfter) {
  // mmdblookup --file GeoIP2-City-Test.mmdb --ip 1.1.1.1 --verbose  ->  Build epoch: 1770245369
  // (2026-02-04): older than a day on any clock this test runs on.
  auto c = settings(city_db, "");
  c.max_age_ns = 86400 * second;
  auto e = open_ok(c);
  ASSERT_TRUE(e);
  const auto count = [&] {
    const std::string text = logged();
    std::size_t n = 0;
    for (std::size_t at = text.find("older than"); at != std::string::npos;
         at = text.find("older than", at + 1))
      ++n;
    return n;
  };
  EXPECT_EQ(count(), 1u);
  EXPECT_NE(logged().find("build_epoch=1770245369"), std::string::npos) << logged();
  std::uint64_t now = second;
  e->tick(now);
  for (int i = 0; i < 30; ++i) e->tick(now += 10 * second);  // checks every 10 s for 5 minutes
  EXPECT_EQ(count(), 1u);
  e->tick(now + 3600 * second);
  EXPECT_EQ(count(), 2u);

  // No limit, no line.
  c.max_age_ns = 0;
  auto quiet = open_ok(c);
  EXPECT_EQ(count(), 2u);
}

// The cache against a plain map under random inserts: every key it keeps answers with its own
// value, it never holds more than its capacity, and recently used keys survive a sweep.
TEST(AddressCache, MatchesAReferenceUnderChurn) {
  AddressCache cache(64);
  std::map<AddressCache::Key, std::uint32_t> inserted;
  std::mt19937 rng(7);
  for (int i = 0; i < 20000; ++i) {
    AddressCache::Key key{};
    const std::uint32_t n = rng() % 200;
    key[12] = static_cast<std::uint8_t>(n >> 8);
    key[15] = static_cast<std::uint8_t>(n);
    if (const engine::Enrichment* hit = cache.find(key)) {
      ASSERT_EQ(hit->asn, inserted.at(key));
    } else {
      cache.insert(key, {.asn = n + 1});
      inserted[key] = n + 1;
    }
    ASSERT_LE(cache.size(), 64u);
  }
  EXPECT_EQ(cache.size(), 64u);
  std::size_t present = 0;
  for (const auto& [key, asn] : inserted) {
    if (const engine::Enrichment* hit = cache.find(key)) {
      EXPECT_EQ(hit->asn, asn);
      ++present;
    }
  }
  EXPECT_EQ(present, 64u);
  cache.clear();
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.find(inserted.begin()->first), nullptr);
}

TEST(AddressCache, ClockGivesUsedEntriesASecondChance) {
  AddressCache cache(4);
  const auto key = [](std::uint8_t n) {
    AddressCache::Key k{};
    k[15] = n;
    return k;
  };
  for (std::uint8_t n = 1; n <= 4; ++n) cache.insert(key(n), {.asn = n});
  ASSERT_NE(cache.find(key(1)), nullptr);  // 1 used: it survives the next eviction
  cache.insert(key(5), {.asn = 5});
  EXPECT_NE(cache.find(key(1)), nullptr);
  EXPECT_EQ(cache.find(key(2)), nullptr);  // the oldest unused one went
  EXPECT_NE(cache.find(key(5)), nullptr);
  EXPECT_EQ(cache.size(), 4u);
}

}  // namespace
}  // namespace flowpulse
