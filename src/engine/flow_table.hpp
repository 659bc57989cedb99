// A worker's flow-table shard: fixed-capacity open addressing (linear probing), allocated once at
// start. A key whose addresses are all IPv4 or absent is kept narrow: addresses as 4 bytes, so key,
// counters and an occupancy word fill one 64-byte entry and a probe touches one cache line. Keys
// with an IPv6 address live whole in 96-byte entries behind 8-bit tags. With tens of thousands of
// keys a shard outgrows L2 (2 MiB per core here), and the cache lines a record touches are what it
// costs (BM_Netflow9Worker). When `capacity` keys are in it, further new keys go to their set's
// overflow entry and are counted, so totals are never lost. The worker also writes its cumulative
// counters into the shard when it hands it to the stats core (WorkerSnapshot), so the stats core
// only ever reads shards no worker is writing.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "core/huge_array.hpp"
#include "decode/decoder.hpp"
#include "engine/flow_key.hpp"
#include "engine/meter.hpp"
#include "io/packet_source.hpp"

namespace flowpulse::engine {

// Per listener, cumulative since start: every received datagram is either parsed or dropped
// (by the reason of its first error), so received == parsed + sum(dropped).
struct ListenerCounters {
  std::uint64_t received = 0;
  std::uint64_t received_bytes = 0;
  std::uint64_t parsed = 0;
  std::array<std::uint64_t, decode::drop_reason_count> dropped{};
  std::uint64_t records = 0;
  std::uint64_t receive_errors = 0;  // recvmmsg failures other than EAGAIN
};

// Batch processing time histogram bounds (seconds), shared by worker and exporter.
inline constexpr double duration_bounds[] = {1e-6, 4e-6, 16e-6, 64e-6, 256e-6, 1e-3, 4e-3, 16e-3, 64e-3};
inline constexpr std::size_t duration_buckets = std::size(duration_bounds) + 1;

struct ExporterSnapshot {
  IpAddress exporter;
  decode::DecodeStats decode;
  std::uint64_t templates = 0;
};

// A capture worker's source and meter, cumulative since start.
struct CaptureCounters {
  io::SourceStats source;
  MeterStats meter;
  decode::ReassemblyStats reassembly;
  std::uint64_t receive_errors = 0;  // receive() calls that failed
  bool at_end = false;               // a file source read to its end
};

struct WorkerSnapshot {
  std::vector<ExporterSnapshot> exporters;  // the worker's exporter table (bounded by the decoder)
  std::vector<ListenerCounters> listeners;  // index = listener index in the config
  decode::DecodeStats decode;               // sum over exporters
  std::uint64_t table_overflow = 0;         // records that went to an overflow entry
  Counters totals;                          // all records since start (independent of dimension sets)
  std::array<std::uint64_t, duration_buckets> duration_counts{};
  double duration_sum = 0;
  std::uint64_t batches = 0;
  std::optional<CaptureCounters> capture;  // capture workers only
};

// Slots of an open-addressing table of `capacity` entries (the flow-table shards, the meter's flow
// cache): at most 3/4 full, so probe sequences stay short.
inline std::size_t table_slots(std::size_t capacity) noexcept {
  return std::bit_ceil(capacity + capacity / 3 + 1);
}

class FlowTable {
 public:
  FlowTable(std::size_t capacity, std::size_t sets);
  // The bytes a table of `capacity` entries commits when it is made.
  static std::size_t memory_bytes(std::size_t capacity) noexcept;

  // Adds to the entry of `key` (hash = hash_key(key), narrow = narrow_key(key)), creating it if
  // there is room, else to the set's overflow entry. Returns false when it overflowed.
  // Inlined into the batch loop (the per-record path of every collector worker).
  [[gnu::always_inline]] bool add(const ShardKey& key, std::uint64_t hash, bool narrow,
                                  const Counters& c) noexcept {
    return narrow ? add_narrow(key, hash, c) : add_wide(key, hash, c);
  }
  bool add(const ShardKey& key, std::uint64_t hash, const Counters& c) noexcept {
    return add(key, hash, narrow_key(key), c);
  }

  // Fetches the slot a key probes first: one line for a narrow key, tag and both lines of a wide
  // entry otherwise.
  void prefetch(std::uint64_t hash, bool narrow) const noexcept {
    const std::size_t i = hash & mask_;
    if (narrow) {
      __builtin_prefetch(&narrow_entries_[i]);
      return;
    }
    __builtin_prefetch(&tags_[i]);
    const auto* e = reinterpret_cast<const char*>(&wide_entries_[i]);
    __builtin_prefetch(e);
    __builtin_prefetch(e + sizeof(WideEntry) - 1);
  }

  // Visits every entry, then every non-empty overflow entry (with its overflow key).
  template <typename F>
  void for_each(F&& f) const {
    for (std::uint32_t u : used_) {
      const std::size_t i = u & ~wide_bit;
      if (u & wide_bit) {
        f(wide_entries_[i].key, wide_entries_[i].counters);
      } else {
        f(widen_narrow(narrow_entries_[i]), narrow_entries_[i].counters);
      }
    }
    for (std::size_t s = 0; s < overflow_.size(); ++s) {
      if (overflow_[s].flows != 0) f(shard_overflow_key(static_cast<std::uint8_t>(s)), overflow_[s]);
    }
  }

  // Empties the table in O(entries), not O(slots).
  void clear() noexcept;

  std::size_t size() const noexcept { return used_.size(); }
  std::size_t capacity() const noexcept { return capacity_; }
  std::uint64_t overflow_records() const noexcept { return overflow_records_; }

  WorkerSnapshot snapshot;  // written by the worker at hand-over, read by the stats core

  // Capture workers with a FlowObserver: every metered (raw) record of the tick, as a 5-tuple
  // delta, for process attribution. Fixed capacity (set_feed); what does not fit is summed by
  // protocol into feed_lost (index 0 TCP, 1 UDP, 2 the rest), so nothing is dropped.
  void set_feed(std::size_t capacity) {
    feed_capacity_ = capacity;
    feed_.reserve(capacity);
  }
  void add_feed(const FlowRecord& r) noexcept {
    if (feed_.size() < feed_capacity_) {
      feed_.push_back({{r.src_addr, r.dst_addr, r.src_port, r.dst_port, r.proto}, r.bytes, r.packets});
      return;
    }
    FlowDelta& lost = feed_lost_[r.proto == 6 ? 0 : r.proto == 17 ? 1 : 2];
    lost.flow.proto = r.proto == 6 || r.proto == 17 ? r.proto : 0;
    lost.bytes += r.bytes;
    lost.packets += r.packets;
  }
  bool feeds() const noexcept { return feed_capacity_ != 0; }
  std::span<const FlowDelta> feed() const noexcept { return feed_; }
  std::span<const FlowDelta> feed_lost() const noexcept { return feed_lost_; }

 private:
  // A narrow key: src and dst IPv4 addresses (a), the exporter's and a tag word (b), then the
  // shard key's last three words as they are. Word b's high half says which addresses are IPv4
  // rather than absent (bits 0-2) and that the slot is occupied (bit 3): an empty slot is all zero.
  struct NarrowKey {
    std::uint64_t a = 0, b = 0, ifs = 0, as = 0, rest = 0;
    bool operator==(const NarrowKey& o) const noexcept {
      return ((a ^ o.a) | (b ^ o.b) | (ifs ^ o.ifs) | (as ^ o.as) | (rest ^ o.rest)) == 0;
    }
  };
  struct alignas(64) NarrowEntry {
    NarrowKey key;
    Counters counters;
  };
  static_assert(sizeof(NarrowEntry) == 64);
  struct WideEntry {
    ShardKey key;
    Counters counters;
  };
  static constexpr std::uint32_t wide_bit = 1U << 31;  // in used_: the index is into wide_entries_
  static constexpr std::uint64_t occupied = 8;

  // A narrow key's words (narrow_key(key) is true).
  static NarrowKey narrow_of(const ShardKey& key) noexcept {
    std::uint64_t w[9];
    std::memcpy(w, &key, sizeof key);
    auto v4 = [](std::uint64_t hi) { return hi >> 32; };
    auto mapped = [](std::uint64_t hi) { return std::uint64_t{hi != 0}; };
    NarrowKey n;
    n.a = v4(w[1]) | v4(w[3]) << 32;
    n.b = v4(w[5]) | (mapped(w[1]) | mapped(w[3]) << 1 | mapped(w[5]) << 2 | occupied) << 32;
    n.ifs = w[6];
    n.as = w[7];
    n.rest = w[8];
    return n;
  }
  static ShardKey widen_narrow(const NarrowEntry& e) noexcept {
    const NarrowKey& n = e.key;
    const std::uint64_t flags = n.b >> 32;
    auto hi = [](std::uint64_t v4, bool mapped) { return mapped ? v4 << 32 | 0xffff0000ULL : 0; };
    const std::uint64_t w[9] = {0,     hi(n.a & 0xffffffffU, flags & 1), 0,     hi(n.a >> 32, flags & 2),
                                0,     hi(n.b & 0xffffffffU, flags & 4), n.ifs, n.as,
                                n.rest};
    ShardKey k;
    std::memcpy(&k, w, sizeof k);
    return k;
  }

  bool add_narrow(const ShardKey& key, std::uint64_t hash, const Counters& c) noexcept {
    const NarrowKey n = narrow_of(key);
    std::size_t i = hash & mask_;
    for (;;) {
      NarrowEntry& e = narrow_entries_[i];
      if (e.key == n) {
        e.counters += c;
        return true;
      }
      if (e.key.b == 0) break;
      i = (i + 1) & mask_;
    }
    if (used_.size() == capacity_) return add_overflow(key, c);
    narrow_entries_[i] = NarrowEntry{n, c};
    used_.push_back(static_cast<std::uint32_t>(i));
    return true;
  }
  bool add_wide(const ShardKey& key, std::uint64_t hash, const Counters& c) noexcept {
    std::size_t i = hash & mask_;
    const std::uint8_t tag = static_cast<std::uint8_t>((hash >> 56) | 1U);  // never 0 (= empty)
    for (;;) {
      const std::uint8_t t = tags_[i];
      if (t == tag && wide_entries_[i].key == key) {
        wide_entries_[i].counters += c;
        return true;
      }
      if (t == 0) break;
      i = (i + 1) & mask_;
    }
    if (used_.size() == capacity_) return add_overflow(key, c);
    tags_[i] = tag;
    wide_entries_[i] = WideEntry{key, c};
    used_.push_back(static_cast<std::uint32_t>(i) | wide_bit);
    return true;
  }
  bool add_overflow(const ShardKey& key, const Counters& c) noexcept {
    overflow_[key.set] += c;
    ++overflow_records_;
    return false;
  }

  std::size_t capacity_;
  std::size_t mask_;
  core::HugeArray<NarrowEntry> narrow_entries_;
  core::HugeArray<std::uint8_t> tags_;
  core::HugeArray<WideEntry> wide_entries_;
  std::vector<std::uint32_t> used_;  // reserved to capacity: never reallocates
  std::vector<Counters> overflow_;   // per set
  std::uint64_t overflow_records_ = 0;
  std::size_t feed_capacity_ = 0;
  std::vector<FlowDelta> feed_;
  std::array<FlowDelta, 3> feed_lost_{};
};

// Adds records into a shard under every dimension set, a batch at a time: keys and hashes for the
// whole batch first (prefetching their slots), then the adds. Keeps the all-records totals.
class ShardAggregator {
 public:
  static constexpr std::size_t max_batch = 64;

  explicit ShardAggregator(std::vector<Dimensions> dimensions) : dimensions_(std::move(dimensions)) {}

  // `records.size()` <= max_batch.
  void add(FlowTable& table, std::span<const FlowRecord> records) noexcept;

  const Counters& totals() const noexcept { return totals_; }
  std::uint64_t records() const noexcept { return records_; }
  const std::vector<Dimensions>& dimensions() const noexcept { return dimensions_; }

 private:
  // One set: the keys of the whole batch (built by make_key for the set's key words, inlined),
  // prefetching their slots, then the adds.
  template <unsigned Words>
  void add_to_set(FlowTable& table, std::span<const FlowRecord> records, std::uint8_t s) noexcept {
    const Dimensions& d = dimensions_[s];
    for (std::size_t i = 0; i < records.size(); ++i) {
      hashes_[i] = make_key_with<Words>(records[i], d, s, keys_[i], &narrow_[i]);
      table.prefetch(hashes_[i], narrow_[i]);
    }
    for (std::size_t i = 0; i < records.size(); ++i) {
      table.add(keys_[i], hashes_[i], narrow_[i],
                Counters{records[i].bytes, records[i].packets, records[i].flows});
    }
  }
  using AddSet = void (ShardAggregator::*)(FlowTable&, std::span<const FlowRecord>, std::uint8_t) noexcept;
  template <std::size_t... W>
  static constexpr std::array<AddSet, sizeof...(W)> add_sets(std::index_sequence<W...>) {
    return {&ShardAggregator::add_to_set<W>...};
  }

  std::vector<Dimensions> dimensions_;
  std::array<ShardKey, max_batch> keys_;
  std::array<std::uint64_t, max_batch> hashes_;
  std::array<bool, max_batch> narrow_;
  Counters totals_;
  std::uint64_t records_ = 0;
};

inline void ShardAggregator::add(FlowTable& table, std::span<const FlowRecord> records) noexcept {
  static constexpr auto add_set = add_sets(std::make_index_sequence<key_words_all + 1>{});
  for (std::size_t s = 0; s < dimensions_.size(); ++s) {
    (this->*add_set[dimensions_[s].key_words])(table, records, static_cast<std::uint8_t>(s));
  }
  for (const FlowRecord& r : records) totals_ += Counters{r.bytes, r.packets, r.flows};
  records_ += records.size();
}

}  // namespace flowpulse::engine
