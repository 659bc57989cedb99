// What the stats core needs from an address enricher (GeoIP country/city, ASN and AS organization).
// The engine owns this interface; src/enrich implements it with MaxMind databases (the layering
// puts enrich above engine). Everything here runs on the stats-core thread, on merged keys, never
// per packet.
//
// City and organization names are interned to small ids so that keys stay fixed-size PODs and two
// distinct cities with the same name aggregate into one label set, as Prometheus requires.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "flowpulse/flow_record.hpp"

namespace flowpulse::engine {

struct Enrichment {
  std::uint16_t country = 0;  // ISO 3166 alpha-2 packed as (c0 << 8) | c1; 0 = unknown
  std::uint32_t asn = 0;      // 0 = unknown
  std::uint32_t city = 0;     // interned city name id; 0 = unknown
  std::uint32_t as_org = 0;   // interned AS organization id; 0 = unknown
};

// Interned names, indexed by id (index 0 is ""). Append-only: an id never changes meaning.
struct EnrichmentNames {
  std::vector<std::string> cities;
  std::vector<std::string> as_orgs;
};

// Counters and database state for the metrics (flow_enrich_*).
struct EnrichmentStats {
  std::uint64_t hits = 0;       // answered from the cache
  std::uint64_t misses = 0;     // looked up in a database (found there)
  std::uint64_t not_found = 0;  // looked up in a database, address not in it
  std::uint64_t reloads_ok = 0;
  std::uint64_t reloads_failed = 0;
  struct Database {
    std::string kind;  // "city" or "asn" (the config key it came from)
    std::string path;
    std::string type;  // the database's own metadata type, e.g. "GeoLite2-ASN"
    std::uint64_t build_epoch = 0;
  };
  std::vector<Database> databases;
};

class AddressEnricher {
 public:
  virtual ~AddressEnricher() = default;
  virtual Enrichment lookup(const IpAddress& address) = 0;
  // The current name tables; a new pointer only when names were added.
  virtual std::shared_ptr<const EnrichmentNames> names() = 0;
  virtual EnrichmentStats stats() const = 0;
  // Called once a tick with the monotonic time: checks for replaced database files (and a reload
  // requested by request_reload) and their age.
  virtual void tick(std::uint64_t now_ns) = 0;
  // Asks for a reload at the next tick (SIGHUP). Thread-safe.
  virtual void request_reload() = 0;
};

// "GB" <-> packed form.
inline std::uint16_t pack_country(const char* iso2) noexcept {
  if (iso2 == nullptr || iso2[0] == '\0' || iso2[1] == '\0') return 0;
  return static_cast<std::uint16_t>((static_cast<unsigned char>(iso2[0]) << 8) |
                                    static_cast<unsigned char>(iso2[1]));
}
inline std::string unpack_country(std::uint16_t c) {
  if (c == 0) return "";
  return {static_cast<char>(c >> 8), static_cast<char>(c & 0xff)};
}

}  // namespace flowpulse::engine
