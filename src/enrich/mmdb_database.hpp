// One open MaxMind DB file (GeoIP2/GeoLite2 City, Country or ASN, or any .mmdb with the same fields):
// the RAII owner of libmaxminddb's MMDB_s, the file's identity on disk for hot reload, and the
// address lookup that both the enricher and its reload validation use.
//
// The file is memory-mapped (MMDB_MODE_MMAP). Strings handed out by a lookup point into that mapping
// and live as long as the database object. A database must be replaced by writing a new file and
// renaming it over the old one (what geoipupdate does); overwriting a mapped file in place changes
// the bytes under every reader and can fault on a shorter file.
#pragma once

#include <maxminddb.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "flowpulse/flow_record.hpp"

namespace flowpulse::enrich {

// What identifies one version of a file on disk: a rename puts a new inode in place; size and mtime
// catch the rarer writer that truncates and rewrites.
struct FileIdentity {
  std::uint64_t device = 0;
  std::uint64_t inode = 0;
  std::int64_t size = 0;
  std::int64_t mtime_ns = 0;
  friend bool operator==(const FileIdentity&, const FileIdentity&) = default;
};

// stat(2) of `path`, or an error naming the path and errno's reason.
core::Result<FileIdentity> identify_file(const std::string& path);

class MmdbDatabase {
 public:
  // Opens and validates `path`: the metadata must be readable and a few probe lookups must decode.
  // The error names the path and libmaxminddb's (or the OS's) reason.
  static core::Result<MmdbDatabase> open(const std::string& path);

  MmdbDatabase(MmdbDatabase&&) noexcept = default;
  MmdbDatabase& operator=(MmdbDatabase&&) noexcept = default;
  MmdbDatabase(const MmdbDatabase&) = delete;
  MmdbDatabase& operator=(const MmdbDatabase&) = delete;
  ~MmdbDatabase() = default;

  const std::string& path() const { return path_; }
  // The metadata's database_type, e.g. "GeoIP2-City" or "GeoLite2-ASN".
  const std::string& type() const { return type_; }
  std::uint64_t build_epoch() const { return build_epoch_; }
  // The file as it was on disk just before it was opened.
  const FileIdentity& identity() const { return identity_; }

  // Looks `address` up; an IPv4 (or IPv4-mapped) address is looked up as IPv4, so it lands in the
  // database's IPv4 subtree whatever the database's own aliasing. nullopt when the address is not in
  // the database, or on a lookup error (then `*error` gets libmaxminddb's code, when given).
  std::optional<MMDB_entry_s> find(const IpAddress& address, int* error = nullptr) const;

  // The string at `path` (a null-terminated list of map keys) in `entry`, or "" when it is absent or
  // not a string. The view points into the mapped file.
  static std::string_view string_at(MMDB_entry_s entry, const char* const* path);
  static std::optional<std::uint32_t> uint32_at(MMDB_entry_s entry, const char* const* path);
  static std::optional<double> double_at(MMDB_entry_s entry, const char* const* path);

 private:
  struct Close {
    void operator()(MMDB_s* mmdb) const noexcept;
  };

  MmdbDatabase() = default;

  // A heap MMDB_s: it must not move once opened, while this object moves freely.
  std::unique_ptr<MMDB_s, Close> mmdb_;
  std::string path_;
  std::string type_;
  std::uint64_t build_epoch_ = 0;
  FileIdentity identity_;
};

// True for ::ffff:a.b.c.d, the form IpAddress keeps IPv4 in.
bool is_v4_mapped(const IpAddress& address) noexcept;

}  // namespace flowpulse::enrich
