#include "decode/ipfix_fields.hpp"

#include <array>

namespace flowpulse::decode::ipfix {

namespace {

constexpr FieldMapping m(std::uint16_t e, Kind k, Slot s = Slot::none, std::uint8_t prio = 0,
                         std::uint8_t aux = 0) {
  return {e, k, s, prio, aux};
}

// Priorities: the delta counter before the total one, the pre-NAT/ingress value before the
// post/egress one, the most precise absolute time before the relative ones.
constexpr std::array mappings{
    m(1, Kind::bytes, Slot::bytes, 0),                       // octetDeltaCount / IN_BYTES
    m(2, Kind::packets, Slot::packets, 0),                   // packetDeltaCount / IN_PKTS
    m(4, Kind::proto),                                       // protocolIdentifier
    m(5, Kind::tos),                                         // ipClassOfService
    m(6, Kind::tcp_flags),                                   // tcpControlBits
    m(7, Kind::src_port, Slot::src_port, 0),                 // sourceTransportPort
    m(8, Kind::src_v4),                                      // sourceIPv4Address
    m(9, Kind::src_mask),                                    // sourceIPv4PrefixLength
    m(10, Kind::in_if, Slot::in_if, 0),                      // ingressInterface
    m(11, Kind::dst_port, Slot::dst_port, 0),                // destinationTransportPort
    m(12, Kind::dst_v4),                                     // destinationIPv4Address
    m(13, Kind::dst_mask),                                   // destinationIPv4PrefixLength
    m(14, Kind::out_if, Slot::out_if, 0),                    // egressInterface
    m(15, Kind::next_hop_v4),                                // ipNextHopIPv4Address
    m(16, Kind::src_as),                                     // bgpSourceAsNumber
    m(17, Kind::dst_as),                                     // bgpDestinationAsNumber
    m(18, Kind::bgp_next_hop_v4),                            // bgpNextHopIPv4Address
    m(21, Kind::end_uptime_ms, Slot::end, 5),                // flowEndSysUpTime / LAST_SWITCHED
    m(22, Kind::start_uptime_ms, Slot::start, 5),            // flowStartSysUpTime / FIRST_SWITCHED
    m(23, Kind::bytes, Slot::bytes, 2),                      // postOctetDeltaCount / OUT_BYTES
    m(24, Kind::packets, Slot::packets, 2),                  // postPacketDeltaCount / OUT_PKTS
    m(27, Kind::src_v6),                                     // sourceIPv6Address
    m(28, Kind::dst_v6),                                     // destinationIPv6Address
    m(29, Kind::src_mask),                                   // sourceIPv6PrefixLength
    m(30, Kind::dst_mask),                                   // destinationIPv6PrefixLength
    m(31, Kind::flow_label),                                 // flowLabelIPv6
    m(32, Kind::icmp_type_code),                             // icmpTypeCodeIPv4
    m(34, Kind::sampling_interval, Slot::sampling_rate, 0),  // samplingInterval
    m(48, Kind::sampler_id, Slot::sampler_id, 0),            // samplerId / FLOW_SAMPLER_ID
    m(50, Kind::sampling_interval, Slot::sampling_rate, 1),  // samplerRandomInterval
    m(52, Kind::ttl, Slot::ttl, 1),                          // minimumTTL
    m(54, Kind::fragment_id),                                // fragmentIdentification
    m(56, Kind::src_mac, Slot::src_mac, 0),                  // sourceMacAddress / IN_SRC_MAC
    m(57, Kind::dst_mac, Slot::dst_mac, 1),                  // postDestinationMacAddress / OUT_DST_MAC
    m(58, Kind::src_vlan, Slot::src_vlan, 0),                // vlanId / SRC_VLAN
    m(58, Kind::vlan_id, Slot::vlan_id, 1),
    m(59, Kind::dst_vlan, Slot::dst_vlan, 0),   // postVlanId / DST_VLAN
    m(60, Kind::ip_version, Slot::etype, 1),    // ipVersion
    m(61, Kind::direction),                     // flowDirection
    m(62, Kind::next_hop_v6),                   // ipNextHopIPv6Address
    m(63, Kind::bgp_next_hop_v6),               // bgpNextHopIPv6Address
    m(70, Kind::mpls_label, Slot::none, 0, 0),  // mplsTopLabelStackSection
    m(71, Kind::mpls_label, Slot::none, 0, 1),  // mplsLabelStackSection2
    m(72, Kind::mpls_label, Slot::none, 0, 2),
    m(73, Kind::mpls_label, Slot::none, 0, 3),
    m(80, Kind::dst_mac, Slot::dst_mac, 0),        // destinationMacAddress / IN_DST_MAC
    m(81, Kind::src_mac, Slot::src_mac, 1),        // postSourceMacAddress / OUT_SRC_MAC
    m(85, Kind::bytes, Slot::bytes, 1),            // octetTotalCount
    m(86, Kind::packets, Slot::packets, 1),        // packetTotalCount
    m(88, Kind::fragment_offset),                  // fragmentOffset
    m(89, Kind::forwarding_status),                // forwardingStatus
    m(128, Kind::next_hop_as),                     // bgpNextAdjacentAsNumber
    m(139, Kind::icmp_type_code),                  // icmpTypeCodeIPv6
    m(150, Kind::start_s, Slot::start, 1),         // flowStartSeconds
    m(151, Kind::end_s, Slot::end, 1),             // flowEndSeconds
    m(152, Kind::start_ms, Slot::start, 0),        // flowStartMilliseconds
    m(153, Kind::end_ms, Slot::end, 0),            // flowEndMilliseconds
    m(154, Kind::start_ntp, Slot::start, 2),       // flowStartMicroseconds
    m(155, Kind::end_ntp, Slot::end, 2),           // flowEndMicroseconds
    m(156, Kind::start_ntp, Slot::start, 3),       // flowStartNanoseconds
    m(157, Kind::end_ntp, Slot::end, 3),           // flowEndNanoseconds
    m(158, Kind::start_delta_us, Slot::start, 4),  // flowStartDeltaMicroseconds
    m(159, Kind::end_delta_us, Slot::end, 4),      // flowEndDeltaMicroseconds
    m(160, Kind::sys_init_ms),                     // systemInitTimeMilliseconds
    m(171, Kind::bytes, Slot::bytes, 3),           // postOctetTotalCount
    m(172, Kind::packets, Slot::packets, 3),       // postPacketTotalCount
    m(176, Kind::icmp_type),                       // icmpTypeIPv4
    m(177, Kind::icmp_code),                       // icmpCodeIPv4
    m(178, Kind::icmp_type),                       // icmpTypeIPv6
    m(179, Kind::icmp_code),                       // icmpCodeIPv6
    m(180, Kind::src_port, Slot::src_port, 1),     // udpSourcePort
    m(181, Kind::dst_port, Slot::dst_port, 1),     // udpDestinationPort
    m(182, Kind::src_port, Slot::src_port, 2),     // tcpSourcePort
    m(183, Kind::dst_port, Slot::dst_port, 2),     // tcpDestinationPort
    m(192, Kind::ttl, Slot::ttl, 0),               // ipTTL
    m(231, Kind::bytes, Slot::bytes, 4),           // initiatorOctets (ASA NF_F_FWD_FLOW_DELTA_BYTES)
    m(243, Kind::vlan_id, Slot::vlan_id, 0),       // dot1qVlanId
    m(243, Kind::src_vlan, Slot::src_vlan, 1),
    m(252, Kind::in_if, Slot::in_if, 1),                    // ingressPhysicalInterface
    m(253, Kind::out_if, Slot::out_if, 1),                  // egressPhysicalInterface
    m(254, Kind::dst_vlan, Slot::dst_vlan, 1),              // postDot1qVlanId
    m(256, Kind::etype, Slot::etype, 0),                    // ethernetType
    m(298, Kind::packets, Slot::packets, 4),                // initiatorPackets
    m(302, Kind::sampler_id, Slot::sampler_id, 1),          // selectorId
    m(305, Kind::packet_interval, Slot::sampling_rate, 2),  // samplingPacketInterval
    m(306, Kind::packet_space),                             // samplingPacketSpace
};

constexpr bool sorted() {
  for (std::size_t i = 1; i < mappings.size(); ++i)
    if (mappings[i - 1].element > mappings[i].element) return false;
  return true;
}
static_assert(sorted(), "field_mappings must stay sorted by element");

}  // namespace

std::span<const FieldMapping> field_mappings() noexcept { return mappings; }

}  // namespace flowpulse::decode::ipfix
