#include "enrich/enricher.hpp"

#include <algorithm>

#include "core/clock.hpp"
#include "core/log.hpp"

namespace flowpulse::enrich {

namespace {

// MMDB paths: null-terminated lists of map keys.
constexpr const char* country_iso_path[] = {"country", "iso_code", nullptr};
constexpr const char* registered_iso_path[] = {"registered_country", "iso_code", nullptr};
constexpr const char* country_name_path[] = {"country", "names", "en", nullptr};
constexpr const char* registered_name_path[] = {"registered_country", "names", "en", nullptr};
constexpr const char* city_path[] = {"city", "names", "en", nullptr};
constexpr const char* latitude_path[] = {"location", "latitude", nullptr};
constexpr const char* longitude_path[] = {"location", "longitude", nullptr};
constexpr const char* asn_path[] = {"autonomous_system_number", nullptr};
constexpr const char* as_org_path[] = {"autonomous_system_organization", nullptr};

// An old database is worth a line, not a line every check.
constexpr std::uint64_t age_warning_interval_ns = 3600ULL * 1'000'000'000ULL;

// The label value must be a two-letter code; anything else a damaged database might hold is unknown.
std::uint16_t pack_iso(std::string_view iso) noexcept {
  const auto letter = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); };
  if (iso.size() != 2 || !letter(iso[0]) || !letter(iso[1])) return 0;
  const char packed[3] = {iso[0], iso[1], '\0'};
  return engine::pack_country(packed);
}

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

}  // namespace

Enricher::Enricher(const config::Enrichment& config) : config_(config), cache_(config.cache_size) {
  city_.kind = "city";
  city_.path = config.city_database;
  asn_.kind = "asn";
  asn_.path = config.asn_database;
  names_.cities = {""};
  names_.as_orgs = {""};
  published_ = std::make_shared<const engine::EnrichmentNames>(names_);
}

core::Result<std::unique_ptr<Enricher>> Enricher::open_if_configured(const config::Enrichment& config) {
  if (config.city_database.empty() && config.asn_database.empty()) return std::unique_ptr<Enricher>();
  return open(config);
}

core::Result<std::unique_ptr<Enricher>> Enricher::open(const config::Enrichment& config) {
  if (config.city_database.empty() && config.asn_database.empty())
    return core::Error{
        "enrichment: no database configured (set enrichment.city_database and/or "
        "enrichment.asn_database)"};
  std::unique_ptr<Enricher> enricher(new Enricher(config));
  for (Slot* slot : {&enricher->city_, &enricher->asn_}) {
    if (slot->path.empty()) continue;
    auto db = MmdbDatabase::open(slot->path);
    if (!db) return core::Error{"enrichment." + std::string(slot->kind) + "_database: " + db.error()};
    slot->db = std::move(db).value();
    slot->seen = slot->db->identity();
    log::info("enrichment database loaded", {{"kind", slot->kind},
                                             {"path", slot->path},
                                             {"type", slot->db->type()},
                                             {"build_epoch", slot->db->build_epoch()}});
    // Wrong file in the wrong key is an easy mistake (both are .mmdb) that would only show as empty
    // labels: say so. Other vendors' databases with the same fields have other types, so only warn.
    const std::string& type = slot->db->type();
    const bool asn_kind = slot == &enricher->asn_;
    if (asn_kind ? (contains(type, "City") || contains(type, "Country")) : contains(type, "ASN"))
      log::warn("enrichment database type does not match its config key",
                {{"kind", slot->kind}, {"path", slot->path}, {"type", type}});
    enricher->log_age(*slot);
  }
  return enricher;
}

Enricher::Views Enricher::read(const IpAddress& address, bool full) const {
  Views v;
  for (const Slot* slot : {&city_, &asn_}) {
    if (!slot->db) continue;
    int error = MMDB_SUCCESS;
    const std::optional<MMDB_entry_s> entry = slot->db->find(address, &error);
    if (error != MMDB_SUCCESS)
      log::limited(log::Level::error, "enrich_lookup_error", slot->path, "enrichment database lookup failed",
                   {{"kind", slot->kind}, {"error", MMDB_strerror(error)}});
    if (!entry) continue;
    v.found = true;
    if (slot == &city_) {
      v.country_iso = MmdbDatabase::string_at(*entry, country_iso_path);
      const bool registered = v.country_iso.empty();
      // Country is where the address is used; registered_country where its block is registered. When
      // the first is unknown (satellite, anycast) the second is the best answer there is.
      if (registered) v.country_iso = MmdbDatabase::string_at(*entry, registered_iso_path);
      v.city = MmdbDatabase::string_at(*entry, city_path);
      if (full) {
        v.country_name =
            MmdbDatabase::string_at(*entry, registered ? registered_name_path : country_name_path);
        v.latitude = MmdbDatabase::double_at(*entry, latitude_path);
        v.longitude = MmdbDatabase::double_at(*entry, longitude_path);
      }
    } else {
      v.asn = MmdbDatabase::uint32_at(*entry, asn_path).value_or(0);
      v.as_org = MmdbDatabase::string_at(*entry, as_org_path);
    }
  }
  return v;
}

std::uint32_t Enricher::intern(std::string_view name, std::vector<std::string>& table, NameIds& ids) {
  if (name.empty()) return 0;
  if (const auto it = ids.find(name); it != ids.end()) return it->second;
  const auto id = static_cast<std::uint32_t>(table.size());
  table.emplace_back(name);
  ids.emplace(table.back(), id);
  names_changed_ = true;
  return id;
}

engine::Enrichment Enricher::lookup(const IpAddress& address) {
  if (address.empty()) return {};
  // One key per address whatever its family says: IPv4 as ::ffff:a.b.c.d, like IpAddress::v4.
  AddressCache::Key key = address.bytes;
  if (address.is_v4()) {
    std::fill(key.begin(), key.begin() + 10, std::uint8_t{0});
    key[10] = 0xff;
    key[11] = 0xff;
  }
  if (const engine::Enrichment* hit = cache_.find(key)) {
    ++counters_.hits;
    return *hit;
  }
  const Views v = read(address, false);
  engine::Enrichment e;
  e.country = pack_iso(v.country_iso);
  e.city = intern(v.city, names_.cities, city_ids_);
  e.asn = v.asn;
  e.as_org = intern(v.as_org, names_.as_orgs, as_org_ids_);
  ++(v.found ? counters_.misses : counters_.not_found);
  // Not-found answers are cached too: private and unrouted addresses recur as much as any.
  cache_.insert(key, e);
  return e;
}

FullEnrichment Enricher::full_lookup(const IpAddress& address) const {
  const Views v = read(address, true);
  FullEnrichment f;
  f.found = v.found;
  if (pack_iso(v.country_iso) != 0) f.country_iso = v.country_iso;
  f.country_name = v.country_name;
  f.city = v.city;
  f.latitude = v.latitude;
  f.longitude = v.longitude;
  f.asn = v.asn;
  f.as_org = v.as_org;
  return f;
}

std::shared_ptr<const engine::EnrichmentNames> Enricher::names() {
  // A copy per tick at most, and only while new names still appear: scrapes keep the old one.
  if (names_changed_) {
    published_ = std::make_shared<const engine::EnrichmentNames>(names_);
    names_changed_ = false;
  }
  return published_;
}

engine::EnrichmentStats Enricher::stats() const {
  engine::EnrichmentStats s = counters_;
  s.databases.clear();
  for (const Slot* slot : {&city_, &asn_}) {
    if (!slot->db) continue;
    s.databases.push_back({slot->kind, slot->path, slot->db->type(), slot->db->build_epoch()});
  }
  return s;
}

void Enricher::request_reload() { reload_requested_.store(true, std::memory_order_release); }

void Enricher::tick(std::uint64_t now_ns) {
  // The first tick starts the clock: open() has just looked at every file.
  if (!next_check_ns_) {
    next_check_ns_ = now_ns + config_.check_interval_ns;
    for (Slot* slot : {&city_, &asn_}) slot->next_age_warning_ns = now_ns + age_warning_interval_ns;
  }
  const bool forced = reload_requested_.exchange(false, std::memory_order_acq_rel);
  const bool due = now_ns >= *next_check_ns_;
  if (!forced && !due) return;
  if (due) next_check_ns_ = now_ns + config_.check_interval_ns;
  for (Slot* slot : {&city_, &asn_}) {
    if (slot->path.empty()) continue;
    if (forced || config_.watch) check(*slot, forced);
    if (due) warn_if_old(*slot, now_ns);
  }
}

void Enricher::check(Slot& slot, bool forced) {
  auto identity = identify_file(slot.path);
  if (!identity) {
    // Between a delete and a rename, or a mount gone: what is loaded keeps answering.
    if (forced) {
      ++counters_.reloads_failed;
      log::error("enrichment database reload failed, keeping the loaded one",
                 {{"kind", slot.kind}, {"path", slot.path}, {"error", identity.error()}});
    } else {
      log::limited(log::Level::warn, "enrich_database_missing", slot.path,
                   "enrichment database file not accessible, keeping the loaded one",
                   {{"kind", slot.kind}, {"error", identity.error()}});
    }
    return;
  }
  if (!forced && *identity == slot.seen) return;
  slot.seen = *identity;
  const std::uint64_t previous_epoch = slot.db ? slot.db->build_epoch() : 0;
  auto fresh = MmdbDatabase::open(slot.path);
  if (!fresh) {
    ++counters_.reloads_failed;
    log::error("enrichment database reload failed, keeping the loaded one",
               {{"kind", slot.kind},
                {"path", slot.path},
                {"error", fresh.error()},
                {"loaded_build_epoch", previous_epoch}});
    return;
  }
  slot.db = std::move(fresh).value();
  slot.seen = slot.db->identity();
  cache_.clear();
  ++counters_.reloads_ok;
  slot.next_age_warning_ns = 0;  // the new file's age is news
  log::info("enrichment database reloaded", {{"kind", slot.kind},
                                             {"path", slot.path},
                                             {"type", slot.db->type()},
                                             {"build_epoch", slot.db->build_epoch()},
                                             {"previous_build_epoch", previous_epoch},
                                             {"requested", forced}});
}

void Enricher::log_age(const Slot& slot) const {
  if (!slot.db || config_.max_age_ns == 0) return;
  const std::uint64_t now_s = core::realtime_ns() / 1'000'000'000ULL;
  const std::uint64_t epoch = slot.db->build_epoch();
  const std::uint64_t age_s = now_s > epoch ? now_s - epoch : 0;
  if (age_s <= config_.max_age_ns / 1'000'000'000ULL) return;
  log::warn("enrichment database is older than enrichment.max_age; update it (geoipupdate)",
            {{"kind", slot.kind},
             {"path", slot.path},
             {"type", slot.db->type()},
             {"build_epoch", epoch},
             {"age_days", age_s / 86400},
             {"max_age_days", config_.max_age_ns / (86400 * 1'000'000'000ULL)}});
}

void Enricher::warn_if_old(Slot& slot, std::uint64_t now_ns) {
  if (now_ns < slot.next_age_warning_ns) return;
  slot.next_age_warning_ns = now_ns + std::max(config_.check_interval_ns, age_warning_interval_ns);
  log_age(slot);
}

}  // namespace flowpulse::enrich
