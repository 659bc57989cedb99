// Building wire data in tests: big-endian writers over a byte vector, the one set every test that
// crafts datagrams or frames uses.
#pragma once

#include <cstdint>
#include <vector>

namespace flowpulse::test {

using Bytes = std::vector<std::uint8_t>;

inline void put8(Bytes& b, unsigned v) { b.push_back(static_cast<std::uint8_t>(v & 0xff)); }
inline void put16(Bytes& b, unsigned v) {
  put8(b, (v >> 8) & 0xff);
  put8(b, v & 0xff);
}
inline void put32(Bytes& b, std::uint32_t v) {
  put16(b, v >> 16);
  put16(b, v & 0xffff);
}
inline void put64(Bytes& b, std::uint64_t v) {
  put32(b, static_cast<std::uint32_t>(v >> 32));
  put32(b, static_cast<std::uint32_t>(v));
}
inline void append(Bytes& b, const Bytes& tail) { b.insert(b.end(), tail.begin(), tail.end()); }

}  // namespace flowpulse::test
