// NetFlow v5 datagrams for tests that need an exporter they control exactly (the real exporters,
// softflowd and pmacctd, are driven elsewhere): a header and 48-byte records with chosen values.
#pragma once

#include <cstdint>
#include <ctime>
#include <optional>
#include <vector>

#include "bytes.hpp"

namespace flowpulse::test {

struct V5Record {
  std::uint32_t src = 0;  // host order, e.g. 0x51024aa0 = 81.2.69.160
  std::uint32_t dst = 0;
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
  std::uint8_t proto = 6;
  std::uint32_t packets = 1;
  std::uint32_t bytes = 0;
};

// A NetFlow v5 datagram holding `records`. `count_field` overrides the header's record count (to
// build malformed datagrams); the export time is now, sysUptime 100 s, flows 10 s and 1 s old.
inline Bytes netflow5_datagram(const std::vector<V5Record>& records, std::uint32_t sequence = 0,
                               std::optional<std::uint16_t> count_field = std::nullopt) {
  Bytes b;
  put16(b, 5);
  put16(b, count_field.value_or(static_cast<std::uint16_t>(records.size())));
  put32(b, 100000);  // sysUptime, ms
  put32(b, static_cast<std::uint32_t>(std::time(nullptr)));
  put32(b, 0);  // unix_nsecs
  put32(b, sequence);
  put8(b, 0);   // engine type
  put8(b, 0);   // engine id
  put16(b, 0);  // not sampled
  for (const V5Record& r : records) {
    put32(b, r.src);
    put32(b, r.dst);
    put32(b, 0);  // next hop
    put16(b, 1);  // input interface
    put16(b, 2);  // output interface
    put32(b, r.packets);
    put32(b, r.bytes);
    put32(b, 90000);  // first, ms since boot
    put32(b, 99000);  // last
    put16(b, r.src_port);
    put16(b, r.dst_port);
    put8(b, 0);     // pad
    put8(b, 0x10);  // TCP flags
    put8(b, r.proto);
    put8(b, 0);   // TOS
    put16(b, 0);  // src AS
    put16(b, 0);  // dst AS
    put8(b, 24);  // src mask
    put8(b, 24);  // dst mask
    put16(b, 0);  // pad
  }
  return b;
}

}  // namespace flowpulse::test
