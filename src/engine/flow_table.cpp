#include "engine/flow_table.hpp"

#include <bit>
#include <cstring>

namespace flowpulse::engine {

FlowTable::FlowTable(std::size_t capacity, std::size_t sets)
    : capacity_(capacity),
      mask_(table_slots(capacity) - 1),
      narrow_entries_(mask_ + 1),
      tags_(mask_ + 1),
      wide_entries_(mask_ + 1),
      overflow_(sets) {
  used_.reserve(capacity);
}

std::size_t FlowTable::memory_bytes(std::size_t capacity) noexcept {
  const std::size_t slots = table_slots(capacity);
  return core::HugeArray<NarrowEntry>::bytes_for(slots) + core::HugeArray<std::uint8_t>::bytes_for(slots) +
         core::HugeArray<WideEntry>::bytes_for(slots) + capacity * sizeof(std::uint32_t);
}

void FlowTable::clear() noexcept {
  for (std::uint32_t u : used_) {
    if (u & wide_bit) {
      tags_[u & ~wide_bit] = 0;
    } else {
      narrow_entries_[u].key.b = 0;
    }
  }
  used_.clear();
  for (auto& o : overflow_) o = Counters{};
  overflow_records_ = 0;
  feed_.clear();
  feed_lost_ = {};
}

}  // namespace flowpulse::engine
