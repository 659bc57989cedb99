// A map from socket inode to a small value (open addressing, linear probing, deletion by backward
// shift so there are no tombstones). The process table asks it once per dumped socket per refresh
// (100k sockets: 100k lookups), where std::unordered_map's node per entry costs a cache miss more.
// Inode 0 marks an empty slot: no socket a process holds has inode 0.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace flowpulse::proc {

template <typename V>
class InodeMap {
 public:
  std::size_t size() const noexcept { return size_; }

  const V* find(std::uint64_t inode) const noexcept {
    if (size_ == 0 || inode == 0) return nullptr;
    for (std::size_t i = slot_of(inode);; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.inode == inode) return &s.value;
      if (s.inode == 0) return nullptr;
    }
  }
  V* find(std::uint64_t inode) noexcept {
    return const_cast<V*>(static_cast<const InodeMap*>(this)->find(inode));
  }
  // Starts loading the slot `find(inode)` reads first (a loop over many inodes asks ahead).
  void prefetch(std::uint64_t inode) const noexcept {
    if (size_ != 0) __builtin_prefetch(&slots_[slot_of(inode)]);
  }

  // Inserts `value` if `inode` is absent; returns the stored value and whether it was inserted.
  std::pair<V*, bool> try_emplace(std::uint64_t inode, const V& value) {
    if ((size_ + 1) * 2 > slots_.size()) grow();
    for (std::size_t i = slot_of(inode);; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (s.inode == inode) return {&s.value, false};
      if (s.inode == 0) {
        s.inode = inode;
        s.value = value;
        ++size_;
        return {&s.value, true};
      }
    }
  }

  bool erase(std::uint64_t inode) noexcept {
    if (size_ == 0 || inode == 0) return false;
    std::size_t i = slot_of(inode);
    for (;; i = (i + 1) & mask_) {
      if (slots_[i].inode == inode) break;
      if (slots_[i].inode == 0) return false;
    }
    // Backward shift: move later members of the probe run into the hole when their home allows.
    for (std::size_t j = (i + 1) & mask_;; j = (j + 1) & mask_) {
      if (slots_[j].inode == 0) break;
      const std::size_t home = slot_of(slots_[j].inode);
      if (((j - home) & mask_) >= ((j - i) & mask_)) {
        slots_[i] = slots_[j];
        i = j;
      }
    }
    slots_[i] = Slot{};
    --size_;
    return true;
  }

 private:
  struct Slot {
    std::uint64_t inode = 0;
    V value{};
  };

  std::size_t slot_of(std::uint64_t inode) const noexcept {
    return static_cast<std::size_t>((inode * 0x9E3779B97F4A7C15ULL) >> 20) & mask_;
  }

  void grow() {
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.assign(std::bit_ceil(std::max<std::size_t>(1024, old.size() * 2)), Slot{});
    mask_ = slots_.size() - 1;
    size_ = 0;
    for (const Slot& s : old)
      if (s.inode != 0) try_emplace(s.inode, s.value);
  }

  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
};

}  // namespace flowpulse::proc
