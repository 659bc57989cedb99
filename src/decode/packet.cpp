#include "decode/packet.hpp"

#include <algorithm>
#include <cstring>

#include "core/wire.hpp"

namespace flowpulse::decode {

namespace {

using core::load_be16;
using core::load_be32;

// A hostile frame could stack tags or labels until the snap length; real networks use two tags and a
// handful of labels. Past these the frame is called malformed rather than walked further.
constexpr int max_vlan_tags = 8;
constexpr int max_mpls_depth = 16;
constexpr int max_ipv6_ext_headers = 16;

void parse_l4(const std::uint8_t* data, PacketInfo& info) noexcept {
  const std::size_t off = info.l4_offset;
  const std::size_t avail = info.ip_end > off ? info.ip_end - off : 0;
  const std::uint8_t* p = data + off;
  switch (info.proto) {
    case ip_proto_tcp: {
      if (avail >= 4) {
        info.src_port = load_be16(p);
        info.dst_port = load_be16(p + 2);
      }
      if (avail >= 14) info.tcp_flags = p[13];
      if (avail < 20) {
        info.truncated = true;
        return;
      }
      const std::size_t doff = static_cast<std::size_t>(p[12] >> 4) * 4;
      if (doff < 20) {
        info.malformed = true;
        return;
      }
      if (avail < doff) {
        info.truncated = true;
        return;
      }
      info.layer = PacketLayer::l4;
      // The header's length (not the capture) says how much payload the segment has.
      const std::size_t wire_end = info.l3_offset + info.ip_length;
      const std::size_t seg_start = off + doff;
      info.payload_wire_len = wire_end > seg_start ? wire_end - seg_start : 0;
      info.payload = data + seg_start;
      info.payload_len = std::min(info.payload_wire_len, info.ip_end - seg_start);
      return;
    }
    case ip_proto_udp: {
      if (avail >= 4) {
        info.src_port = load_be16(p);
        info.dst_port = load_be16(p + 2);
      }
      if (avail < 8) {
        info.truncated = true;
        return;
      }
      const std::size_t udp_len = load_be16(p + 4);
      if (udp_len < 8) {
        info.malformed = true;
        return;
      }
      info.layer = PacketLayer::l4;
      info.payload_wire_len = udp_len - 8;
      info.payload = p + 8;
      info.payload_len = std::min(info.payload_wire_len, avail - 8);
      return;
    }
    case ip_proto_icmp:
    case ip_proto_icmpv6: {
      if (avail >= 1) info.icmp_type = p[0];
      if (avail >= 2) info.icmp_code = p[1];
      // Type, code and checksum: the rest depends on the type.
      if (avail < 4) {
        info.truncated = true;
        return;
      }
      info.layer = PacketLayer::l4;
      return;
    }
    default: return;  // an upper layer this parser does not read; L3 is complete
  }
}

// `off` is where the IPv4 header starts in `data`; `size` is the whole buffer.
void parse_ipv4_at(const std::uint8_t* data, std::size_t size, std::size_t off, PacketInfo& info) noexcept {
  info.etype = ethertype_ipv4;
  info.l3_offset = off;
  const std::size_t avail = size - off;
  const std::uint8_t* p = data + off;
  if (avail < 1) {
    info.truncated = true;
    return;
  }
  if ((p[0] >> 4) != 4) {
    info.malformed = true;
    return;
  }
  if (avail < 20) {
    // Fill what the bytes hold, so a short sample still says as much as it can.
    if (avail >= 2) info.tos = p[1];
    if (avail >= 9) info.ttl = p[8];
    if (avail >= 10) info.proto = p[9];
    if (avail >= 16) info.src_addr.set_v4_bytes(p + 12);
    info.truncated = true;
    return;
  }
  info.ip_version = 4;
  const std::size_t ihl = static_cast<std::size_t>(p[0] & 0x0f) * 4;
  info.tos = p[1];
  info.ip_length = load_be16(p + 2);
  info.fragment_id = load_be16(p + 4);
  const std::uint16_t frag = load_be16(p + 6);
  info.more_fragments = (frag & 0x2000) != 0;
  info.fragment_offset = static_cast<std::uint16_t>((frag & 0x1fff) * 8);
  info.is_fragment = info.more_fragments || info.fragment_offset != 0;
  info.ttl = p[8];
  info.proto = p[9];
  info.src_addr.set_v4_bytes(p + 12);
  info.dst_addr.set_v4_bytes(p + 16);
  if (ihl < 20 || info.ip_length < ihl) {
    info.malformed = true;
    return;
  }
  if (avail < ihl) {
    info.truncated = true;
    return;
  }
  info.layer = PacketLayer::l3;
  info.l4_offset = off + ihl;
  info.ip_end = off + std::min<std::size_t>(avail, info.ip_length);
  // A non-first fragment carries no upper-layer header.
  if (info.fragment_offset != 0) return;
  parse_l4(data, info);
}

void parse_ipv6_at(const std::uint8_t* data, std::size_t size, std::size_t off, PacketInfo& info) noexcept {
  info.etype = ethertype_ipv6;
  info.l3_offset = off;
  const std::size_t avail = size - off;
  const std::uint8_t* p = data + off;
  if (avail < 1) {
    info.truncated = true;
    return;
  }
  if ((p[0] >> 4) != 6) {
    info.malformed = true;
    return;
  }
  if (avail >= 4) {
    const std::uint32_t v = load_be32(p);
    info.tos = static_cast<std::uint8_t>(v >> 20);
    info.flow_label = v & 0xfffff;
  }
  // Until the extension headers are walked, the upper-layer protocol is known only if there are none.
  if (avail >= 7 && !is_ipv6_extension(p[6])) info.proto = p[6];
  if (avail >= 8) info.ttl = p[7];
  if (avail >= 24) info.src_addr.set_v6_bytes(p + 8);
  if (avail < 40) {
    info.truncated = true;
    return;
  }
  info.ip_version = 6;
  info.dst_addr.set_v6_bytes(p + 24);
  const std::size_t payload_len = load_be16(p + 4);
  // Payload length 0 is a jumbogram (its real length is in a hop-by-hop option): the capture bounds it.
  info.ip_length = static_cast<std::uint32_t>(payload_len == 0 ? avail : 40 + payload_len);
  info.ip_end = off + std::min<std::size_t>(avail, info.ip_length);
  info.layer = PacketLayer::l3;

  std::size_t cur = off + 40;
  std::uint8_t next = p[6];
  for (int i = 0; is_ipv6_extension(next); ++i) {
    if (i == max_ipv6_ext_headers) {
      info.malformed = true;
      return;
    }
    const std::size_t left = info.ip_end > cur ? info.ip_end - cur : 0;
    if (left < 8) {
      info.truncated = true;
      return;
    }
    const std::uint8_t* h = data + cur;
    std::size_t len;
    if (next == 44) {
      len = 8;
      const std::uint16_t frag = load_be16(h + 2);
      info.fragment_offset = static_cast<std::uint16_t>(frag & 0xfff8);
      info.more_fragments = (frag & 1) != 0;
      info.is_fragment = info.more_fragments || info.fragment_offset != 0;
      info.fragment_id = load_be32(h + 4);
    } else if (next == 51) {
      len = (static_cast<std::size_t>(h[1]) + 2) * 4;  // AH counts 4-byte words, minus 2
    } else {
      len = (static_cast<std::size_t>(h[1]) + 1) * 8;
    }
    if (left < len) {
      info.truncated = true;
      return;
    }
    next = h[0];
    cur += len;
    if (info.fragment_offset != 0) break;  // a non-first fragment: what follows is not a header
  }
  info.proto = next;
  info.l4_offset = cur;
  if (info.fragment_offset != 0) return;
  parse_l4(data, info);
}

void parse_ip_at(const std::uint8_t* data, std::size_t size, std::size_t off, PacketInfo& info) noexcept {
  if (off >= size) {
    info.truncated = true;
    return;
  }
  switch (data[off] >> 4) {
    case 4: parse_ipv4_at(data, size, off, info); return;
    case 6: parse_ipv6_at(data, size, off, info); return;
    default: info.malformed = true; return;
  }
}

// From an EtherType at `off - 2`, through tags and MPLS, to the network layer.
void parse_ethertype(const std::uint8_t* data, std::size_t size, std::size_t off, std::uint16_t etype,
                     PacketInfo& info) noexcept {
  for (int tags = 0; etype == ethertype_vlan || etype == ethertype_qinq || etype == ethertype_qinq_old;
       ++tags) {
    if (tags == max_vlan_tags) {
      info.malformed = true;
      info.etype = etype;
      return;
    }
    if (size - off < 4) {
      info.etype = etype;
      info.truncated = true;
      return;
    }
    if (info.vlan_count < PacketInfo::max_vlans)
      info.vlan_ids[info.vlan_count] = load_be16(data + off) & 0x0fff;
    ++info.vlan_count;
    etype = load_be16(data + off + 2);
    off += 4;
  }
  info.etype = etype;
  switch (etype) {
    case ethertype_ipv4: parse_ipv4_at(data, size, off, info); return;
    case ethertype_ipv6: parse_ipv6_at(data, size, off, info); return;
    case ethertype_mpls:
    case ethertype_mpls_multicast: {
      for (int depth = 0;; ++depth) {
        if (depth == max_mpls_depth) {
          info.malformed = true;
          return;
        }
        if (size - off < 4) {
          info.truncated = true;
          return;
        }
        const std::uint32_t entry = load_be32(data + off);
        if (info.mpls_count < FlowRecord::max_mpls_labels) info.mpls_labels[info.mpls_count++] = entry >> 12;
        off += 4;
        if (entry & 0x100) break;  // bottom of stack
      }
      // MPLS does not say what it carries; IPv4 and IPv6 say so in their first nibble.
      if (off >= size) {
        info.truncated = true;
        return;
      }
      const int version = data[off] >> 4;
      if (version == 4) {
        parse_ipv4_at(data, size, off, info);
      } else if (version == 6) {
        parse_ipv6_at(data, size, off, info);
      }
      // Anything else (a pseudowire's Ethernet, say) is left at L2.
      return;
    }
    default: return;  // ARP, LLDP, an 802.3 length field, ...: a frame with no IP layer
  }
}

}  // namespace

bool is_ipv6_extension(std::uint8_t next) noexcept {
  switch (next) {
    case 0:    // hop-by-hop options
    case 43:   // routing
    case 44:   // fragment
    case 51:   // authentication header
    case 60:   // destination options
    case 135:  // mobility
    case 139:  // host identity protocol
    case 140:  // shim6
      return true;
    default: return false;
  }
}

bool link_type_supported(std::uint32_t link_type) noexcept {
  switch (static_cast<LinkType>(link_type)) {
    case LinkType::null:
    case LinkType::ethernet:
    case LinkType::raw_dlt:
    case LinkType::raw_dlt_bsd:
    case LinkType::raw:
    case LinkType::loop:
    case LinkType::linux_sll:
    case LinkType::ipv4:
    case LinkType::ipv6:
    case LinkType::linux_sll2: return true;
  }
  return false;
}

PacketInfo parse_ethernet(const std::uint8_t* data, std::size_t size) noexcept {
  PacketInfo info;
  if (size < 14) {
    if (size >= 6) {
      std::memcpy(info.dst_mac.data(), data, 6);
      info.has_dst_mac = true;
    }
    if (size >= 12) {
      std::memcpy(info.src_mac.data(), data + 6, 6);
      info.has_src_mac = true;
    }
    info.truncated = true;
    return info;
  }
  std::memcpy(info.dst_mac.data(), data, 6);
  std::memcpy(info.src_mac.data(), data + 6, 6);
  info.has_dst_mac = info.has_src_mac = true;
  info.layer = PacketLayer::l2;
  parse_ethertype(data, size, 14, load_be16(data + 12), info);
  return info;
}

PacketInfo parse_ipv4(const std::uint8_t* data, std::size_t size) noexcept {
  PacketInfo info;
  parse_ipv4_at(data, size, 0, info);
  return info;
}

PacketInfo parse_ipv6(const std::uint8_t* data, std::size_t size) noexcept {
  PacketInfo info;
  parse_ipv6_at(data, size, 0, info);
  return info;
}

PacketInfo parse_ip(const std::uint8_t* data, std::size_t size) noexcept {
  PacketInfo info;
  parse_ip_at(data, size, 0, info);
  return info;
}

PacketInfo parse_link(std::uint32_t link_type, const std::uint8_t* data, std::size_t size) noexcept {
  switch (static_cast<LinkType>(link_type)) {
    case LinkType::ethernet: return parse_ethernet(data, size);
    case LinkType::raw:
    case LinkType::raw_dlt:
    case LinkType::raw_dlt_bsd: return parse_ip(data, size);
    case LinkType::ipv4: return parse_ipv4(data, size);
    case LinkType::ipv6: return parse_ipv6(data, size);
    case LinkType::null:
    case LinkType::loop: {
      // The 4-byte family is in the capturing host's byte order (null) and its AF_INET6 value differs
      // between systems (10, 24, 28, 30): the IP version nibble is the reliable guide.
      PacketInfo info;
      if (size < 4) {
        info.truncated = true;
        return info;
      }
      info.layer = PacketLayer::l2;
      parse_ip_at(data, size, 4, info);
      return info;
    }
    case LinkType::linux_sll: {
      // packet type(2) ARPHRD(2) address length(2) address(8) protocol(2)
      PacketInfo info;
      if (size < 16) {
        info.truncated = true;
        return info;
      }
      info.layer = PacketLayer::l2;
      if (load_be16(data + 2) == 1 && load_be16(data + 4) == 6) {  // ARPHRD_ETHER: the source MAC
        std::memcpy(info.src_mac.data(), data + 6, 6);
        info.has_src_mac = true;
      }
      parse_ethertype(data, size, 16, load_be16(data + 14), info);
      return info;
    }
    case LinkType::linux_sll2: {
      // protocol(2) reserved(2) ifindex(4) ARPHRD(2) packet type(1) address length(1) address(8)
      PacketInfo info;
      if (size < 20) {
        info.truncated = true;
        return info;
      }
      info.layer = PacketLayer::l2;
      if (load_be16(data + 8) == 1 && data[11] == 6) {
        std::memcpy(info.src_mac.data(), data + 12, 6);
        info.has_src_mac = true;
      }
      parse_ethertype(data, size, 20, load_be16(data), info);
      return info;
    }
  }
  PacketInfo info;
  info.malformed = true;
  return info;
}

void fill_flow_record(const PacketInfo& info, FlowRecord& r) noexcept {
  if (info.has_src_mac) r.src_mac = info.src_mac;
  if (info.has_dst_mac) r.dst_mac = info.dst_mac;
  if (info.vlan_count != 0) {
    r.vlan_id = info.vlan_ids[0];
    if (r.src_vlan == 0) r.src_vlan = info.vlan_ids[0];
  }
  if (info.etype != 0) r.etype = info.etype;
  if (!info.src_addr.empty()) r.src_addr = info.src_addr;
  if (!info.dst_addr.empty()) r.dst_addr = info.dst_addr;
  if (info.etype == ethertype_ipv4 || info.etype == ethertype_ipv6) {
    r.proto = info.proto;
    r.ip_tos = info.tos;
    r.ip_ttl = info.ttl;
    r.ipv6_flow_label = info.flow_label;
    r.fragment_id = info.fragment_id;
    r.fragment_offset = info.fragment_offset;
    r.src_port = info.src_port;
    r.dst_port = info.dst_port;
    r.tcp_flags = info.tcp_flags;
    r.icmp_type = info.icmp_type;
    r.icmp_code = info.icmp_code;
  }
  r.mpls_count = info.mpls_count;
  r.mpls_labels = info.mpls_labels;
}

}  // namespace flowpulse::decode
