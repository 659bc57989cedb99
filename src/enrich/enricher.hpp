// The stats core's address enricher over MaxMind databases: country, city and location from a
// GeoIP2/GeoLite2 City or Country database, ASN and AS organization from a GeoLite2-ASN database
// (either may be absent), a bounded cache in front of them, interned names, and hot reload.
//
// Threads: everything runs on the stats core except request_reload(), which the SIGHUP path calls and
// which only sets an atomic flag. Reload is swap-on-success: a replaced file is opened and validated
// beside the one in use, and only a good one replaces it, so a broken download never takes enrichment
// away. A swap drops every cached entry (the old answers may be wrong now), but never an interned
// name: ids keep their meaning for the label sets already aggregated.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/config.hpp"
#include "core/result.hpp"
#include "engine/enricher.hpp"
#include "enrich/address_cache.hpp"
#include "enrich/mmdb_database.hpp"

namespace flowpulse::enrich {

// Everything the databases say about one address, for uses beyond metric labels (JSON records, the
// CLI). Empty strings and nullopt where a database lacks the field or the address.
struct FullEnrichment {
  bool found = false;        // in at least one database
  std::string country_iso;   // "GB"; registered_country's when country is absent
  std::string country_name;  // English name, same fallback
  std::string city;          // English name
  std::optional<double> latitude;
  std::optional<double> longitude;
  std::uint32_t asn = 0;
  std::string as_org;
};

class Enricher final : public engine::AddressEnricher {
 public:
  // Opens the configured databases (city_database, asn_database; at least one). The error names the
  // config key, the file and the reason.
  static core::Result<std::unique_ptr<Enricher>> open(const config::Enrichment& config);
  // The same when a database is configured; a null enricher (no error) when none is.
  static core::Result<std::unique_ptr<Enricher>> open_if_configured(const config::Enrichment& config);

  Enricher(const Enricher&) = delete;
  Enricher& operator=(const Enricher&) = delete;
  ~Enricher() override = default;

  // Cached; names interned. An empty address gives zeros and counts nothing.
  engine::Enrichment lookup(const IpAddress& address) override;
  std::shared_ptr<const engine::EnrichmentNames> names() override;
  engine::EnrichmentStats stats() const override;
  void tick(std::uint64_t now_ns) override;
  void request_reload() override;

  // Straight from the databases: no cache, no interning, no counters.
  FullEnrichment full_lookup(const IpAddress& address) const;

  std::size_t cache_entries() const { return cache_.size(); }
  std::size_t cache_capacity() const { return cache_.capacity(); }

 private:
  // One configured database file and what tick() remembers about it.
  struct Slot {
    const char* kind = "";  // "city" or "asn"
    std::string path;
    std::optional<MmdbDatabase> db;
    // The file last tried, good or bad: a rejected file is not retried (and counted again) every
    // check, only when it changes once more or a reload is requested.
    FileIdentity seen;
    std::uint64_t next_age_warning_ns = 0;
  };

  // Name -> id, findable by string_view without building a string.
  struct NameHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  using NameIds = std::unordered_map<std::string, std::uint32_t, NameHash, std::equal_to<>>;

  // What one lookup found, as views into the mapped databases (valid until the next reload).
  struct Views {
    bool found = false;
    std::string_view country_iso;
    std::string_view country_name;
    std::string_view city;
    std::optional<double> latitude;
    std::optional<double> longitude;
    std::uint32_t asn = 0;
    std::string_view as_org;
  };

  explicit Enricher(const config::Enrichment& config);

  // `full` adds the fields the labels do not use (country name, location).
  Views read(const IpAddress& address, bool full) const;
  std::uint32_t intern(std::string_view name, std::vector<std::string>& table, NameIds& ids);
  void check(Slot& slot, bool forced);
  void warn_if_old(Slot& slot, std::uint64_t now_ns);
  void log_age(const Slot& slot) const;

  config::Enrichment config_;
  Slot city_;
  Slot asn_;
  AddressCache cache_;
  engine::EnrichmentNames names_;
  NameIds city_ids_;
  NameIds as_org_ids_;
  std::shared_ptr<const engine::EnrichmentNames> published_;
  bool names_changed_ = false;
  engine::EnrichmentStats counters_;  // databases left empty; stats() fills them in
  std::optional<std::uint64_t> next_check_ns_;
  std::atomic<bool> reload_requested_{false};
};

}  // namespace flowpulse::enrich
