// What flows are aggregated by: the dimension sets of `metrics.dimensions` compiled into bit masks,
// and FlowKey, a FlowRecord projected onto one set (labels not in the set are zero, addresses masked
// to the set's prefix lengths). Keys are fixed-size PODs hashed and compared as bytes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "engine/enricher.hpp"
#include "flowpulse/flow_record.hpp"

namespace flowpulse::engine {

enum class Label : std::uint8_t {
  src_addr,
  dst_addr,
  src_port,
  dst_port,
  protocol,
  in_if,
  out_if,
  exporter,
  src_as,
  dst_as,
  direction,
  // Filled by the stats core's enrichment (GeoIP / ASN databases), from the addresses.
  src_country,
  dst_country,
  src_city,
  dst_city,
  src_asn,
  dst_asn,
  src_as_org,
  dst_as_org,
  count_
};
inline constexpr std::size_t label_count = static_cast<std::size_t>(Label::count_);
const char* to_string(Label l) noexcept;

struct Dimensions {
  std::string name;
  std::vector<Label> labels;  // in configured order (the order of the Prometheus labels)
  std::uint32_t mask = 0;     // bit per Label
  std::uint8_t ipv4_prefix = 32;
  std::uint8_t ipv6_prefix = 128;
  // The worker keeps the full address for the stats core to look up (which then masks or drops it).
  bool src_lookup = false;
  bool dst_lookup = false;
  // How make_key builds this set's shard key, compiled from the above: which key words it can
  // fill (key_words), and the mask of each, so a key is a few loads and ANDs with no test per label.
  std::uint8_t key_words = 0;
  // An address's 16 bytes as two words in memory order, [IPv6?][word]: the prefix mask, or all
  // ones for an address kept whole to be looked up.
  std::array<std::array<std::uint64_t, 2>, 2> src_word_mask{};
  std::array<std::array<std::uint64_t, 2>, 2> dst_word_mask{};
  std::uint64_t exporter_mask = 0;  // all or nothing
  std::uint64_t ifs_mask = 0;       // in_if | out_if << 32
  std::uint64_t as_mask = 0;        // src_as | dst_as << 32
  std::uint64_t rest_mask = 0;      // src_port | dst_port << 16 | proto << 32 | direction << 40

  bool has(Label l) const noexcept { return (mask >> static_cast<unsigned>(l)) & 1U; }
};

// Compiles the configured sets; fails on an unknown label name.
core::Result<std::vector<Dimensions>> compile_dimensions(const std::vector<config::DimensionSet>& sets);

// What a worker's shard is keyed by: the labels a record carries (72 bytes, so a shard entry with
// its counters is 96 bytes). Workers never see the enrichment labels.
struct ShardKey {
  std::array<std::uint8_t, 16> src_addr{};  // IPv4-mapped for IPv4, as IpAddress stores it
  std::array<std::uint8_t, 16> dst_addr{};
  std::array<std::uint8_t, 16> exporter{};
  std::uint32_t in_if = 0;
  std::uint32_t out_if = 0;
  std::uint32_t src_as = 0;
  std::uint32_t dst_as = 0;
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
  std::uint8_t proto = 0;
  std::uint8_t direction = 0;
  std::uint8_t set = 0;       // index of the dimension set
  std::uint8_t overflow = 0;  // 1: the "other" entry of the set (all labels read "other")

  // Word by word, inlined (a memcmp of 72 bytes is a library call per probe).
  friend bool operator==(const ShardKey& a, const ShardKey& b) noexcept {
    std::uint64_t x[9], y[9];
    std::memcpy(x, &a, sizeof a);
    std::memcpy(y, &b, sizeof b);
    std::uint64_t diff = 0;
    for (std::size_t i = 0; i < 9; ++i) diff |= x[i] ^ y[i];
    return diff == 0;
  }
};
static_assert(sizeof(ShardKey) == 72);
static_assert(offsetof(ShardKey, in_if) == 48 && offsetof(ShardKey, src_as) == 56 &&
              offsetof(ShardKey, src_port) == 64 && offsetof(ShardKey, set) == 70);  // make_key's words
static_assert(std::has_unique_object_representations_v<ShardKey>);

// What the stats core aggregates by: the shard key's labels, then the enrichment labels it looks up
// from the addresses.
struct FlowKey : ShardKey {
  // Enrichment (stats core): countries packed as two ASCII letters, cities and AS organizations as
  // interned name ids (EnrichmentNames).
  std::uint16_t src_country = 0;
  std::uint16_t dst_country = 0;
  std::uint32_t src_asn = 0;
  std::uint32_t dst_asn = 0;
  std::uint32_t src_city = 0;
  std::uint32_t dst_city = 0;
  std::uint32_t src_as_org = 0;
  std::uint32_t dst_as_org = 0;
  std::uint32_t reserved = 0;  // keeps the size a multiple of 8 with no padding (hashed as words)

  friend bool operator==(const FlowKey& a, const FlowKey& b) noexcept {
    return std::memcmp(&a, &b, sizeof a) == 0;
  }
};
static_assert(sizeof(FlowKey) == 104);
static_assert(std::has_unique_object_representations_v<FlowKey>);

// A shard key as the stats core's key, enrichment labels empty.
inline FlowKey widen(const ShardKey& s) noexcept {
  FlowKey k;
  static_cast<ShardKey&>(k) = s;
  return k;
}

struct Counters {
  std::uint64_t bytes = 0;
  std::uint64_t packets = 0;
  std::uint64_t flows = 0;

  Counters& operator+=(const Counters& o) noexcept {
    bytes += o.bytes;
    packets += o.packets;
    flows += o.flows;
    return *this;
  }
  friend bool operator==(const Counters&, const Counters&) = default;
};

// An address of a key, as its two words in memory order, that is absent (all zero) or IPv4
// (IPv4-mapped: bytes 10-11 are 0xff, the address in bytes 12-15). A key whose addresses all are
// fits a narrow shard entry (FlowTable).
inline bool narrow_address(std::uint64_t lo, std::uint64_t hi) noexcept {
  return lo == 0 && (hi == 0 || static_cast<std::uint32_t>(hi) == 0xffff0000U);
}
inline bool narrow_key(const ShardKey& k) noexcept {
  std::uint64_t w[6];
  std::memcpy(w, &k, sizeof w);
  return narrow_address(w[0], w[1]) && narrow_address(w[2], w[3]) && narrow_address(w[4], w[5]);
}

// The hash of a key held as `N` 64-bit words (its bytes in memory order): each word, keyed by its
// position, multiplied to 128 bits and folded, the folds summed, the sum mixed. The words' products
// do not wait on each other (a chain of rounds would), and a word known to be zero where the hash
// is inlined (a key word its set never fills) folds to a constant at compile time.
inline constexpr std::uint64_t hash_secrets[13] = {
    0x91d93080f9b439fdULL, 0x3ceaaf308142c8ebULL, 0x627655daa05f1119ULL, 0x9dfb369bab13dfafULL,
    0x0ff9bb510944fe0dULL, 0x6301bbfca0c5154fULL, 0x047a8387cdde8d51ULL, 0x6fced11d2bd8a1e7ULL,
    0xb7c1dce27f7695f5ULL, 0x3a124c647e02ff05ULL, 0x5cbd0ba3a1a6bcdfULL, 0x66080f174c96d8e3ULL,
    0x42f2dc05873f9bd1ULL};
__extension__ using uint128 = unsigned __int128;  // GCC and Clang on 64-bit targets
inline std::uint64_t fold_multiply(std::uint64_t a, std::uint64_t b) noexcept {
  const uint128 p = static_cast<uint128>(a) * b;
  return static_cast<std::uint64_t>(p) ^ static_cast<std::uint64_t>(p >> 64);
}
template <std::size_t N>
inline std::uint64_t hash_words(const std::uint64_t (&w)[N]) noexcept {
  static_assert(N <= std::size(hash_secrets));
  std::uint64_t h = N;
  for (std::size_t i = 0; i < N; ++i) h += fold_multiply(w[i] ^ hash_secrets[i], 0x9e3779b97f4a7c15ULL);
  h ^= h >> 32;
  h *= 0xbf58476d1ce4e5b9ULL;
  return h ^ (h >> 29);
}

// The key words make_key can fill (Dimensions::key_words); the last word (ports, protocol,
// direction, set) is always built.
enum KeyWords : std::uint8_t {
  key_src = 1,       // words 0-1: the source address
  key_dst = 2,       // words 2-3: the destination address
  key_exporter = 4,  // words 4-5
  key_ifs = 8,       // word 6: in_if, out_if
  key_as = 16,       // word 7: src_as, dst_as
  key_words_all = 31
};

static_assert(offsetof(FlowRecord, proto) == offsetof(FlowRecord, etype) + 2 &&
              offsetof(FlowRecord, src_port) == offsetof(FlowRecord, etype) + 4 &&
              offsetof(FlowRecord, dst_port) == offsetof(FlowRecord, etype) + 6 &&
              offsetof(FlowRecord, out_if) == offsetof(FlowRecord, in_if) + 4 &&
              offsetof(FlowRecord, dst_as) == offsetof(FlowRecord, src_as) + 4);  // make_key's loads

// make_key for a set whose key_words are `Words` (a subset is fine: the words left out are zero,
// which is what they are for such a set). Inlined where keys are made a batch at a time.
template <unsigned Words>
inline std::uint64_t make_key_with(const FlowRecord& r, const Dimensions& d, std::uint8_t set_index,
                                   ShardKey& out, bool* narrow) noexcept {
  auto load = [](const void* p) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
  };
  std::uint64_t w[9] = {};
  if constexpr ((Words & key_src) != 0) {
    const auto& m = d.src_word_mask[r.src_addr.family == 6];
    w[0] = load(r.src_addr.bytes.data()) & m[0];
    w[1] = load(r.src_addr.bytes.data() + 8) & m[1];
  }
  if constexpr ((Words & key_dst) != 0) {
    const auto& m = d.dst_word_mask[r.dst_addr.family == 6];
    w[2] = load(r.dst_addr.bytes.data()) & m[0];
    w[3] = load(r.dst_addr.bytes.data() + 8) & m[1];
  }
  if constexpr ((Words & key_exporter) != 0) {
    w[4] = load(r.sampler_address.bytes.data()) & d.exporter_mask;
    w[5] = load(r.sampler_address.bytes.data() + 8) & d.exporter_mask;
  }
  if constexpr ((Words & key_ifs) != 0) w[6] = load(&r.in_if) & d.ifs_mask;
  if constexpr ((Words & key_as) != 0) w[7] = load(&r.src_as) & d.as_mask;
  const std::uint64_t t = load(&r.etype);  // etype, proto, a padding byte, src_port, dst_port
  w[8] = ((t >> 32 | (t >> 16 & 0xff) << 32 | std::uint64_t{static_cast<std::uint8_t>(r.direction)} << 40) &
          d.rest_mask) |
         std::uint64_t{set_index} << 48;  // overflow (the top byte) is 0
  std::memcpy(&out, w, sizeof w);
  if (narrow != nullptr) {
    *narrow = narrow_address(w[0], w[1]) && narrow_address(w[2], w[3]) && narrow_address(w[4], w[5]);
  }
  return hash_words(w);
}

// The key of `r` in dimension set `set_index`; returns hash_key(out), and in `narrow` (if given)
// narrow_key(out). It builds the key a word at a time and hashes the words it holds: reading the
// key back from memory right after writing it field by field would make the CPU wait for those
// narrow stores (failed store forwarding).
std::uint64_t make_key(const FlowRecord& r, const Dimensions& d, std::uint8_t set_index, ShardKey& out,
                       bool* narrow = nullptr) noexcept;

// The overflow ("other") key of a set.
ShardKey shard_overflow_key(std::uint8_t set_index) noexcept;
inline FlowKey overflow_key(std::uint8_t set_index) noexcept { return widen(shard_overflow_key(set_index)); }

template <typename Key>
inline std::uint64_t hash_key(const Key& k) noexcept {
  static_assert(sizeof(Key) % 8 == 0);
  std::uint64_t w[sizeof(Key) / 8];
  std::memcpy(w, &k, sizeof k);
  return hash_words(w);
}

// Fills the enrichment labels of a key whose set needs them, then masks or drops the looked-up
// addresses as the set says (stats core). `flow_as_wins`: a src/dst AS carried by the export beats
// the database's ASN (config enrichment.as_source: flow).
void enrich_key(FlowKey& k, const Dimensions& d, AddressEnricher& enricher, bool flow_as_wins);

// The text of one label of a key, as exported ("other" for the overflow key, "unknown" for an
// enrichment label the databases had no answer for). `names` resolves city and organization ids.
std::string label_value(const FlowKey& k, Label l, const EnrichmentNames* names = nullptr);

}  // namespace flowpulse::engine
