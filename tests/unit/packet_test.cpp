// The L2–L4 packet parser: frames are built here byte by byte, so every expected value is one the
// test itself put into the frame. Each frame is also parsed cut short at every length, which must
// never read past the cut (ASan builds check that), must say `truncated` exactly while a header is
// incomplete, and must never report a value the full frame does not hold.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "bytes.hpp"
#include "decode/packet.hpp"

namespace flowpulse::decode {
namespace {

using test::append;
using test::Bytes;
using test::put16;
using test::put32;
using test::put8;

constexpr std::uint8_t mac_a[6] = {0x02, 0x00, 0x00, 0xaa, 0xbb, 0x01};
constexpr std::uint8_t mac_b[6] = {0x02, 0x00, 0x00, 0xcc, 0xdd, 0x02};

Bytes ethernet(std::uint16_t etype) {
  Bytes b(mac_b, mac_b + 6);  // destination first
  b.insert(b.end(), mac_a, mac_a + 6);
  put16(b, etype);
  return b;
}

// The tag's own TPID is the EtherType written before it; this writes TCI and the next EtherType.
void vlan_tag(Bytes& b, unsigned pcp, unsigned vid, std::uint16_t next_etype) {
  put16(b, (pcp << 13) | vid);
  put16(b, next_etype);
}

struct Ipv4Options {
  std::uint8_t tos = 0;
  std::uint8_t ttl = 64;
  std::uint16_t id = 0;
  std::uint16_t frag = 0;  // flags and offset field as on the wire
  Bytes options;           // a multiple of 4 bytes
};

Bytes ipv4(std::uint8_t proto, std::uint32_t src, std::uint32_t dst, const Bytes& payload,
           const Ipv4Options& o = {}) {
  Bytes b;
  const unsigned ihl = 5 + static_cast<unsigned>(o.options.size() / 4);
  put8(b, 0x40 | ihl);
  put8(b, o.tos);
  put16(b, ihl * 4 + static_cast<unsigned>(payload.size()));
  put16(b, o.id);
  put16(b, o.frag);
  put8(b, o.ttl);
  put8(b, proto);
  put16(b, 0);  // checksum: not verified by the parser
  put32(b, src);
  put32(b, dst);
  append(b, o.options);
  append(b, payload);
  return b;
}

Bytes v6addr(std::uint8_t last) {
  Bytes a = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, last};
  return a;
}

// `next` is the first next-header value; `rest` holds the extension headers and the upper layer.
Bytes ipv6(std::uint8_t next, std::uint8_t tclass, std::uint32_t flow_label, std::uint8_t hop_limit,
           const Bytes& rest) {
  Bytes b;
  put32(b, (6u << 28) | (std::uint32_t{tclass} << 20) | flow_label);
  put16(b, static_cast<unsigned>(rest.size()));
  put8(b, next);
  put8(b, hop_limit);
  append(b, v6addr(1));
  append(b, v6addr(2));
  append(b, rest);
  return b;
}

Bytes udp(std::uint16_t sport, std::uint16_t dport, const Bytes& payload) {
  Bytes b;
  put16(b, sport);
  put16(b, dport);
  put16(b, 8 + static_cast<unsigned>(payload.size()));
  put16(b, 0);
  append(b, payload);
  return b;
}

Bytes tcp(std::uint16_t sport, std::uint16_t dport, std::uint8_t flags, const Bytes& payload,
          unsigned option_words = 0) {
  Bytes b;
  put16(b, sport);
  put16(b, dport);
  put32(b, 1000);  // seq
  put32(b, 0);     // ack
  put8(b, (5 + option_words) << 4);
  put8(b, flags);
  put16(b, 65535);
  put16(b, 0);
  put16(b, 0);
  for (unsigned i = 0; i < option_words; ++i) put32(b, 0x01010101);  // NOPs
  append(b, payload);
  return b;
}

Bytes icmp(std::uint8_t type, std::uint8_t code) {
  Bytes b;
  put8(b, type);
  put8(b, code);
  put16(b, 0);
  put32(b, 0x00010002);  // id, sequence
  return b;
}

// An IPv6 extension header of `len8` 8-byte units beyond the first.
Bytes ext_header(std::uint8_t next, unsigned len8) {
  Bytes b;
  put8(b, next);
  put8(b, len8);
  b.resize((len8 + 1) * 8, 0);
  return b;
}

Bytes payload_of(std::size_t n) {
  Bytes p(n);
  for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<std::uint8_t>(i * 7 + 1);
  return p;
}

// Copies `n` bytes to a heap block of exactly that size, so a read past the cut is an ASan error.
std::unique_ptr<std::uint8_t[]> cut(const Bytes& b, std::size_t n) {
  auto p = std::make_unique<std::uint8_t[]>(n == 0 ? 1 : n);
  if (n != 0) std::memcpy(p.get(), b.data(), n);
  return p;
}

using Parser = PacketInfo (*)(const std::uint8_t*, std::size_t) noexcept;

// Parses every prefix of `frame`. `headers_end` is where the last header the parser reads ends:
// shorter prefixes must say truncated, longer ones must not, and must match the full parse in every
// header field. No prefix may report a value the full frame does not hold.
void check_every_cut(const Bytes& frame, Parser parse, std::size_t headers_end) {
  const PacketInfo full = parse(frame.data(), frame.size());
  ASSERT_FALSE(full.truncated);
  ASSERT_FALSE(full.malformed);
  ASSERT_LE(headers_end, frame.size());
  for (std::size_t n = 0; n < frame.size(); ++n) {
    SCOPED_TRACE(n);
    auto buf = cut(frame, n);
    const PacketInfo p = parse(buf.get(), n);
    EXPECT_FALSE(p.malformed);
    EXPECT_EQ(p.truncated, n < headers_end);
    EXPECT_LE(static_cast<int>(p.layer), static_cast<int>(full.layer));
    // A value is either absent or the true one.
    if (p.has_src_mac) {
      EXPECT_EQ(p.src_mac, full.src_mac);
    }
    if (p.has_dst_mac) {
      EXPECT_EQ(p.dst_mac, full.dst_mac);
    }
    if (!p.src_addr.empty()) {
      EXPECT_EQ(p.src_addr, full.src_addr);
    }
    if (!p.dst_addr.empty()) {
      EXPECT_EQ(p.dst_addr, full.dst_addr);
    }
    if (p.src_port != 0) {
      EXPECT_EQ(p.src_port, full.src_port);
    }
    if (p.dst_port != 0) {
      EXPECT_EQ(p.dst_port, full.dst_port);
    }
    if (p.tcp_flags != 0) {
      EXPECT_EQ(p.tcp_flags, full.tcp_flags);
    }
    if (p.icmp_type != 0) {
      EXPECT_EQ(p.icmp_type, full.icmp_type);
    }
    if (p.proto != 0) {
      EXPECT_EQ(p.proto, full.proto);
    }
    if (p.ttl != 0) {
      EXPECT_EQ(p.ttl, full.ttl);
    }
    for (int i = 0; i < p.mpls_count; ++i) EXPECT_EQ(p.mpls_labels[i], full.mpls_labels[i]);
    EXPECT_LE(p.mpls_count, full.mpls_count);
    EXPECT_LE(p.payload_len, full.payload_len);
    if (n >= headers_end) {
      EXPECT_EQ(p.layer, full.layer);
      EXPECT_EQ(p.etype, full.etype);
      EXPECT_EQ(p.src_addr, full.src_addr);
      EXPECT_EQ(p.dst_addr, full.dst_addr);
      EXPECT_EQ(p.proto, full.proto);
      EXPECT_EQ(p.src_port, full.src_port);
      EXPECT_EQ(p.dst_port, full.dst_port);
      EXPECT_EQ(p.l4_offset, full.l4_offset);
      EXPECT_EQ(p.ip_length, full.ip_length);
      EXPECT_EQ(p.payload_wire_len, full.payload_wire_len);
      if (full.payload != nullptr) {
        // The payload is what the cut left of it.
        const std::size_t start = static_cast<std::size_t>(full.payload - frame.data());
        EXPECT_EQ(p.payload_len, std::min(full.payload_len, n - start));
        EXPECT_EQ(p.payload_complete(), n >= start + full.payload_len && full.payload_complete());
      }
    }
  }
}

PacketInfo parse_ethernet_fn(const std::uint8_t* d, std::size_t n) noexcept { return parse_ethernet(d, n); }
PacketInfo parse_ip_fn(const std::uint8_t* d, std::size_t n) noexcept { return parse_ip(d, n); }

TEST(Packet, EthernetIpv4TcpWithOptions) {
  Ipv4Options o;
  o.tos = 0xb8;
  o.ttl = 57;
  o.id = 0x1234;
  o.frag = 0x4000;                       // DF only: not a fragment
  o.options = {0x01, 0x01, 0x01, 0x00};  // NOP NOP NOP EOL: ihl 6
  const Bytes data = payload_of(100);
  Bytes f = ethernet(0x0800);
  append(f, ipv4(6, 0xc0000201, 0xc6336402, tcp(49152, 443, 0x18, data, 3), o));
  const PacketInfo p = parse_ethernet(f.data(), f.size());
  EXPECT_EQ(p.layer, PacketLayer::l4);
  EXPECT_FALSE(p.truncated);
  EXPECT_FALSE(p.malformed);
  EXPECT_TRUE(p.has_src_mac);
  EXPECT_EQ(0, std::memcmp(p.src_mac.data(), mac_a, 6));
  EXPECT_EQ(0, std::memcmp(p.dst_mac.data(), mac_b, 6));
  EXPECT_EQ(p.vlan_count, 0);
  EXPECT_EQ(p.etype, 0x0800);
  EXPECT_EQ(p.ip_version, 4);
  EXPECT_EQ(p.l3_offset, 14u);
  EXPECT_EQ(p.l4_offset, 14u + 24u);  // ihl 6 words
  EXPECT_EQ(p.src_addr, IpAddress::v4(0xc0000201));
  EXPECT_EQ(p.dst_addr, IpAddress::v4(0xc6336402));
  EXPECT_EQ(p.tos, 0xb8);
  EXPECT_EQ(p.ttl, 57);
  EXPECT_EQ(p.proto, 6);
  EXPECT_EQ(p.ip_length, 24u + 32u + 100u);  // IP header with options + TCP with 3 option words + data
  EXPECT_FALSE(p.is_fragment);
  EXPECT_EQ(p.fragment_id, 0x1234u);
  EXPECT_EQ(p.src_port, 49152);
  EXPECT_EQ(p.dst_port, 443);
  EXPECT_EQ(p.tcp_flags, 0x18);
  ASSERT_NE(p.payload, nullptr);
  EXPECT_EQ(p.payload, f.data() + 14 + 24 + 32);
  EXPECT_EQ(p.payload_len, 100u);
  EXPECT_EQ(p.payload_wire_len, 100u);
  EXPECT_TRUE(p.payload_complete());
  check_every_cut(f, parse_ethernet_fn, 14 + 24 + 32);
}

TEST(Packet, EthernetPaddingIsNotPayload) {
  // 14 + 20 + 8 + 4 = 46 bytes, padded to the 60-byte Ethernet minimum.
  Bytes f = ethernet(0x0800);
  append(f, ipv4(17, 0x0a000001, 0x0a000002, udp(5353, 2055, {1, 2, 3, 4})));
  f.resize(60, 0xee);
  const PacketInfo p = parse_ethernet(f.data(), f.size());
  EXPECT_EQ(p.layer, PacketLayer::l4);
  EXPECT_EQ(p.ip_length, 32u);
  EXPECT_EQ(p.ip_end, 14u + 32u);
  EXPECT_EQ(p.payload_len, 4u);
  EXPECT_EQ(p.payload_wire_len, 4u);
  EXPECT_EQ(p.payload[0], 1);
  EXPECT_EQ(p.payload[3], 4);
  EXPECT_TRUE(p.payload_complete());
}

TEST(Packet, QinqIpv6Udp) {
  // 802.1ad outer tag (vid 100, pcp 5), 802.1Q inner tag (vid 200), IPv6/UDP.
  Bytes f = ethernet(0x88a8);
  vlan_tag(f, 5, 100, 0x8100);
  vlan_tag(f, 0, 200, 0x86dd);
  const Bytes data = payload_of(33);
  append(f, ipv6(17, 0x2e, 0xabcde, 63, udp(6343, 6343, data)));
  const PacketInfo p = parse_ethernet(f.data(), f.size());
  EXPECT_EQ(p.layer, PacketLayer::l4);
  EXPECT_EQ(p.vlan_count, 2);
  EXPECT_EQ(p.vlan_ids[0], 100);
  EXPECT_EQ(p.vlan_ids[1], 200);
  EXPECT_EQ(p.etype, 0x86dd);
  EXPECT_EQ(p.ip_version, 6);
  EXPECT_EQ(p.l3_offset, 22u);
  EXPECT_EQ(p.l4_offset, 62u);
  EXPECT_EQ(p.src_addr, IpAddress::v6_bytes(v6addr(1).data()));
  EXPECT_EQ(p.dst_addr, IpAddress::v6_bytes(v6addr(2).data()));
  EXPECT_EQ(p.tos, 0x2e);
  EXPECT_EQ(p.flow_label, 0xabcdeu);
  EXPECT_EQ(p.ttl, 63);
  EXPECT_EQ(p.proto, 17);
  EXPECT_EQ(p.ip_length, 40u + 8u + 33u);
  EXPECT_EQ(p.src_port, 6343);
  EXPECT_EQ(p.payload_len, 33u);
  EXPECT_EQ(0, std::memcmp(p.payload, data.data(), data.size()));
  check_every_cut(f, parse_ethernet_fn, 62 + 8);

  FlowRecord r;
  fill_flow_record(p, r);
  EXPECT_EQ(r.vlan_id, 100);
  EXPECT_EQ(r.src_vlan, 100);
  EXPECT_EQ(r.etype, 0x86dd);
  EXPECT_EQ(r.ipv6_flow_label, 0xabcdeu);
  EXPECT_EQ(r.ip_tos, 0x2e);
  EXPECT_EQ(r.src_port, 6343);
  EXPECT_EQ(r.dst_port, 6343);
  // A src_vlan the caller already set (sFlow extended switch) is kept.
  FlowRecord r2;
  r2.src_vlan = 7;
  fill_flow_record(p, r2);
  EXPECT_EQ(r2.src_vlan, 7);
  EXPECT_EQ(r2.vlan_id, 100);
}

TEST(Packet, OldQinqTpid) {
  Bytes f = ethernet(0x9100);
  vlan_tag(f, 0, 4094, 0x0800);
  append(f, ipv4(1, 0x01020304, 0x05060708, icmp(8, 0)));
  const PacketInfo p = parse_ethernet(f.data(), f.size());
  EXPECT_EQ(p.layer, PacketLayer::l4);
  EXPECT_EQ(p.vlan_count, 1);
  EXPECT_EQ(p.vlan_ids[0], 4094);
  EXPECT_EQ(p.icmp_type, 8);
  EXPECT_EQ(p.icmp_code, 0);
  check_every_cut(f, parse_ethernet_fn, 18 + 20 + 4);
}

TEST(Packet, MplsStackThenIpv4Icmp) {
  // Two labels: 16001 (TC 0, TTL 255), then 299776 with bottom-of-stack.
  Bytes f = ethernet(0x8847);
  put32(f, (16001u << 12) | 0xff);
  put32(f, (299776u << 12) | 0x100 | 0x40);
  append(f, ipv4(1, 0x0a0a0a0a, 0x0b0b0b0b, icmp(3, 13)));
  const PacketInfo p = parse_ethernet(f.data(), f.size());
  EXPECT_EQ(p.layer, PacketLayer::l4);
  EXPECT_EQ(p.mpls_count, 2);
  EXPECT_EQ(p.mpls_labels[0], 16001u);
  EXPECT_EQ(p.mpls_labels[1], 299776u);
  EXPECT_EQ(p.etype, 0x0800);
  EXPECT_EQ(p.l3_offset, 22u);
  EXPECT_EQ(p.proto, 1);
  EXPECT_EQ(p.icmp_type, 3);
  EXPECT_EQ(p.icmp_code, 13);
  EXPECT_EQ(p.src_port, 0);
  check_every_cut(f, parse_ethernet_fn, 22 + 20 + 4);

  FlowRecord r;
  fill_flow_record(p, r);
  EXPECT_EQ(r.mpls_count, 2);
  EXPECT_EQ(r.mpls_labels[0], 16001u);
  EXPECT_EQ(r.mpls_labels[1], 299776u);
  EXPECT_EQ(r.icmp_type, 3);
  EXPECT_EQ(r.icmp_code, 13);
}

TEST(Packet, DeepMplsStackKeepsTopLabels) {
  Bytes f = ethernet(0x8848);
  for (std::uint32_t i = 1; i <= 6; ++i) put32(f, (i << 12) | (i == 6 ? 0x100 : 0));
  append(f, ipv6(58, 0, 0, 255, icmp(128, 0)));
  const PacketInfo p = parse_ethernet(f.data(), f.size());
  EXPECT_EQ(p.layer, PacketLayer::l4);
  EXPECT_EQ(p.mpls_count, FlowRecord::max_mpls_labels);
  for (int i = 0; i < FlowRecord::max_mpls_labels; ++i)
    EXPECT_EQ(p.mpls_labels[i], static_cast<std::uint32_t>(i + 1));
  EXPECT_EQ(p.etype, 0x86dd);
  EXPECT_EQ(p.proto, 58);
  EXPECT_EQ(p.icmp_type, 128);
  EXPECT_EQ(p.l3_offset, 14u + 24u);
}

TEST(Packet, Ipv6ExtensionHeadersThenTcp) {
  // hop-by-hop (8 bytes) -> routing (24 bytes) -> destination options (16) -> AH (payload len 4:
  // (4+2)*4 = 24 bytes) -> TCP.
  const Bytes data = payload_of(10);
  Bytes rest = ext_header(43, 0);
  append(rest, ext_header(60, 2));
  append(rest, ext_header(51, 1));
  Bytes ah;
  put8(ah, 6);
  put8(ah, 4);
  ah.resize(24, 0x5a);
  append(rest, ah);
  append(rest, tcp(22, 50000, 0x12, data));
  Bytes f = ethernet(0x86dd);
  append(f, ipv6(0, 0, 1, 64, rest));
  const PacketInfo p = parse_ethernet(f.data(), f.size());
  EXPECT_EQ(p.layer, PacketLayer::l4);
  EXPECT_EQ(p.proto, 6);
  EXPECT_EQ(p.l4_offset, 14u + 40u + 8u + 24u + 16u + 24u);
  EXPECT_EQ(p.src_port, 22);
  EXPECT_EQ(p.dst_port, 50000);
  EXPECT_EQ(p.tcp_flags, 0x12);
  EXPECT_EQ(p.payload_len, 10u);
  EXPECT_FALSE(p.is_fragment);
  check_every_cut(f, parse_ethernet_fn, p.l4_offset + 20);
}

TEST(Packet, Ipv6Fragments) {
  // First fragment: offset 0, M set, id 0xdeadbeef; carries the UDP header of a 2000-byte datagram.
  Bytes frag1;
  put8(frag1, 17);
  put8(frag1, 0);
  put16(frag1, 0x0001);
  put32(frag1, 0xdeadbeef);
  Bytes u = udp(1111, 2222, payload_of(2000));
  u.resize(1000);
  append(frag1, u);
  Bytes f1 = ipv6(44, 0, 0, 64, frag1);
  const PacketInfo p1 = parse_ip(f1.data(), f1.size());
  EXPECT_EQ(p1.layer, PacketLayer::l4);
  EXPECT_TRUE(p1.is_fragment);
  EXPECT_TRUE(p1.first_fragment());
  EXPECT_TRUE(p1.more_fragments);
  EXPECT_EQ(p1.fragment_id, 0xdeadbeefu);
  EXPECT_EQ(p1.fragment_offset, 0);
  EXPECT_EQ(p1.proto, 17);
  EXPECT_EQ(p1.src_port, 1111);
  EXPECT_EQ(p1.dst_port, 2222);
  EXPECT_EQ(p1.payload_wire_len, 2000u);
  EXPECT_EQ(p1.payload_len, 992u);
  EXPECT_FALSE(p1.payload_complete());

  // Last fragment: offset 1000 (0x3e8 = 125 units of 8 in the top 13 bits), M clear.
  Bytes frag2;
  put8(frag2, 17);
  put8(frag2, 0);
  put16(frag2, 1000);
  put32(frag2, 0xdeadbeef);
  append(frag2, payload_of(1008));
  Bytes f2 = ipv6(44, 0, 0, 64, frag2);
  const PacketInfo p2 = parse_ip(f2.data(), f2.size());
  EXPECT_EQ(p2.layer, PacketLayer::l3);
  EXPECT_TRUE(p2.is_fragment);
  EXPECT_FALSE(p2.first_fragment());
  EXPECT_FALSE(p2.more_fragments);
  EXPECT_EQ(p2.fragment_offset, 1000);
  EXPECT_EQ(p2.proto, 17);
  EXPECT_EQ(p2.src_port, 0);  // not a UDP header: the middle of the datagram
  EXPECT_EQ(p2.l4_offset, 48u);
  EXPECT_FALSE(p2.truncated);
  EXPECT_FALSE(p2.malformed);
  check_every_cut(f2, parse_ip_fn, 48);

  FlowRecord r;
  fill_flow_record(p2, r);
  EXPECT_EQ(r.fragment_id, 0xdeadbeefu);
  EXPECT_EQ(r.fragment_offset, 1000);
}

TEST(Packet, Ipv4Fragments) {
  Ipv4Options first;
  first.id = 777;
  first.frag = 0x2000;  // MF, offset 0
  Bytes u = udp(4000, 2055, payload_of(3000));
  u.resize(1480);
  Bytes f1 = ethernet(0x0800);
  append(f1, ipv4(17, 0x0a000001, 0x0a000002, u, first));
  const PacketInfo p1 = parse_ethernet(f1.data(), f1.size());
  EXPECT_TRUE(p1.first_fragment());
  EXPECT_EQ(p1.fragment_id, 777u);
  EXPECT_EQ(p1.dst_port, 2055);
  EXPECT_EQ(p1.payload_wire_len, 3000u);
  EXPECT_EQ(p1.payload_len, 1472u);
  EXPECT_FALSE(p1.payload_complete());

  Ipv4Options second;
  second.id = 777;
  second.frag = 1480 / 8;  // offset 185 units, MF clear
  Bytes f2 = ethernet(0x0800);
  append(f2, ipv4(17, 0x0a000001, 0x0a000002, payload_of(1528), second));
  const PacketInfo p2 = parse_ethernet(f2.data(), f2.size());
  EXPECT_EQ(p2.layer, PacketLayer::l3);
  EXPECT_TRUE(p2.is_fragment);
  EXPECT_FALSE(p2.first_fragment());
  EXPECT_EQ(p2.fragment_offset, 1480);
  EXPECT_EQ(p2.src_port, 0);
  EXPECT_EQ(p2.dst_port, 0);
  EXPECT_EQ(p2.payload, nullptr);
  check_every_cut(f2, parse_ethernet_fn, 34);
}

TEST(Packet, Icmpv6AndNonIp) {
  Bytes f = ipv6(58, 0, 0, 255, icmp(135, 0));
  const PacketInfo p = parse_ipv6(f.data(), f.size());
  EXPECT_EQ(p.layer, PacketLayer::l4);
  EXPECT_EQ(p.icmp_type, 135);

  // ARP: a complete frame with no IP layer; neither truncated nor malformed.
  Bytes arp = ethernet(0x0806);
  arp.resize(60, 0);
  const PacketInfo a = parse_ethernet(arp.data(), arp.size());
  EXPECT_EQ(a.layer, PacketLayer::l2);
  EXPECT_EQ(a.etype, 0x0806);
  EXPECT_EQ(a.ip_version, 0);
  EXPECT_FALSE(a.truncated);
  EXPECT_FALSE(a.malformed);
  FlowRecord r;
  fill_flow_record(a, r);
  EXPECT_EQ(r.etype, 0x0806);
  EXPECT_EQ(0, std::memcmp(r.src_mac.data(), mac_a, 6));
  EXPECT_TRUE(r.src_addr.empty());
}

TEST(Packet, MalformedHeaders) {
  {  // IHL 4 (< 5 words)
    Bytes b = ipv4(17, 1, 2, udp(1, 2, {}));
    b[0] = 0x44;
    EXPECT_TRUE(parse_ip(b.data(), b.size()).malformed);
  }
  {  // total length shorter than the header
    Bytes b = ipv4(17, 1, 2, udp(1, 2, {}));
    b[2] = 0;
    b[3] = 19;
    EXPECT_TRUE(parse_ip(b.data(), b.size()).malformed);
  }
  {  // EtherType says IPv4, the header says 6
    Bytes f = ethernet(0x0800);
    append(f, ipv6(17, 0, 0, 1, udp(1, 2, {})));
    const PacketInfo p = parse_ethernet(f.data(), f.size());
    EXPECT_TRUE(p.malformed);
    EXPECT_EQ(p.layer, PacketLayer::l2);
  }
  {  // TCP data offset 4 words
    Bytes t = tcp(1, 2, 0x02, {});
    t[12] = 0x40;
    Bytes b = ipv4(6, 1, 2, t);
    const PacketInfo p = parse_ip(b.data(), b.size());
    EXPECT_TRUE(p.malformed);
    EXPECT_EQ(p.layer, PacketLayer::l3);
    EXPECT_EQ(p.dst_port, 2);
  }
  {  // UDP length 7
    Bytes u = udp(1, 2, {});
    u[5] = 7;
    Bytes b = ipv4(17, 1, 2, u);
    EXPECT_TRUE(parse_ip(b.data(), b.size()).malformed);
  }
  {  // nine VLAN tags
    Bytes f = ethernet(0x8100);
    for (int i = 0; i < 9; ++i) vlan_tag(f, 0, 1, 0x8100);
    f.resize(f.size() + 40, 0);
    const PacketInfo p = parse_ethernet(f.data(), f.size());
    EXPECT_TRUE(p.malformed);
    EXPECT_EQ(p.vlan_count, 8);
  }
  {  // an MPLS stack with no bottom
    Bytes f = ethernet(0x8847);
    for (int i = 0; i < 20; ++i) put32(f, 5u << 12);
    EXPECT_TRUE(parse_ethernet(f.data(), f.size()).malformed);
  }
  {  // 17 hop-by-hop headers in a row
    Bytes rest;
    for (int i = 0; i < 17; ++i) append(rest, ext_header(0, 0));
    Bytes b = ipv6(0, 0, 0, 1, rest);
    EXPECT_TRUE(parse_ip(b.data(), b.size()).malformed);
  }
  {  // version 5
    const std::uint8_t b[20] = {0x55};
    EXPECT_TRUE(parse_ip(b, sizeof b).malformed);
  }
}

TEST(Packet, LinkTypes) {
  const Bytes ip = ipv4(17, 0xc0a80001, 0xc0a80002, udp(100, 200, payload_of(5)));
  {  // LINKTYPE_RAW as libpcap reports it on Linux, and as the file says
    EXPECT_EQ(parse_link(12, ip.data(), ip.size()).dst_port, 200);
    EXPECT_EQ(parse_link(101, ip.data(), ip.size()).dst_port, 200);
    EXPECT_EQ(parse_link(228, ip.data(), ip.size()).dst_port, 200);
  }
  {  // BSD null: AF_INET in little-endian host order
    Bytes b = {2, 0, 0, 0};
    append(b, ip);
    const PacketInfo p = parse_link(0, b.data(), b.size());
    EXPECT_EQ(p.l3_offset, 4u);
    EXPECT_EQ(p.payload_len, 5u);
  }
  {  // OpenBSD loop with IPv6 (AF_INET6 = 24, network order)
    Bytes b = {0, 0, 0, 24};
    const Bytes v6 = ipv6(17, 0, 0, 1, udp(7, 8, {}));
    append(b, v6);
    const PacketInfo p = parse_link(108, b.data(), b.size());
    EXPECT_EQ(p.ip_version, 6);
    EXPECT_EQ(p.dst_port, 8);
    EXPECT_EQ(parse_link(229, v6.data(), v6.size()).dst_port, 8);
  }
  {  // Linux cooked SLL: packet type 0 (to us), ARPHRD_ETHER, 6-byte address, protocol IPv4
    Bytes b;
    put16(b, 0);
    put16(b, 1);
    put16(b, 6);
    b.insert(b.end(), mac_a, mac_a + 6);
    put16(b, 0);
    put16(b, 0x0800);
    append(b, ip);
    const PacketInfo p = parse_link(113, b.data(), b.size());
    EXPECT_EQ(p.l3_offset, 16u);
    EXPECT_TRUE(p.has_src_mac);
    EXPECT_FALSE(p.has_dst_mac);
    EXPECT_EQ(0, std::memcmp(p.src_mac.data(), mac_a, 6));
    EXPECT_EQ(p.src_port, 100);
    EXPECT_TRUE(parse_link(113, b.data(), 15).truncated);
  }
  {  // SLL2 with a VLAN-tagged protocol
    Bytes b;
    put16(b, 0x8100);
    put16(b, 0);
    put32(b, 3);  // ifindex
    put16(b, 1);
    put8(b, 4);  // outgoing
    put8(b, 6);
    b.insert(b.end(), mac_b, mac_b + 6);
    put16(b, 0);
    vlan_tag(b, 0, 42, 0x0800);
    append(b, ip);
    const PacketInfo p = parse_link(276, b.data(), b.size());
    EXPECT_EQ(p.vlan_ids[0], 42);
    EXPECT_EQ(p.l3_offset, 24u);
    EXPECT_EQ(0, std::memcmp(p.src_mac.data(), mac_b, 6));
    EXPECT_EQ(p.dst_port, 200);
  }
  EXPECT_TRUE(link_type_supported(1));
  EXPECT_FALSE(link_type_supported(147));
  const PacketInfo unknown = parse_link(147, ip.data(), ip.size());
  EXPECT_TRUE(unknown.malformed);
  EXPECT_EQ(unknown.layer, PacketLayer::none);
}

TEST(Packet, FillFlowRecordCopiesEveryL2ToL4Member) {
  Ipv4Options o;
  o.tos = 0x10;
  o.ttl = 3;
  o.id = 4242;
  o.frag = 0x2000;
  Bytes f = ethernet(0x8100);
  vlan_tag(f, 0, 10, 0x0800);
  append(f, ipv4(6, 0x01010101, 0x02020202, tcp(1234, 80, 0x02, {}), o));
  const PacketInfo p = parse_ethernet(f.data(), f.size());
  FlowRecord r;
  r.bytes = 99;  // the caller's members are left alone
  fill_flow_record(p, r);
  EXPECT_EQ(r.bytes, 99u);
  EXPECT_EQ(0, std::memcmp(r.src_mac.data(), mac_a, 6));
  EXPECT_EQ(0, std::memcmp(r.dst_mac.data(), mac_b, 6));
  EXPECT_EQ(r.vlan_id, 10);
  EXPECT_EQ(r.src_vlan, 10);
  EXPECT_EQ(r.etype, 0x0800);
  EXPECT_EQ(r.src_addr, IpAddress::v4(0x01010101));
  EXPECT_EQ(r.dst_addr, IpAddress::v4(0x02020202));
  EXPECT_EQ(r.proto, 6);
  EXPECT_EQ(r.src_port, 1234);
  EXPECT_EQ(r.dst_port, 80);
  EXPECT_EQ(r.ip_tos, 0x10);
  EXPECT_EQ(r.ip_ttl, 3);
  EXPECT_EQ(r.tcp_flags, 0x02);
  EXPECT_EQ(r.fragment_id, 4242u);
  EXPECT_EQ(r.fragment_offset, 0);
  EXPECT_EQ(r.mpls_count, 0);
}

TEST(Packet, TruncatedSflowStyleHeaderStillGivesThePorts) {
  // sFlow keeps the first 128 bytes of a 1514-byte frame: the headers are all there, the payload not.
  Bytes f = ethernet(0x0800);
  append(f, ipv4(6, 0x0a000001, 0x0a000002, tcp(80, 40000, 0x10, payload_of(1460))));
  ASSERT_EQ(f.size(), 1514u);
  const PacketInfo p = parse_ethernet(f.data(), 128);
  EXPECT_FALSE(p.truncated);
  EXPECT_EQ(p.layer, PacketLayer::l4);
  EXPECT_EQ(p.ip_length, 1500u);
  EXPECT_EQ(p.payload_wire_len, 1460u);
  EXPECT_EQ(p.payload_len, 128u - 54u);
  EXPECT_FALSE(p.payload_complete());
}

}  // namespace
}  // namespace flowpulse::decode
