#include "enrich/address_cache.hpp"

#include <algorithm>
#include <bit>
#include <cstring>

namespace flowpulse::enrich {

AddressCache::AddressCache(std::size_t capacity) {
  if (capacity == 0) return;
  // Slot numbers are stored + 1 in 32 bits.
  capacity = std::min<std::size_t>(capacity, std::size_t{1} << 30);
  slots_.resize(capacity);
  index_.assign(std::bit_ceil(capacity * 2), empty_bucket);
  mask_ = index_.size() - 1;
}

std::size_t AddressCache::home(const Key& key) const noexcept {
  std::uint64_t hi = 0;
  std::uint64_t lo = 0;
  std::memcpy(&hi, key.data(), 8);
  std::memcpy(&lo, key.data() + 8, 8);
  // IPv4-mapped keys differ only in the last four bytes: mix them all into the high bits (splitmix64's
  // finaliser), since the mask keeps only the low ones.
  std::uint64_t h = hi * 0x9e3779b97f4a7c15ULL ^ lo;
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return static_cast<std::size_t>(h) & mask_;
}

const engine::Enrichment* AddressCache::find(const Key& key) noexcept {
  if (slots_.empty()) return nullptr;
  for (std::size_t b = home(key);; b = (b + 1) & mask_) {
    const std::uint32_t entry = index_[b];
    if (entry == empty_bucket) return nullptr;
    Slot& slot = slots_[entry - 1];
    if (slot.key == key) {
      slot.referenced = true;
      return &slot.value;
    }
  }
}

std::size_t AddressCache::bucket_of(std::size_t slot) const noexcept {
  // The slot is indexed, so the probe ends before an empty bucket.
  std::size_t b = home(slots_[slot].key);
  while (index_[b] != slot + 1) b = (b + 1) & mask_;
  return b;
}

void AddressCache::erase_bucket(std::size_t bucket) noexcept {
  // Backward-shift deletion: pull later entries of the probe run into the hole when their home
  // bucket does not lie (cyclically) between the hole and where they sit.
  std::size_t hole = bucket;
  for (std::size_t j = (hole + 1) & mask_; index_[j] != empty_bucket; j = (j + 1) & mask_) {
    const std::size_t k = home(slots_[index_[j] - 1].key);
    const bool stays = hole <= j ? (hole < k && k <= j) : (hole < k || k <= j);
    if (stays) continue;
    index_[hole] = index_[j];
    hole = j;
  }
  index_[hole] = empty_bucket;
}

void AddressCache::insert(const Key& key, const engine::Enrichment& value) noexcept {
  if (slots_.empty()) return;
  std::size_t slot = 0;
  if (size_ < slots_.size()) {
    // Filling up: slots are taken in order, so the hand sweeps only used ones once full.
    slot = size_++;
  } else {
    // Second chance: a slot used since the hand last passed loses its flag and is skipped. At most
    // one full turn, after which every flag is clear.
    while (slots_[hand_].referenced) {
      slots_[hand_].referenced = false;
      hand_ = hand_ + 1 == slots_.size() ? 0 : hand_ + 1;
    }
    slot = hand_;
    hand_ = hand_ + 1 == slots_.size() ? 0 : hand_ + 1;
    erase_bucket(bucket_of(slot));
  }
  slots_[slot].key = key;
  slots_[slot].value = value;
  slots_[slot].referenced = false;
  std::size_t b = home(key);
  while (index_[b] != empty_bucket) b = (b + 1) & mask_;
  index_[b] = static_cast<std::uint32_t>(slot + 1);
}

void AddressCache::clear() noexcept {
  std::fill(index_.begin(), index_.end(), empty_bucket);
  size_ = 0;
  hand_ = 0;
}

}  // namespace flowpulse::enrich
