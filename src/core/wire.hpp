// Reading big-endian integers from untrusted buffers. Every decoder parses from a
// (const uint8_t*, size_t) view through these; `WireReader` checks each length before use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace flowpulse::core {

inline std::uint16_t load_be16(const std::uint8_t* p) noexcept {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}
inline std::uint32_t load_be32(const std::uint8_t* p) noexcept {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return __builtin_bswap32(v);
}
inline std::uint64_t load_be64(const std::uint8_t* p) noexcept {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return __builtin_bswap64(v);
}
// An unsigned big-endian integer of 1..8 bytes (IPFIX reduced-size encoding); longer fields keep
// their low 8 bytes.
inline std::uint64_t load_be_var(const std::uint8_t* p, std::size_t n) noexcept {
  if (n > 8) {
    p += n - 8;
    n = 8;
  }
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v = (v << 8) | p[i];
  return v;
}

// A bounds-checked cursor over a byte view. A read past the end sets `ok()` false and returns 0,
// so a decoder may read a whole header and test once.
class WireReader {
 public:
  WireReader(const std::uint8_t* data, std::size_t size) noexcept : p_(data), end_(data + size) {}

  std::size_t remaining() const noexcept { return static_cast<std::size_t>(end_ - p_); }
  const std::uint8_t* data() const noexcept { return p_; }
  bool ok() const noexcept { return ok_; }

  bool has(std::size_t n) const noexcept { return ok_ && remaining() >= n; }

  std::uint8_t u8() noexcept { return has(1) ? *p_++ : fail<std::uint8_t>(); }
  std::uint16_t u16() noexcept { return has(2) ? advance(load_be16(p_), 2) : fail<std::uint16_t>(); }
  std::uint32_t u32() noexcept { return has(4) ? advance(load_be32(p_), 4) : fail<std::uint32_t>(); }
  std::uint64_t u64() noexcept { return has(8) ? advance(load_be64(p_), 8) : fail<std::uint64_t>(); }

  // Returns a pointer to the next n bytes and skips them, or nullptr (and !ok()) if they are not there.
  const std::uint8_t* take(std::size_t n) noexcept {
    if (!has(n)) return fail<const std::uint8_t*>();
    const std::uint8_t* q = p_;
    p_ += n;
    return q;
  }
  bool skip(std::size_t n) noexcept { return take(n) != nullptr || n == 0; }

 private:
  template <typename T>
  T advance(T v, std::size_t n) noexcept {
    p_ += n;
    return v;
  }
  template <typename T>
  T fail() noexcept {
    ok_ = false;
    return T{};
  }

  const std::uint8_t* p_;
  const std::uint8_t* end_;
  bool ok_ = true;
};

}  // namespace flowpulse::core
