#include "enrich/mmdb_database.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <vector>

namespace flowpulse::enrich {

namespace {

std::string describe(int status, int saved_errno) {
  std::string why = MMDB_strerror(status);
  if (status == MMDB_IO_ERROR || status == MMDB_FILE_OPEN_ERROR) {
    if (saved_errno != 0) why += std::string(" (") + std::strerror(saved_errno) + ")";
  }
  return why;
}

// Reading the first data record the tree reaches, and a few well-known addresses, proves that the
// search tree and the data section decode: MMDB_open itself checks only the metadata and sizes, so a
// file cut or scrambled in the middle would otherwise pass and fail later, on the stats core.
core::Status validate(const MMDB_s& mmdb) {
  const auto decodes = [](MMDB_entry_s entry) {
    MMDB_entry_data_list_s* list = nullptr;
    const int status = MMDB_get_entry_data_list(&entry, &list);
    MMDB_free_entry_data_list(list);
    return status;
  };

  // Depth-first from the root until the first data record; the bound keeps a looping tree (which a
  // corrupt file can have) from running forever.
  constexpr std::size_t max_nodes = 1u << 16;
  std::vector<std::uint32_t> stack = {0};
  std::size_t visited = 0;
  bool found_data = false;
  while (!stack.empty() && !found_data && visited < max_nodes) {
    const std::uint32_t node_number = stack.back();
    stack.pop_back();
    ++visited;
    MMDB_search_node_s node{};
    if (const int status = MMDB_read_node(&mmdb, node_number, &node); status != MMDB_SUCCESS)
      return core::Error{std::string("search tree: ") + MMDB_strerror(status)};
    const std::array<std::pair<std::uint8_t, std::uint64_t>, 2> records = {
        std::pair{node.right_record_type, node.right_record},
        std::pair{node.left_record_type, node.left_record}};
    const std::array<MMDB_entry_s, 2> entries = {node.right_record_entry, node.left_record_entry};
    for (std::size_t i = 0; i < 2; ++i) {
      switch (records[i].first) {
        case MMDB_RECORD_TYPE_SEARCH_NODE:
          stack.push_back(static_cast<std::uint32_t>(records[i].second));
          break;
        case MMDB_RECORD_TYPE_DATA:
          if (const int status = decodes(entries[i]); status != MMDB_SUCCESS)
            return core::Error{std::string("data section: ") + MMDB_strerror(status)};
          found_data = true;
          break;
        case MMDB_RECORD_TYPE_INVALID: return core::Error{"search tree points outside the file"};
        default: break;  // empty
      }
    }
  }

  // Lookups walk the tree the way the enricher will, including the IPv4 start node.
  static constexpr const char* probes[] = {"1.1.1.1", "8.8.8.8", "81.2.69.160", "2001:4860:4860::8888"};
  for (const char* probe : probes) {
    if (mmdb.metadata.ip_version == 4 && std::strchr(probe, ':') != nullptr) continue;
    int gai_error = 0;
    int status = MMDB_SUCCESS;
    MMDB_lookup_result_s result = MMDB_lookup_string(&mmdb, probe, &gai_error, &status);
    if (gai_error != 0) continue;
    if (status != MMDB_SUCCESS)
      return core::Error{std::string("lookup of ") + probe + ": " + MMDB_strerror(status)};
    if (result.found_entry) {
      if (status = decodes(result.entry); status != MMDB_SUCCESS)
        return core::Error{std::string("data for ") + probe + ": " + MMDB_strerror(status)};
    }
  }
  return core::Ok{};
}

}  // namespace

core::Result<FileIdentity> identify_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return core::Error{path + ": " + std::strerror(errno)};
  if (!S_ISREG(st.st_mode)) return core::Error{path + ": not a regular file"};
  FileIdentity id;
  id.device = static_cast<std::uint64_t>(st.st_dev);
  id.inode = static_cast<std::uint64_t>(st.st_ino);
  id.size = static_cast<std::int64_t>(st.st_size);
  id.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000LL + st.st_mtim.tv_nsec;
  return id;
}

void MmdbDatabase::Close::operator()(MMDB_s* mmdb) const noexcept {
  MMDB_close(mmdb);
  delete mmdb;
}

core::Result<MmdbDatabase> MmdbDatabase::open(const std::string& path) {
  const std::string what = "MaxMind database " + path + ": ";
  // stat first: it gives the OS's own reason (no such file, permission) which MMDB_open loses.
  auto identity = identify_file(path);
  if (!identity) return core::Error{"MaxMind database " + identity.error()};

  // mmap of nothing fails with a bare EINVAL; say what is wrong instead.
  if (identity->size == 0) return core::Error{what + "the file is empty"};

  MmdbDatabase db;
  db.path_ = path;
  db.identity_ = *identity;
  auto mmdb = std::make_unique<MMDB_s>();
  errno = 0;
  const int status = MMDB_open(path.c_str(), MMDB_MODE_MMAP, mmdb.get());
  const int saved_errno = errno;
  // MMDB_open releases what it allocated itself when it fails, so MMDB_close is only for success.
  if (status != MMDB_SUCCESS) return core::Error{what + describe(status, saved_errno)};
  db.mmdb_.reset(mmdb.release());

  const MMDB_metadata_s& meta = db.mmdb_->metadata;
  if (meta.database_type == nullptr || meta.database_type[0] == '\0')
    return core::Error{what + "metadata has no database_type"};
  if (meta.ip_version != 4 && meta.ip_version != 6)
    return core::Error{what + "metadata has ip_version " + std::to_string(meta.ip_version)};
  db.type_ = meta.database_type;
  db.build_epoch_ = meta.build_epoch;
  if (auto valid = validate(*db.mmdb_); !valid) return core::Error{what + "corrupt: " + valid.error()};
  return db;
}

bool is_v4_mapped(const IpAddress& address) noexcept {
  if (address.family == 4) return true;
  static constexpr std::uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return address.family == 6 && std::memcmp(address.bytes.data(), prefix, sizeof prefix) == 0;
}

std::optional<MMDB_entry_s> MmdbDatabase::find(const IpAddress& address, int* error) const {
  int status = MMDB_SUCCESS;
  MMDB_lookup_result_s result{};
  if (is_v4_mapped(address)) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    std::memcpy(&sa.sin_addr, &address.bytes[12], 4);
    result = MMDB_lookup_sockaddr(mmdb_.get(), reinterpret_cast<const sockaddr*>(&sa), &status);
  } else if (address.family == 6) {
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    std::memcpy(&sa.sin6_addr, address.bytes.data(), 16);
    result = MMDB_lookup_sockaddr(mmdb_.get(), reinterpret_cast<const sockaddr*>(&sa), &status);
  } else {
    return std::nullopt;
  }
  // An IPv6 address in an IPv4-only database is simply not there: no error to report.
  if (status == MMDB_IPV6_LOOKUP_IN_IPV4_DATABASE_ERROR) return std::nullopt;
  if (status != MMDB_SUCCESS) {
    if (error != nullptr) *error = status;
    return std::nullopt;
  }
  if (!result.found_entry) return std::nullopt;
  return result.entry;
}

std::string_view MmdbDatabase::string_at(MMDB_entry_s entry, const char* const* path) {
  MMDB_entry_data_s data{};
  if (MMDB_aget_value(&entry, &data, path) != MMDB_SUCCESS || !data.has_data ||
      data.type != MMDB_DATA_TYPE_UTF8_STRING)
    return {};
  return {data.utf8_string, data.data_size};
}

std::optional<std::uint32_t> MmdbDatabase::uint32_at(MMDB_entry_s entry, const char* const* path) {
  MMDB_entry_data_s data{};
  if (MMDB_aget_value(&entry, &data, path) != MMDB_SUCCESS || !data.has_data) return std::nullopt;
  switch (data.type) {
    case MMDB_DATA_TYPE_UINT16: return data.uint16;
    case MMDB_DATA_TYPE_UINT32: return data.uint32;
    default: return std::nullopt;
  }
}

std::optional<double> MmdbDatabase::double_at(MMDB_entry_s entry, const char* const* path) {
  MMDB_entry_data_s data{};
  if (MMDB_aget_value(&entry, &data, path) != MMDB_SUCCESS || !data.has_data) return std::nullopt;
  switch (data.type) {
    case MMDB_DATA_TYPE_DOUBLE: return data.double_value;
    case MMDB_DATA_TYPE_FLOAT: return static_cast<double>(data.float_value);
    default: return std::nullopt;
  }
}

}  // namespace flowpulse::enrich
