// Number arguments of the bench load generators (flowgen, pkt_blaster): the whole text must be a
// number, else false (the caller prints what the option takes).
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstdlib>

namespace flowpulse::bench {

// A non-negative integer ("12"; no sign, no suffix).
inline bool parse_u64(const char* s, std::uint64_t& out) {
  if (s == nullptr || *s == '\0' || *s == '-') return false;
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0') return false;
  out = v;
  return true;
}

// A number in [0, 1e12] ("0.5", "1e5").
inline bool parse_double(const char* s, double& out) {
  if (s == nullptr || *s == '\0') return false;
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(s, &end);
  if (errno != 0 || *end != '\0' || !(v >= 0) || v > 1e12) return false;
  out = v;
  return true;
}

}  // namespace flowpulse::bench
