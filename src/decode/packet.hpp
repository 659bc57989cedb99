// The L2–L4 packet parser: Ethernet II, 802.1Q / 802.1ad / QinQ tags, MPLS label stacks, IPv4 (with
// options and fragments), IPv6 (with hop-by-hop, routing, fragment, destination options and AH
// extension headers), TCP, UDP, ICMP and ICMPv6. It reads from a (const uint8_t*, size_t) view that
// may be cut short anywhere (sFlow samples the first 128 bytes, pcap has a snap length): every length
// is checked, what the bytes hold is filled in, and `truncated` says the capture ended inside a
// header. Entry points start at Ethernet, at IPv4/IPv6 (sFlow header_protocol 11/12, pcap
// LINKTYPE_RAW) or at a pcap link type (Linux cooked SLL/SLL2, BSD loopback). No allocation, no
// exception: it runs per packet on the hot path.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "flowpulse/flow_record.hpp"

namespace flowpulse::decode {

inline constexpr std::uint16_t ethertype_ipv4 = 0x0800;
inline constexpr std::uint16_t ethertype_ipv6 = 0x86dd;
inline constexpr std::uint16_t ethertype_vlan = 0x8100;
inline constexpr std::uint16_t ethertype_qinq = 0x88a8;
inline constexpr std::uint16_t ethertype_qinq_old = 0x9100;
inline constexpr std::uint16_t ethertype_mpls = 0x8847;
inline constexpr std::uint16_t ethertype_mpls_multicast = 0x8848;

inline constexpr std::uint8_t ip_proto_icmp = 1;
inline constexpr std::uint8_t ip_proto_tcp = 6;
inline constexpr std::uint8_t ip_proto_udp = 17;
inline constexpr std::uint8_t ip_proto_icmpv6 = 58;

// The deepest layer whose header was read completely.
enum class PacketLayer : std::uint8_t { none, l2, l3, l4 };

struct PacketInfo {
  static constexpr int max_vlans = 2;

  // L2. Offsets below are from the start of the buffer given to the parser.
  bool has_src_mac = false;
  bool has_dst_mac = false;
  std::array<std::uint8_t, 6> dst_mac{};
  std::array<std::uint8_t, 6> src_mac{};
  std::uint8_t vlan_count = 0;  // tags seen; the first max_vlans are kept, outer first
  std::array<std::uint16_t, max_vlans> vlan_ids{};
  std::uint8_t mpls_count = 0;  // labels kept (a deeper stack is walked but not kept)
  std::array<std::uint32_t, FlowRecord::max_mpls_labels> mpls_labels{};  // 20-bit values, top first
  std::uint16_t etype = 0;  // EtherType of the network layer, after tags and MPLS (0x0800 / 0x86dd / other)

  // L3
  std::uint8_t ip_version = 0;  // 0 = no IP header read, 4, 6
  std::size_t l3_offset = 0;
  IpAddress src_addr;
  IpAddress dst_addr;
  std::uint8_t tos = 0;  // IPv4 TOS / IPv6 traffic class
  std::uint8_t ttl = 0;  // IPv4 TTL / IPv6 hop limit
  std::uint32_t flow_label = 0;
  std::uint32_t ip_length =
      0;  // the IP packet's length by its header (IPv4 total length, IPv6 40 + payload length)
  std::uint8_t proto = 0;    // upper-layer protocol (after IPv6 extension headers)
  bool is_fragment = false;  // more-fragments set or a non-zero offset
  bool more_fragments = false;
  std::uint16_t fragment_offset = 0;  // in bytes
  std::uint32_t fragment_id = 0;      // IPv4 16-bit id, IPv6 32-bit id

  // L4. l4_offset is where the upper-layer header starts (after IPv4 options and IPv6 extension
  // headers); ip_end is where the IP packet ends in the buffer (its header length or the capture,
  // whichever is shorter: Ethernet padding is not payload).
  std::size_t l4_offset = 0;
  std::size_t ip_end = 0;
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
  std::uint8_t tcp_flags = 0;
  std::uint8_t icmp_type = 0;
  std::uint8_t icmp_code = 0;
  // TCP/UDP payload as captured, and the length its headers say it has.
  const std::uint8_t* payload = nullptr;
  std::size_t payload_len = 0;
  std::size_t payload_wire_len = 0;

  PacketLayer layer = PacketLayer::none;
  bool truncated = false;  // the buffer ended inside a header this parser expected to read
  bool malformed = false;  // a version or length field that cannot be right

  bool first_fragment() const noexcept { return is_fragment && fragment_offset == 0; }
  // The full UDP/TCP payload is in the buffer (not cut short, not a fragment).
  bool payload_complete() const noexcept {
    return layer == PacketLayer::l4 && !is_fragment && payload != nullptr && payload_len == payload_wire_len;
  }
};

// Link types of pcap files (the LINKTYPE_/DLT_ numbers pcap_datalink() returns), so this header
// needs no pcap.h.
enum class LinkType : std::uint32_t {
  null = 0,  // BSD loopback: 4-byte host-order address family
  ethernet = 1,
  raw_dlt = 12,      // DLT_RAW as libpcap reports LINKTYPE_RAW on Linux
  raw_dlt_bsd = 14,  // DLT_RAW on OpenBSD
  raw = 101,         // LINKTYPE_RAW: IPv4 or IPv6 by the first nibble
  loop = 108,        // OpenBSD loopback: 4-byte network-order address family
  linux_sll = 113,
  ipv4 = 228,
  ipv6 = 229,
  linux_sll2 = 276,
};

// Whether an IPv6 Next Header value is an extension header (hop-by-hop, routing, fragment, AH,
// destination options, mobility, HIP, shim6) rather than an upper layer.
bool is_ipv6_extension(std::uint8_t next) noexcept;

// Whether parse_link knows the link type.
bool link_type_supported(std::uint32_t link_type) noexcept;

PacketInfo parse_ethernet(const std::uint8_t* data, std::size_t size) noexcept;
PacketInfo parse_ipv4(const std::uint8_t* data, std::size_t size) noexcept;
PacketInfo parse_ipv6(const std::uint8_t* data, std::size_t size) noexcept;
// IPv4 or IPv6 by the version nibble (LINKTYPE_RAW, the inside of MPLS).
PacketInfo parse_ip(const std::uint8_t* data, std::size_t size) noexcept;
// A packet of a pcap link type; an unknown link type gives layer none and malformed.
PacketInfo parse_link(std::uint32_t link_type, const std::uint8_t* data, std::size_t size) noexcept;

// Copies the L2–L4 members the packet carried into `record`: MACs, VLAN (vlan_id = outer tag; also
// src_vlan when the caller has not set one), etype, addresses, proto, ports, TOS, TTL, TCP flags,
// ICMP type/code, IPv6 flow label, fragment id/offset and MPLS labels. Counters, times and
// interfaces are the caller's.
void fill_flow_record(const PacketInfo& info, FlowRecord& record) noexcept;

}  // namespace flowpulse::decode
