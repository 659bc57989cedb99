// The bounded cache in front of the MaxMind databases: address (16 bytes, IPv4 mapped) -> Enrichment,
// with a fixed number of entries and CLOCK (second chance) eviction.
//
// Why CLOCK rather than LRU: a hit in an LRU list relinks two neighbours, which are cold cache lines of
// their own; a hit here sets one flag in the slot the lookup already read. Eviction sweeps a hand over
// the slots, clearing flags until it finds one not used since the last sweep, which approximates LRU
// closely for the stats core's workload (the same few thousand merged keys tick after tick).
// Entries live in one array allocated at construction; an open-addressing index (linear probing,
// at most half full, backward-shift deletion so no tombstones build up) maps keys to slots. Nothing
// allocates after construction.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/enricher.hpp"

namespace flowpulse::enrich {

class AddressCache {
 public:
  using Key = std::array<std::uint8_t, 16>;

  // capacity 0 gives a cache that stores nothing.
  explicit AddressCache(std::size_t capacity);

  // The cached value, marked as recently used; nullptr when absent.
  const engine::Enrichment* find(const Key& key) noexcept;
  // Adds `key` (not present), evicting the entry the clock hand picks when full.
  void insert(const Key& key, const engine::Enrichment& value) noexcept;
  void clear() noexcept;

  std::size_t size() const noexcept { return size_; }
  std::size_t capacity() const noexcept { return slots_.size(); }

 private:
  struct Slot {
    Key key{};
    engine::Enrichment value;
    bool referenced = false;
  };
  static constexpr std::uint32_t empty_bucket = 0;  // index_ holds slot number + 1

  std::size_t home(const Key& key) const noexcept;
  std::size_t bucket_of(std::size_t slot) const noexcept;
  void erase_bucket(std::size_t bucket) noexcept;

  std::vector<Slot> slots_;
  std::vector<std::uint32_t> index_;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
  std::size_t hand_ = 0;
};

}  // namespace flowpulse::enrich
