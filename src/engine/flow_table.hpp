// A worker's flow-table shard: fixed-capacity open addressing (linear probing, 8-bit tags checked
// before keys), allocated once at start. When `capacity` keys are in it, further new keys go to
// their set's overflow entry and are counted, so totals are never lost. The worker also writes its
// cumulative counters into the shard when it hands it to the stats core (WorkerSnapshot), so the
// stats core only ever reads shards no worker is writing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
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

class FlowTable {
 public:
  struct Entry {
    ShardKey key;
    Counters counters;
  };

  FlowTable(std::size_t capacity, std::size_t sets);

  // Adds to the entry of `key` (hash = hash_key(key)), creating it if there is room, else to the
  // set's overflow entry. Returns false when it overflowed.
  bool add(const ShardKey& key, std::uint64_t hash, const Counters& c) noexcept {
    std::size_t i = hash & mask_;
    const std::uint8_t tag = static_cast<std::uint8_t>((hash >> 56) | 1U);  // never 0 (= empty)
    for (;;) {
      const std::uint8_t t = tags_[i];
      if (t == tag && entries_[i].key == key) {
        entries_[i].counters += c;
        return true;
      }
      if (t == 0) break;
      i = (i + 1) & mask_;
    }
    if (used_.size() == capacity_) {
      overflow_[key.set] += c;
      ++overflow_records_;
      return false;
    }
    tags_[i] = tag;
    entries_[i] = Entry{key, c};
    used_.push_back(static_cast<std::uint32_t>(i));
    return true;
  }

  // An entry (96 bytes) spans two cache lines: both are fetched, the key compare reads both.
  void prefetch(std::uint64_t hash) const noexcept {
    const std::size_t i = hash & mask_;
    __builtin_prefetch(&tags_[i]);
    const auto* e = reinterpret_cast<const char*>(&entries_[i]);
    __builtin_prefetch(e);
    __builtin_prefetch(e + sizeof(Entry) - 1);
  }

  // Visits every entry, then every non-empty overflow entry (with its overflow key).
  template <typename F>
  void for_each(F&& f) const {
    for (std::uint32_t i : used_) f(entries_[i].key, entries_[i].counters);
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
  std::size_t capacity_;
  std::size_t mask_;
  core::HugeArray<std::uint8_t> tags_;
  core::HugeArray<Entry> entries_;
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
  void add(FlowTable& table, std::span<const FlowRecord> records) noexcept {
    for (std::size_t s = 0; s < dimensions_.size(); ++s) {
      for (std::size_t i = 0; i < records.size(); ++i) {
        hashes_[i] = make_key(records[i], dimensions_[s], static_cast<std::uint8_t>(s), keys_[i]);
        table.prefetch(hashes_[i]);
      }
      for (std::size_t i = 0; i < records.size(); ++i) {
        table.add(keys_[i], hashes_[i], Counters{records[i].bytes, records[i].packets, records[i].flows});
      }
    }
    for (const FlowRecord& r : records) totals_ += Counters{r.bytes, r.packets, r.flows};
    records_ += records.size();
  }

  const Counters& totals() const noexcept { return totals_; }
  std::uint64_t records() const noexcept { return records_; }
  const std::vector<Dimensions>& dimensions() const noexcept { return dimensions_; }

 private:
  std::vector<Dimensions> dimensions_;
  std::array<ShardKey, max_batch> keys_;
  std::array<std::uint64_t, max_batch> hashes_;
  Counters totals_;
  std::uint64_t records_ = 0;
};

}  // namespace flowpulse::engine
