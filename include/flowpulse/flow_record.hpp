// The normalized flow record that every source maps into: NetFlow v5, NetFlow v9, IPFIX, sFlow v5
// and raw-packet metering. It is a plain value type (no heap, trivially copyable) so decoders can
// fill it on the hot path, and it is at least as complete as goflow2's flow message.
//
// Which wire field fills each member, per protocol, is documented in docs/flow-record.md.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace flowpulse {

// An IPv4 or IPv6 address. IPv4 is stored IPv4-mapped (::ffff:a.b.c.d) so one comparison and one
// hash serve both families; `family` says which one the wire carried (0 = absent).
struct IpAddress {
  std::array<std::uint8_t, 16> bytes{};
  std::uint8_t family = 0;  // 0 none, 4, 6

  static IpAddress v4(std::uint32_t host_order) noexcept {
    IpAddress a;
    a.bytes[10] = 0xff;
    a.bytes[11] = 0xff;
    a.bytes[12] = static_cast<std::uint8_t>(host_order >> 24);
    a.bytes[13] = static_cast<std::uint8_t>(host_order >> 16);
    a.bytes[14] = static_cast<std::uint8_t>(host_order >> 8);
    a.bytes[15] = static_cast<std::uint8_t>(host_order);
    a.family = 4;
    return a;
  }
  // `network_order` points at 4 bytes as they stand on the wire.
  static IpAddress v4_bytes(const std::uint8_t* network_order) noexcept {
    IpAddress a;
    a.set_v4_bytes(network_order);
    return a;
  }
  static IpAddress v6_bytes(const std::uint8_t* network_order) noexcept {
    IpAddress a;
    a.set_v6_bytes(network_order);
    return a;
  }
  // The same, in place. Decoders fill records with these: assigning a temporary built by narrow
  // stores copies it with one wide load, which the CPU cannot forward from the stores (a stall of
  // some 10-15 cycles, per address).
  // Written as two 8-byte words, so a reader that loads the address a word at a time (the hashes
  // of the flow keys) gets it forwarded from the stores.
  void set_v4_bytes(const std::uint8_t* network_order) noexcept {
    std::uint8_t v[4];
    std::memcpy(v, network_order, 4);  // first: `network_order` may point into *this
    std::uint8_t high[8] = {0, 0, 0xff, 0xff, v[0], v[1], v[2], v[3]};
    std::uint64_t words[2] = {0, 0};
    std::memcpy(&words[1], high, 8);
    std::memcpy(bytes.data(), words, 16);
    family = 4;
  }
  void set_v6_bytes(const std::uint8_t* network_order) noexcept {
    std::memmove(bytes.data(), network_order, 16);
    family = 6;
  }
  bool empty() const noexcept { return family == 0; }
  bool is_v4() const noexcept { return family == 4; }
  std::uint32_t v4_host_order() const noexcept {
    return (std::uint32_t{bytes[12]} << 24) | (std::uint32_t{bytes[13]} << 16) |
           (std::uint32_t{bytes[14]} << 8) | std::uint32_t{bytes[15]};
  }
  friend bool operator==(const IpAddress&, const IpAddress&) = default;
};

enum class FlowType : std::uint8_t {
  unknown = 0,
  netflow1,
  netflow5,
  netflow7,
  netflow9,
  ipfix,
  sflow5,
  raw
};

enum class FlowDirection : std::uint8_t { unknown = 0, ingress = 1, egress = 2 };

struct FlowRecord {
  static constexpr int max_mpls_labels = 4;

  FlowType type = FlowType::unknown;
  FlowDirection direction = FlowDirection::unknown;

  // Times in nanoseconds since the Unix epoch (0 = not carried).
  std::uint64_t time_received_ns = 0;
  std::uint64_t time_flow_start_ns = 0;
  std::uint64_t time_flow_end_ns = 0;

  std::uint32_t sequence_number = 0;
  std::uint32_t sampling_rate = 0;       // 1-in-N; 0 = unknown (treated as 1)
  std::uint32_t observation_domain = 0;  // IPFIX domain, NF9 source id, sFlow source id, NF5 engine
  IpAddress sampler_address;             // the exporter (agent) that sent it

  // Counters as scaled by the sampling rate (what the network carried), and as the wire gave them.
  std::uint64_t bytes = 0;
  std::uint64_t packets = 0;
  std::uint64_t raw_bytes = 0;
  std::uint64_t raw_packets = 0;
  // Flows this record stands for: 1 for an exported flow record or sample; for metered packets
  // (type raw) 1 on the first packet of a flow (or the first after it idled out), else 0.
  std::uint32_t flows = 1;

  IpAddress src_addr;
  IpAddress dst_addr;
  IpAddress next_hop;
  IpAddress bgp_next_hop;

  std::uint16_t etype = 0;  // EtherType: 0x0800 IPv4, 0x86dd IPv6
  std::uint8_t proto = 0;   // IP protocol number
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;

  std::uint32_t in_if = 0;
  std::uint32_t out_if = 0;

  std::array<std::uint8_t, 6> src_mac{};
  std::array<std::uint8_t, 6> dst_mac{};
  std::uint16_t src_vlan = 0;
  std::uint16_t dst_vlan = 0;
  std::uint16_t vlan_id = 0;  // outer 802.1Q tag seen in a sampled header

  std::uint8_t ip_tos = 0;
  std::uint8_t ip_ttl = 0;
  std::uint8_t tcp_flags = 0;
  std::uint8_t icmp_type = 0;
  std::uint8_t icmp_code = 0;
  std::uint8_t forwarding_status = 0;
  std::uint32_t ipv6_flow_label = 0;
  std::uint32_t fragment_id = 0;
  std::uint16_t fragment_offset = 0;  // in bytes

  std::uint32_t src_as = 0;
  std::uint32_t dst_as = 0;
  std::uint32_t next_hop_as = 0;
  std::uint8_t src_prefix_len = 0;
  std::uint8_t dst_prefix_len = 0;

  std::uint8_t mpls_count = 0;
  std::array<std::uint32_t, max_mpls_labels> mpls_labels{};  // 20-bit label values, top first
};

static_assert(std::is_trivially_copyable_v<FlowRecord>);

// sFlow counter sample, generic interface counters (sFlow v5 counter record 0:1). Exported as
// interface metrics, not aggregated as flows.
struct InterfaceCounters {
  std::uint64_t time_received_ns = 0;
  IpAddress sampler_address;
  std::uint32_t observation_domain = 0;  // sFlow source id
  std::uint32_t sequence_number = 0;

  std::uint32_t if_index = 0;
  std::uint32_t if_type = 0;
  std::uint64_t if_speed = 0;
  std::uint32_t if_direction = 0;
  std::uint32_t if_status = 0;
  std::uint64_t in_octets = 0;
  std::uint32_t in_ucast_pkts = 0;
  std::uint32_t in_multicast_pkts = 0;
  std::uint32_t in_broadcast_pkts = 0;
  std::uint32_t in_discards = 0;
  std::uint32_t in_errors = 0;
  std::uint32_t in_unknown_protos = 0;
  std::uint64_t out_octets = 0;
  std::uint32_t out_ucast_pkts = 0;
  std::uint32_t out_multicast_pkts = 0;
  std::uint32_t out_broadcast_pkts = 0;
  std::uint32_t out_discards = 0;
  std::uint32_t out_errors = 0;
  std::uint32_t promiscuous_mode = 0;
};

static_assert(std::is_trivially_copyable_v<InterfaceCounters>);

}  // namespace flowpulse
