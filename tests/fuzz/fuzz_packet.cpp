// libFuzzer target for the L2–L4 packet parser: every entry point (Ethernet, IP, each pcap link
// type) over the same hostile bytes, and the record fill, must neither crash nor read out of bounds.
#include <cstddef>
#include <cstdint>

#include "decode/packet.hpp"

using namespace flowpulse;

namespace {
// The parser must keep every pointer it returns inside the buffer it was given.
void check(const decode::PacketInfo& p, const std::uint8_t* data, std::size_t size) {
  if (p.payload != nullptr) {
    if (p.payload < data || p.payload + p.payload_len > data + size) __builtin_trap();
    volatile std::uint8_t sink = 0;
    for (std::size_t i = 0; i < p.payload_len; ++i) sink = sink ^ p.payload[i];
  }
  if (p.ip_end > size || p.l4_offset > size) __builtin_trap();
  FlowRecord r;
  decode::fill_flow_record(p, r);
  if (r.mpls_count > FlowRecord::max_mpls_labels) __builtin_trap();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  check(decode::parse_ethernet(data, size), data, size);
  check(decode::parse_ip(data, size), data, size);
  check(decode::parse_ipv4(data, size), data, size);
  check(decode::parse_ipv6(data, size), data, size);
  for (std::uint32_t lt : {0u, 108u, 113u, 276u}) check(decode::parse_link(lt, data, size), data, size);
  return 0;
}
