// Which NetFlow v9 / IPFIX information elements this project maps, and into what. The template
// compiler (template_decoder.cpp) looks each template field up here once, when the template
// arrives; the per-record loop only runs the resulting ops. Elements not listed are skipped by
// length. Where several elements can fill one member (octetDeltaCount or octetTotalCount, a
// 64-bit or a 32-bit time), `slot` names the member and `priority` picks one per template, so a
// record never sums or overwrites two variants.
//
// NetFlow v9 field types 1..127 share their numbers and meaning with IPFIX; above 127 the ones
// listed here are the IPFIX ones that NetFlow v9 exporters (Cisco ASA, NBAR) also use.
#pragma once

#include <cstdint>
#include <span>

namespace flowpulse::decode::ipfix {

// What an op does with its field's bytes.
enum class Kind : std::uint8_t {
  bytes,
  packets,
  proto,
  tos,
  tcp_flags,
  src_port,
  dst_port,
  src_v4,
  dst_v4,
  src_v6,
  dst_v6,
  next_hop_v4,
  next_hop_v6,
  bgp_next_hop_v4,
  bgp_next_hop_v6,
  in_if,
  out_if,
  src_as,
  dst_as,
  next_hop_as,
  src_mask,
  dst_mask,
  src_mac,
  dst_mac,
  src_vlan,
  dst_vlan,
  vlan_id,
  icmp_type_code,
  icmp_type,
  icmp_code,
  ttl,
  flow_label,
  fragment_id,
  fragment_offset,
  direction,
  mpls_label,  // aux = position in the stack (0 = top)
  forwarding_status,
  ip_version,
  etype,
  // Times; resolved per record after all ops ran (they may need another field of the record).
  start_uptime_ms,  // NF9 FIRST_SWITCHED / IPFIX flowStartSysUpTime
  end_uptime_ms,
  start_s,
  end_s,
  start_ms,
  end_ms,
  start_ntp,  // dateTimeMicroseconds / dateTimeNanoseconds (NTP 64-bit format)
  end_ntp,
  start_delta_us,  // flowStartDeltaMicroseconds: before the export time
  end_delta_us,
  sys_init_ms,  // systemInitTimeMilliseconds
  // Sampling, from data records or from options data.
  sampler_id,
  sampling_interval,
  packet_interval,
  packet_space,
};

// Members competing for one value: one op per slot and template (lowest priority wins).
enum class Slot : std::uint8_t {
  none,  // no competition: every matching field gets an op
  bytes,
  packets,
  src_port,
  dst_port,
  in_if,
  out_if,
  src_mac,
  dst_mac,
  src_vlan,
  dst_vlan,
  vlan_id,
  ttl,
  etype,
  start,
  end,
  sampler_id,
  sampling_rate,
  count_
};

struct FieldMapping {
  std::uint16_t element;  // IANA IPFIX element id / NetFlow v9 field type
  Kind kind;
  Slot slot;
  std::uint8_t priority;
  std::uint8_t aux;
};

// The mapping table, sorted by element.
std::span<const FieldMapping> field_mappings() noexcept;

// Bytes the member needs exactly (addresses, MACs); 0 = an unsigned integer of 1..8 bytes
// (reduced-size encoding), longer ones keep their low 8 bytes.
constexpr std::uint16_t required_length(Kind k) noexcept {
  switch (k) {
    case Kind::src_v4:
    case Kind::dst_v4:
    case Kind::next_hop_v4:
    case Kind::bgp_next_hop_v4: return 4;
    case Kind::src_v6:
    case Kind::dst_v6:
    case Kind::next_hop_v6:
    case Kind::bgp_next_hop_v6: return 16;
    case Kind::src_mac:
    case Kind::dst_mac: return 6;
    case Kind::start_ntp:
    case Kind::end_ntp: return 8;
    default: return 0;
  }
}

}  // namespace flowpulse::decode::ipfix
