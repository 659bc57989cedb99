// sFlow v5 decoder: the pktvisor captures checked against tshark's independent decode, synthetic
// datagrams (IPv4 and IPv6 agents, compact and expanded samples, counter samples, extended records,
// VLAN / QinQ headers) checked against the values the test put in, and malformed datagrams of each
// kind checked for the error they must count and for the samples that must still come through.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "bytes.hpp"
#include "core/ip_address.hpp"
#include "decode/decoder.hpp"
#include "decode/sflow5.hpp"
#include "io/pcap_file.hpp"
#include "test_support.hpp"

namespace flowpulse {
namespace {

using decode::DecodeStats;
using decode::DropReason;
namespace sf = decode::sflow5;

using Bytes = std::vector<std::uint8_t>;

constexpr std::uint64_t now_ns = 1'700'000'000'000'000'000ULL;

// ---------------------------------------------------------------------------------------------
// The UDP payloads of a capture, through the project's pcap reader.

struct Payload {
  Bytes data;
  IpAddress src;
};

std::vector<Payload> udp_payloads(const std::filesystem::path& path) {
  auto file = io::PcapFile::open(path.string());
  if (!file) {
    ADD_FAILURE() << file.error();
    return {};
  }
  io::PcapUdpReader reader(*file);
  std::vector<Payload> out;
  io::UdpDatagram dg;
  for (;;) {
    auto more = reader.next(dg);
    if (!more) {
      ADD_FAILURE() << more.error();
      break;
    }
    if (!*more) break;
    out.push_back({Bytes(dg.payload, dg.payload + dg.size), dg.src_addr});
  }
  return out;
}

struct Collect : decode::RecordSink {
  std::vector<FlowRecord> flows;
  std::vector<InterfaceCounters> counters;
  void on_records(std::span<const FlowRecord> r) override { flows.insert(flows.end(), r.begin(), r.end()); }
  void on_counters(std::span<const InterfaceCounters> c) override {
    counters.insert(counters.end(), c.begin(), c.end());
  }
};

struct Decoded {
  Collect sink;
  DecodeStats stats;
};

// Decodes from an exactly sized heap copy so that ASan sees any read past the end.
void decode_into(const Bytes& payload, Decoded& d) {
  std::unique_ptr<std::uint8_t[]> copy(new std::uint8_t[payload.size() + (payload.empty() ? 1 : 0)]);
  if (!payload.empty()) std::memcpy(copy.get(), payload.data(), payload.size());
  decode::Datagram dg;
  dg.data = copy.get();
  dg.size = payload.size();
  dg.exporter = IpAddress::v4(0x0a000001);
  dg.time_received_ns = now_ns;
  decode::RecordWriter w(d.sink);
  decode::decode_sflow5(dg, w, d.stats);
  w.flush();
}

std::unique_ptr<Decoded> decode(const Bytes& payload) {
  auto d = std::make_unique<Decoded>();
  decode_into(payload, *d);
  return d;
}

IpAddress ip(const char* text) { return *core::parse_ip(text); }
std::string str(const IpAddress& a) { return core::to_string(a); }
std::string mac(const std::array<std::uint8_t, 6>& m) { return core::format_mac(m); }

// ---------------------------------------------------------------------------------------------
// Captures (MPL-2.0, ../shared/data/captures/pktvisor). Expected values come from tshark 4.0:
//   tshark -r FILE -T fields -E separator=' ' -e sflow_245.agent -e sflow_245.numsamples
//     -e sflow.flow_sample.sequence_number -e sflow.flow_sample.index -e sflow.flow_sample.sampling_rate
//     -e sflow.flow_sample.input_interface -e sflow.flow_sample.output_interface_value
//     -e sflow_245.header_protocol -e sflow_245.header.frame_length -e sflow_245.header.sampled_header_length
//     -e ipv6.src -e ipv6.dst -e udp.srcport -e udp.dstport -e ipv6.hlim
//   tshark -r FILE -T fields -E separator=' ' -e sflow_245.ip.length -e sflow.ip_protocol
//     -e sflow_245.ipv4_src -e sflow_245.ipv4_dst -e sflow_245.ipv6_src -e sflow_245.ipv6_dst
//     -e sflow_245.ip.source_port -e sflow.ip.destination_port -e sflow_245.ipv6_priority

TEST(SflowCapture, Ipv6RawHeader) {
  // sflow_ipv6.pcap → "10.0.0.99 1 1 256 1 1 2 12 62 48 2001:db8::1 2001:db8::2 12345,12345 6343,53 64"
  // (udp ports: the outer datagram's, then the sampled packet's)
  auto payloads = udp_payloads(test::shared_data() / "captures/pktvisor/sflow_ipv6.pcap");
  ASSERT_EQ(payloads.size(), 1u);
  EXPECT_EQ(str(payloads[0].src), "10.0.0.1");  // the datagram's source, not the agent
  auto d = decode(payloads[0].data);
  EXPECT_EQ(d->stats.datagrams, 1u);
  EXPECT_EQ(d->stats.total_errors(), 0u);
  ASSERT_EQ(d->stats.records, 1u);
  ASSERT_EQ(d->sink.flows.size(), 1u);
  const FlowRecord& r = d->sink.flows[0];
  EXPECT_EQ(r.type, FlowType::sflow5);
  EXPECT_EQ(r.time_received_ns, now_ns);
  EXPECT_EQ(str(r.sampler_address), "10.0.0.99");
  EXPECT_EQ(r.sequence_number, 1u);
  EXPECT_EQ(r.observation_domain, 256u);
  EXPECT_EQ(r.sampling_rate, 1u);
  EXPECT_EQ(r.in_if, 1u);
  EXPECT_EQ(r.out_if, 2u);
  EXPECT_EQ(r.raw_bytes, 62u);  // frame length
  EXPECT_EQ(r.bytes, 62u);      // x rate 1
  EXPECT_EQ(r.raw_packets, 1u);
  EXPECT_EQ(r.packets, 1u);
  EXPECT_EQ(r.etype, 0x86dd);  // header protocol 12 = IPv6
  EXPECT_EQ(str(r.src_addr), "2001:db8::1");
  EXPECT_EQ(str(r.dst_addr), "2001:db8::2");
  EXPECT_EQ(r.proto, 17);
  EXPECT_EQ(r.src_port, 12345);
  EXPECT_EQ(r.dst_port, 53);
  EXPECT_EQ(r.ip_ttl, 64);
}

TEST(SflowCapture, KeyedSampledIpv4AndIpv6) {
  // sflow_keyed.pcap → "10.0.0.77 2 1,2 256,256 1,1 1,1 2,2 ..." and
  //                    "1500,1280 6,17 192.0.2.10 192.0.2.20 2001:db8::1 2001:db8::2 1024,443 80,33344 0"
  auto payloads = udp_payloads(test::shared_data() / "captures/pktvisor/sflow_keyed.pcap");
  ASSERT_EQ(payloads.size(), 1u);
  auto d = decode(payloads[0].data);
  EXPECT_EQ(d->stats.total_errors(), 0u);
  ASSERT_EQ(d->sink.flows.size(), 2u);
  EXPECT_EQ(d->stats.records, 2u);
  const FlowRecord& a = d->sink.flows[0];
  EXPECT_EQ(str(a.sampler_address), "10.0.0.77");
  EXPECT_EQ(a.sequence_number, 1u);
  EXPECT_EQ(a.observation_domain, 256u);
  EXPECT_EQ(a.sampling_rate, 1u);
  EXPECT_EQ(a.in_if, 1u);
  EXPECT_EQ(a.out_if, 2u);
  EXPECT_EQ(a.bytes, 1500u);
  EXPECT_EQ(a.packets, 1u);
  EXPECT_EQ(a.etype, 0x0800);
  EXPECT_EQ(a.proto, 6);
  EXPECT_EQ(str(a.src_addr), "192.0.2.10");
  EXPECT_EQ(str(a.dst_addr), "192.0.2.20");
  EXPECT_EQ(a.src_port, 1024);
  EXPECT_EQ(a.dst_port, 80);
  // The tcp_flags word is 0x00000018 (PSH|ACK): word 26 of `tshark -T fields -e udp.payload`.
  // tshark shows the flags as unset because packet-sflow.c reads them from the word's first byte.
  EXPECT_EQ(a.tcp_flags, 0x18);
  EXPECT_EQ(a.ip_tos, 0);

  const FlowRecord& b = d->sink.flows[1];
  EXPECT_EQ(b.sequence_number, 2u);
  EXPECT_EQ(b.bytes, 1280u);
  EXPECT_EQ(b.etype, 0x86dd);
  EXPECT_EQ(b.proto, 17);
  EXPECT_EQ(str(b.src_addr), "2001:db8::1");
  EXPECT_EQ(str(b.dst_addr), "2001:db8::2");
  EXPECT_EQ(b.src_port, 443);
  EXPECT_EQ(b.dst_port, 33344);
  EXPECT_EQ(b.ip_tos, 0);  // priority
}

// ---------------------------------------------------------------------------------------------
// Building datagrams.

// XDR writer: big-endian words, opaque data padded to 4, and length words patched after the fact.
class Xdr {
 public:
  Xdr& u32(std::uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) buf_.push_back(static_cast<std::uint8_t>(v >> s));
    return *this;
  }
  Xdr& u64(std::uint64_t v) {
    return u32(static_cast<std::uint32_t>(v >> 32)).u32(static_cast<std::uint32_t>(v));
  }
  Xdr& raw(const Bytes& b) {
    buf_.insert(buf_.end(), b.begin(), b.end());
    return *this;
  }
  Xdr& opaque_fixed(const Bytes& b) {  // XDR opaque[n]: the bytes and their padding
    raw(b);
    while (buf_.size() % 4 != 0) buf_.push_back(0);
    return *this;
  }
  Xdr& ipv4(const char* a) { return u32(sf::address_ipv4).u32(ip(a).v4_host_order()); }
  Xdr& ipv6(const char* a) {
    u32(sf::address_ipv6);
    auto x = ip(a);
    return raw(Bytes(x.bytes.begin(), x.bytes.end()));
  }
  // Starts a (format, length, body) element; end() patches its length.
  Xdr& begin(std::uint32_t format) {
    u32(format);
    open_.push_back(buf_.size());
    return u32(0);
  }
  Xdr& end() {
    std::size_t at = open_.back();
    open_.pop_back();
    auto n = static_cast<std::uint32_t>(buf_.size() - at - 4);
    for (int i = 0; i < 4; ++i) buf_[at + i] = static_cast<std::uint8_t>(n >> (24 - 8 * i));
    return *this;
  }
  std::size_t size() const { return buf_.size(); }
  const Bytes& bytes() const { return buf_; }

 private:
  Bytes buf_;
  std::vector<std::size_t> open_;
};

using test::put16;
using test::put32;

// An Ethernet frame: dst 02:00:00:00:00:02, src 02:00:00:00:00:01, the given 802.1Q/802.1ad tags
// (TPID, VID), then IPv4 TCP 10.1.1.1:40000 → 10.2.2.2:443 (TOS 0x28, TTL 61, SYN|ACK).
struct Tag {
  std::uint16_t tpid;
  std::uint16_t vid;
};
Bytes ipv4_tcp_packet() {
  Bytes b;
  const Bytes ip_hdr = {0x45, 0x28, 0x05, 0xdc, 0x12, 0x34, 0x40, 0x00, 61, 6,
                        0,    0,    10,   1,    1,    1,    10,   2,    2,  2};
  b.insert(b.end(), ip_hdr.begin(), ip_hdr.end());
  put16(b, 40000);
  put16(b, 443);
  put32(b, 1);
  put32(b, 2);
  b.push_back(0x50);
  b.push_back(0x12);  // SYN|ACK
  put16(b, 65535);
  put32(b, 0);
  return b;
}
Bytes ethernet_frame(std::initializer_list<Tag> tags, std::uint16_t etype, const Bytes& l3) {
  Bytes b = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1};
  for (Tag t : tags) {
    put16(b, t.tpid);
    put16(b, t.vid);
  }
  put16(b, etype);
  b.insert(b.end(), l3.begin(), l3.end());
  return b;
}
// IPv6 UDP 2001:db8::a:5353 → 2001:db8::b:53, hop limit 7, flow label 0x12345, traffic class 0xb8.
Bytes ipv6_udp_packet() {
  Bytes b = {0x6b, 0x81, 0x23, 0x45, 0, 8, 17, 7};
  auto s = ip("2001:db8::a");
  auto d = ip("2001:db8::b");
  b.insert(b.end(), s.bytes.begin(), s.bytes.end());
  b.insert(b.end(), d.bytes.begin(), d.bytes.end());
  put16(b, 5353);
  put16(b, 53);
  put16(b, 8);
  put16(b, 0);
  return b;
}

void datagram_header_v4(Xdr& x, std::uint32_t samples) {
  x.u32(5).ipv4("192.0.2.1").u32(7 /* sub agent */).u32(1000 /* seq */).u32(123456 /* uptime */).u32(samples);
}
void datagram_header_v6(Xdr& x, std::uint32_t samples) {
  x.u32(5).ipv6("2001:db8::99").u32(0).u32(1).u32(1).u32(samples);
}

// Compact flow sample header fields (after format/length).
void flow_sample_fields(Xdr& x, std::uint32_t seq, std::uint32_t source_id, std::uint32_t rate,
                        std::uint32_t in, std::uint32_t out, std::uint32_t records) {
  x.u32(seq)
      .u32(source_id)
      .u32(rate)
      .u32(rate * 10 /* pool */)
      .u32(0 /* drops */)
      .u32(in)
      .u32(out)
      .u32(records);
}

void raw_header_record(Xdr& x, std::uint32_t protocol, std::uint32_t frame_length, const Bytes& header,
                       std::uint32_t stripped = 4) {
  x.begin(sf::record_raw_header).u32(protocol).u32(frame_length).u32(stripped);
  x.u32(static_cast<std::uint32_t>(header.size())).opaque_fixed(header).end();
}

Bytes one_sample_v4(std::uint32_t rate, std::uint32_t frame_length, const Bytes& frame) {
  Xdr x;
  datagram_header_v4(x, 1);
  x.begin(sf::flow_sample);
  flow_sample_fields(x, 42, 5, rate, 3, 4, 1);
  raw_header_record(x, sf::header_ethernet, frame_length, frame);
  x.end();
  return x.bytes();
}

// ---------------------------------------------------------------------------------------------
// Synthetic datagrams: every expected value below is what the builder above put in.

TEST(Sflow, CompactSampleWithVlanHeaderAndExtendedRecords) {
  Xdr x;
  datagram_header_v4(x, 1);
  x.begin(sf::flow_sample);
  flow_sample_fields(x, 77, (2u << 24) | 0x000123, 512, 10, 20, 6);
  // Records in an order that puts the extended ones first: they must still apply after the header.
  x.begin(sf::record_extended_gateway).ipv4("198.51.100.1").u32(64500 /* router as */).u32(0 /* src as */);
  x.u32(64499 /* src peer as */).u32(2 /* segments */);
  x.u32(2 /* AS_SEQUENCE */).u32(2).u32(64510).u32(64511);
  x.u32(2).u32(2).u32(64519).u32(64520);
  x.u32(1 /* communities */).u32(0xfde80064).u32(100 /* local pref */).end();
  x.begin(sf::record_extended_router).ipv4("192.0.2.254").u32(24).u32(16).end();
  x.begin(sf::record_extended_switch).u32(101).u32(3).u32(200).u32(5).end();
  x.begin(sf::record_extended_switch).u32(1).u32(1).u32(1).u32(1).end();  // a repeat: the first counts
  x.begin(999 /* unknown record */).u32(1).u32(2).end();
  raw_header_record(x, sf::header_ethernet, 1518,
                    ethernet_frame({{0x8100, 0x2064}}, 0x0800, ipv4_tcp_packet()));
  x.end();
  auto d = decode(x.bytes());
  EXPECT_EQ(d->stats.total_errors(), 0u);
  ASSERT_EQ(d->sink.flows.size(), 1u);
  const FlowRecord& r = d->sink.flows[0];
  EXPECT_EQ(r.type, FlowType::sflow5);
  EXPECT_EQ(str(r.sampler_address), "192.0.2.1");
  EXPECT_EQ(r.sequence_number, 77u);
  EXPECT_EQ(r.observation_domain, 0x123u);  // source id index, without the type byte
  EXPECT_EQ(r.sampling_rate, 512u);
  EXPECT_EQ(r.in_if, 10u);
  EXPECT_EQ(r.out_if, 20u);
  EXPECT_EQ(r.raw_packets, 1u);
  EXPECT_EQ(r.raw_bytes, 1518u);
  EXPECT_EQ(r.packets, 512u);
  EXPECT_EQ(r.bytes, 1518u * 512u);
  EXPECT_EQ(mac(r.src_mac), "02:00:00:00:00:01");
  EXPECT_EQ(mac(r.dst_mac), "02:00:00:00:00:02");
  EXPECT_EQ(r.vlan_id, 100);   // tag 0x2064: PCP 1, VID 100
  EXPECT_EQ(r.src_vlan, 101);  // extended switch: the switch's word wins over the header's tag
  EXPECT_EQ(r.dst_vlan, 200);
  EXPECT_EQ(r.etype, 0x0800);
  EXPECT_EQ(str(r.src_addr), "10.1.1.1");
  EXPECT_EQ(str(r.dst_addr), "10.2.2.2");
  EXPECT_EQ(r.proto, 6);
  EXPECT_EQ(r.src_port, 40000);
  EXPECT_EQ(r.dst_port, 443);
  EXPECT_EQ(r.tcp_flags, 0x12);
  EXPECT_EQ(r.ip_tos, 0x28);
  EXPECT_EQ(r.ip_ttl, 61);
  EXPECT_EQ(str(r.next_hop), "192.0.2.254");
  EXPECT_EQ(r.src_prefix_len, 24);
  EXPECT_EQ(r.dst_prefix_len, 16);
  EXPECT_EQ(str(r.bgp_next_hop), "198.51.100.1");
  EXPECT_EQ(r.src_as, 64500u);       // src as 0: the router's own AS
  EXPECT_EQ(r.dst_as, 64520u);       // last AS of the path
  EXPECT_EQ(r.next_hop_as, 64510u);  // first AS of the path
}

TEST(Sflow, ExpandedSampleIpv6AgentQinQAndIpv6NextHop) {
  Xdr x;
  datagram_header_v6(x, 1);
  x.begin(sf::flow_sample_expanded);
  x.u32(9 /* seq */).u32(0 /* source type */).u32(0x01020304 /* index: a full 32-bit value */);
  x.u32(2048).u32(99999).u32(0).u32(0).u32(0x40000001 /* in: >30 bits */).u32(0).u32(77).u32(3);
  raw_header_record(x, sf::header_ethernet, 90,
                    ethernet_frame({{0x88a8, 300}, {0x8100, 400}}, 0x86dd, ipv6_udp_packet()));
  x.begin(sf::record_extended_router).ipv6("2001:db8::fe").u32(48).u32(64).end();
  x.begin(sf::record_extended_gateway)
      .ipv6("2001:db8::1:1")
      .u32(65000)
      .u32(65001)
      .u32(0)
      .u32(0 /* no path */);
  x.u32(0).u32(0).end();
  x.end();
  auto d = decode(x.bytes());
  EXPECT_EQ(d->stats.total_errors(), 0u);
  ASSERT_EQ(d->sink.flows.size(), 1u);
  const FlowRecord& r = d->sink.flows[0];
  EXPECT_EQ(str(r.sampler_address), "2001:db8::99");
  EXPECT_EQ(r.sequence_number, 9u);
  EXPECT_EQ(r.observation_domain, 0x01020304u);
  EXPECT_EQ(r.in_if, 0x40000001u);  // expanded: the value word is the ifIndex, all 32 bits
  EXPECT_EQ(r.out_if, 77u);
  EXPECT_EQ(r.bytes, 90u * 2048u);
  EXPECT_EQ(r.packets, 2048u);
  EXPECT_EQ(r.vlan_id, 300);   // outer (802.1ad) tag
  EXPECT_EQ(r.src_vlan, 300);  // no extended switch: the header's outer tag
  EXPECT_EQ(r.etype, 0x86dd);
  EXPECT_EQ(str(r.src_addr), "2001:db8::a");
  EXPECT_EQ(str(r.dst_addr), "2001:db8::b");
  EXPECT_EQ(r.proto, 17);
  EXPECT_EQ(r.src_port, 5353);
  EXPECT_EQ(r.dst_port, 53);
  EXPECT_EQ(r.ip_ttl, 7);
  EXPECT_EQ(r.ip_tos, 0xb8);
  EXPECT_EQ(r.ipv6_flow_label, 0x12345u);
  EXPECT_EQ(str(r.next_hop), "2001:db8::fe");
  EXPECT_EQ(r.src_prefix_len, 48);
  EXPECT_EQ(r.dst_prefix_len, 64);
  EXPECT_EQ(str(r.bgp_next_hop), "2001:db8::1:1");
  EXPECT_EQ(r.src_as, 65001u);
  EXPECT_EQ(r.dst_as, 65000u);  // empty path: the destination is in the router's AS
  EXPECT_EQ(r.next_hop_as, 0u);
}

TEST(Sflow, ExtendedSwitchVlanOutOfRangeIsIgnored) {
  Xdr x;
  datagram_header_v4(x, 1);
  x.begin(sf::flow_sample);
  flow_sample_fields(x, 1, 1, 1, 1, 2, 2);
  raw_header_record(x, sf::header_ethernet, 1518, ethernet_frame({{0x8100, 42}}, 0x0800, ipv4_tcp_packet()));
  x.begin(sf::record_extended_switch).u32(4096).u32(0).u32(0xffffffff).u32(0).end();
  x.end();
  auto d = decode(x.bytes());
  EXPECT_EQ(d->stats.total_errors(), 0u);
  ASSERT_EQ(d->sink.flows.size(), 1u);
  EXPECT_EQ(d->sink.flows[0].src_vlan, 42);  // the header's tag stands
  EXPECT_EQ(d->sink.flows[0].dst_vlan, 0);
}

TEST(Sflow, HeaderProtocolIpv4AndIpv6StartAtTheIpHeader) {
  Xdr x;
  datagram_header_v4(x, 2);
  x.begin(sf::flow_sample);
  flow_sample_fields(x, 1, 1, 100, 1, 2, 1);
  raw_header_record(x, sf::header_ipv4, 1500, ipv4_tcp_packet(), 0);
  x.end();
  x.begin(sf::flow_sample);
  flow_sample_fields(x, 2, 1, 100, 1, 2, 1);
  raw_header_record(x, sf::header_ipv6, 48, ipv6_udp_packet(), 0);
  x.end();
  auto d = decode(x.bytes());
  EXPECT_EQ(d->stats.total_errors(), 0u);
  ASSERT_EQ(d->sink.flows.size(), 2u);
  EXPECT_EQ(str(d->sink.flows[0].src_addr), "10.1.1.1");
  EXPECT_EQ(d->sink.flows[0].dst_port, 443);
  EXPECT_EQ(d->sink.flows[0].etype, 0x0800);
  EXPECT_EQ(d->sink.flows[0].bytes, 150000u);
  EXPECT_EQ(mac(d->sink.flows[0].src_mac), "00:00:00:00:00:00");
  EXPECT_EQ(str(d->sink.flows[1].dst_addr), "2001:db8::b");
  EXPECT_EQ(d->sink.flows[1].etype, 0x86dd);
  EXPECT_EQ(d->sink.flows[1].dst_port, 53);
}

TEST(Sflow, UnparsedHeaderProtocolStillCounts) {
  Xdr x;
  datagram_header_v4(x, 1);
  x.begin(sf::flow_sample);
  flow_sample_fields(x, 1, 1, 10, 1, 2, 1);
  raw_header_record(x, 7 /* PPP */, 200, Bytes(20, 0xff));
  x.end();
  auto d = decode(x.bytes());
  EXPECT_EQ(d->stats.total_errors(), 0u);
  ASSERT_EQ(d->sink.flows.size(), 1u);
  EXPECT_EQ(d->sink.flows[0].bytes, 2000u);
  EXPECT_EQ(d->sink.flows[0].etype, 0);
}

TEST(Sflow, SampledEthernetAndIpv4WithoutRawHeader) {
  Xdr x;
  datagram_header_v4(x, 1);
  x.begin(sf::flow_sample);
  flow_sample_fields(x, 5, 1, 4, 1, 2, 2);
  x.begin(sf::record_ethernet)
      .u32(1000)
      .opaque_fixed({0xaa, 1, 2, 3, 4, 5})
      .opaque_fixed({0xbb, 1, 2, 3, 4, 5});
  x.u32(0x0800).end();
  x.begin(sf::record_ipv4)
      .u32(982)
      .u32(17)
      .u32(0xc0000201)
      .u32(0xc6336401)
      .u32(123)
      .u32(456)
      .u32(0)
      .u32(0x10)
      .end();
  x.end();
  auto d = decode(x.bytes());
  EXPECT_EQ(d->stats.total_errors(), 0u);
  ASSERT_EQ(d->sink.flows.size(), 1u);
  const FlowRecord& r = d->sink.flows[0];
  EXPECT_EQ(mac(r.src_mac), "aa:01:02:03:04:05");
  EXPECT_EQ(mac(r.dst_mac), "bb:01:02:03:04:05");
  EXPECT_EQ(r.etype, 0x0800);
  EXPECT_EQ(r.raw_bytes, 1000u);  // the Ethernet frame's length wins over the IP packet's
  EXPECT_EQ(r.bytes, 4000u);
  EXPECT_EQ(str(r.src_addr), "192.0.2.1");
  EXPECT_EQ(str(r.dst_addr), "198.51.100.1");
  EXPECT_EQ(r.proto, 17);
  EXPECT_EQ(r.src_port, 123);
  EXPECT_EQ(r.dst_port, 456);
  EXPECT_EQ(r.ip_tos, 0x10);
}

TEST(Sflow, RawHeaderWinsOverSampledIpv4WhateverTheOrder) {
  Xdr x;
  datagram_header_v4(x, 1);
  x.begin(sf::flow_sample);
  flow_sample_fields(x, 5, 1, 1, 1, 2, 2);
  x.begin(sf::record_ipv4).u32(77).u32(17).u32(0x01010101).u32(0x02020202).u32(1).u32(2).u32(0).u32(0).end();
  raw_header_record(x, sf::header_ethernet, 1518, ethernet_frame({}, 0x0800, ipv4_tcp_packet()));
  x.end();
  auto d = decode(x.bytes());
  ASSERT_EQ(d->sink.flows.size(), 1u);
  EXPECT_EQ(str(d->sink.flows[0].src_addr), "10.1.1.1");
  EXPECT_EQ(d->sink.flows[0].proto, 6);
  EXPECT_EQ(d->sink.flows[0].bytes, 1518u);
}

TEST(Sflow, InterfaceFormats) {
  Xdr x;
  datagram_header_v4(x, 2);
  x.begin(sf::flow_sample);  // output discarded (format 1, reason 258): dropped, no out_if
  flow_sample_fields(x, 1, 1, 1, 6, (1u << 30) | 258, 0);
  x.end();
  x.begin(sf::flow_sample);  // output to 3 interfaces (format 2)
  flow_sample_fields(x, 2, 1, 1, 6, (2u << 30) | 3, 0);
  x.end();
  auto d = decode(x.bytes());
  EXPECT_EQ(d->stats.total_errors(), 0u);
  ASSERT_EQ(d->sink.flows.size(), 2u);
  EXPECT_EQ(d->sink.flows[0].in_if, 6u);
  EXPECT_EQ(d->sink.flows[0].out_if, 0u);
  EXPECT_EQ(d->sink.flows[0].forwarding_status, 0x80);
  EXPECT_EQ(d->sink.flows[0].bytes, 0u);  // no record with a length
  EXPECT_EQ(d->sink.flows[0].packets, 1u);
  EXPECT_EQ(d->sink.flows[1].out_if, 0u);
  EXPECT_EQ(d->sink.flows[1].forwarding_status, 0);
}

void generic_counters(Xdr& x, std::uint32_t if_index) {
  x.begin(sf::counters_generic_interface);
  x.u32(if_index)
      .u32(6 /* ethernetCsmacd */)
      .u64(10'000'000'000ULL)
      .u32(1 /* full duplex */)
      .u32(3 /* up/up */);
  x.u64(123456789012ULL).u32(1001).u32(1002).u32(1003).u32(1004).u32(1005).u32(1006);
  x.u64(987654321098ULL).u32(2001).u32(2002).u32(2003).u32(2004).u32(2005).u32(1 /* promiscuous */);
  x.end();
}

TEST(Sflow, CounterSamplesCompactAndExpanded) {
  Xdr x;
  datagram_header_v4(x, 3);
  x.begin(sf::counter_sample).u32(11 /* seq */).u32(17 /* source id */).u32(2 /* records */);
  x.begin(2 /* ethernet counters: skipped */).raw(Bytes(52, 0)).end();
  generic_counters(x, 17);
  x.end();
  x.begin(sf::counter_sample_expanded).u32(12).u32(0).u32(0x00abcdef).u32(1);
  generic_counters(x, 0x00abcdef);
  x.end();
  x.begin(sf::flow_sample);
  flow_sample_fields(x, 1, 1, 1, 1, 2, 0);
  x.end();
  auto d = decode(x.bytes());
  EXPECT_EQ(d->stats.total_errors(), 0u);
  EXPECT_EQ(d->stats.counter_records, 2u);
  EXPECT_EQ(d->stats.records, 1u);
  ASSERT_EQ(d->sink.counters.size(), 2u);
  const InterfaceCounters& c = d->sink.counters[0];
  EXPECT_EQ(c.time_received_ns, now_ns);
  EXPECT_EQ(str(c.sampler_address), "192.0.2.1");
  EXPECT_EQ(c.observation_domain, 17u);
  EXPECT_EQ(c.sequence_number, 11u);
  EXPECT_EQ(c.if_index, 17u);
  EXPECT_EQ(c.if_type, 6u);
  EXPECT_EQ(c.if_speed, 10'000'000'000ULL);
  EXPECT_EQ(c.if_direction, 1u);
  EXPECT_EQ(c.if_status, 3u);
  EXPECT_EQ(c.in_octets, 123456789012ULL);
  EXPECT_EQ(c.in_ucast_pkts, 1001u);
  EXPECT_EQ(c.in_multicast_pkts, 1002u);
  EXPECT_EQ(c.in_broadcast_pkts, 1003u);
  EXPECT_EQ(c.in_discards, 1004u);
  EXPECT_EQ(c.in_errors, 1005u);
  EXPECT_EQ(c.in_unknown_protos, 1006u);
  EXPECT_EQ(c.out_octets, 987654321098ULL);
  EXPECT_EQ(c.out_ucast_pkts, 2001u);
  EXPECT_EQ(c.out_multicast_pkts, 2002u);
  EXPECT_EQ(c.out_broadcast_pkts, 2003u);
  EXPECT_EQ(c.out_discards, 2004u);
  EXPECT_EQ(c.out_errors, 2005u);
  EXPECT_EQ(c.promiscuous_mode, 1u);
  EXPECT_EQ(d->sink.counters[1].observation_domain, 0x00abcdefu);
  EXPECT_EQ(d->sink.counters[1].sequence_number, 12u);
  EXPECT_EQ(d->sink.counters[1].if_index, 0x00abcdefu);
}

TEST(Sflow, ManySamplesCrossTheWriterBatch) {
  constexpr std::uint32_t n = 150;  // more than RecordWriter::batch (64)
  Xdr x;
  datagram_header_v4(x, n);
  for (std::uint32_t i = 0; i < n; ++i) {
    x.begin(sf::flow_sample);
    flow_sample_fields(x, i, 1, 1, 1, 2, 0);
    x.end();
  }
  auto d = decode(x.bytes());
  EXPECT_EQ(d->stats.records, n);
  ASSERT_EQ(d->sink.flows.size(), n);
  for (std::uint32_t i = 0; i < n; ++i) EXPECT_EQ(d->sink.flows[i].sequence_number, i);
}

TEST(Sflow, VersionsOtherThanFive) {
  for (std::uint32_t v : {2u, 4u}) {
    Xdr x;
    x.u32(v).ipv4("192.0.2.1").u32(0).u32(0).u32(0);
    auto d = decode(x.bytes());
    EXPECT_EQ(d->stats.error(DropReason::unsupported), 1u) << v;
    EXPECT_EQ(d->stats.total_errors(), 1u);
  }
  for (std::uint32_t v : {0u, 1u, 3u, 6u, 9u, 0x05000000u}) {
    Xdr x;
    x.u32(v).ipv4("192.0.2.1").u32(0).u32(0).u32(0).u32(0);
    auto d = decode(x.bytes());
    EXPECT_EQ(d->stats.error(DropReason::bad_version), 1u) << v;
    EXPECT_EQ(d->stats.total_errors(), 1u);
    EXPECT_EQ(d->stats.datagrams, 1u);
  }
}

TEST(Sflow, UnknownSampleFormatIsSkippedByLength) {
  Xdr x;
  datagram_header_v4(x, 3);
  x.begin((4413u << 12) | 5 /* an enterprise sample */).u32(1).u32(2).u32(3).end();
  x.begin(5 /* discarded packet sample */).raw(Bytes(40, 0xee)).end();
  x.begin(sf::flow_sample);
  flow_sample_fields(x, 3, 1, 1, 1, 2, 0);
  x.end();
  auto d = decode(x.bytes());
  EXPECT_EQ(d->stats.error(DropReason::unsupported), 2u);
  EXPECT_EQ(d->stats.total_errors(), 2u);
  ASSERT_EQ(d->sink.flows.size(), 1u);
  EXPECT_EQ(d->sink.flows[0].sequence_number, 3u);
}

TEST(Sflow, UnknownAgentAddressTypeDropsTheDatagram) {
  Xdr x;
  x.u32(5).u32(3).u32(0x0a000001).u32(0).u32(0).u32(0).u32(0);
  auto d = decode(x.bytes());
  EXPECT_EQ(d->stats.error(DropReason::bad_sample), 1u);
  EXPECT_EQ(d->stats.total_errors(), 1u);
}

TEST(Sflow, AgentAddressTypeUnknownHasNoAddress) {
  Xdr x;
  x.u32(5).u32(sf::address_unknown).u32(0).u32(0).u32(0).u32(1);
  x.begin(sf::flow_sample);
  flow_sample_fields(x, 1, 1, 1, 1, 2, 0);
  x.end();
  auto d = decode(x.bytes());
  EXPECT_EQ(d->stats.total_errors(), 0u);
  ASSERT_EQ(d->sink.flows.size(), 1u);
  EXPECT_TRUE(d->sink.flows[0].sampler_address.empty());
}

// A datagram with a good sample, then `bad`, then a good one: the bad one is counted with `why`
// and both good samples come through (the framing of the datagram is intact).
void expect_bad_sample_between_good_ones(void (*bad)(Xdr&), DropReason why, const char* what) {
  SCOPED_TRACE(what);
  Xdr x;
  datagram_header_v4(x, 3);
  x.begin(sf::flow_sample);
  flow_sample_fields(x, 1, 1, 1, 1, 2, 0);
  x.end();
  bad(x);
  x.begin(sf::flow_sample);
  flow_sample_fields(x, 3, 1, 1, 1, 2, 0);
  x.end();
  auto d = decode(x.bytes());
  EXPECT_EQ(d->stats.error(why), 1u);
  EXPECT_EQ(d->stats.total_errors(), 1u);
  EXPECT_EQ(d->stats.records, 2u);
  ASSERT_EQ(d->sink.flows.size(), 2u);
  EXPECT_EQ(d->sink.flows[0].sequence_number, 1u);
  EXPECT_EQ(d->sink.flows[1].sequence_number, 3u);
  EXPECT_TRUE(d->sink.counters.empty());
}

TEST(Sflow, MalformedSamplesAreCountedAndSkipped) {
  expect_bad_sample_between_good_ones([](Xdr& x) { x.begin(sf::flow_sample).u32(2).u32(1).u32(1).end(); },
                                      DropReason::bad_sample, "flow sample shorter than its fixed fields");
  expect_bad_sample_between_good_ones(
      [](Xdr& x) { x.begin(sf::flow_sample_expanded).u32(2).u32(0).u32(1).u32(1).u32(1).u32(0).end(); },
      DropReason::bad_sample, "expanded flow sample shorter than its fixed fields");
  expect_bad_sample_between_good_ones(
      [](Xdr& x) {
        x.begin(sf::flow_sample);
        flow_sample_fields(x, 2, 1, 1, 1, 2, 1);
        x.u32(sf::record_raw_header).u32(400 /* past the sample */).raw(Bytes(16, 0));
        x.end();
      },
      DropReason::bad_sample, "record length past the sample");
  expect_bad_sample_between_good_ones(
      [](Xdr& x) {
        x.begin(sf::flow_sample);
        flow_sample_fields(x, 2, 1, 1, 1, 2, 3 /* records announced, one present */);
        x.begin(sf::record_extended_switch).u32(1).u32(0).u32(2).u32(0).end();
        x.end();
      },
      DropReason::bad_sample, "more records announced than the sample holds");
  expect_bad_sample_between_good_ones(
      [](Xdr& x) {
        x.begin(sf::flow_sample);
        flow_sample_fields(x, 2, 1, 1, 1, 2, 1);
        x.begin(sf::record_raw_header)
            .u32(1)
            .u32(1518)
            .u32(4)
            .u32(128 /* header bytes */)
            .raw(Bytes(64, 0))
            .end();
        x.end();
      },
      DropReason::bad_sample, "header length past the record");
  expect_bad_sample_between_good_ones(
      [](Xdr& x) {
        x.begin(sf::flow_sample);
        flow_sample_fields(x, 2, 1, 1, 1, 2, 1);
        // 62 header bytes need 64 with XDR padding; the record holds 16 + 62, so its own length is
        // not XDR either (the 2 bytes after it keep the sample aligned).
        x.begin(sf::record_raw_header).u32(1).u32(1518).u32(4).u32(62).raw(Bytes(62, 0)).end();
        x.raw({0, 0});
        x.end();
      },
      DropReason::bad_sample, "header without its XDR padding");
  expect_bad_sample_between_good_ones(
      [](Xdr& x) {
        x.begin(sf::flow_sample);
        flow_sample_fields(x, 2, 1, 1, 1, 2, 1);
        raw_header_record(x, sf::header_ethernet, 50 /* frame shorter than its 54-byte header */,
                          ethernet_frame({}, 0x0800, ipv4_tcp_packet()));
        x.end();
      },
      DropReason::bad_sample, "header longer than the frame");
  expect_bad_sample_between_good_ones(
      [](Xdr& x) {
        x.begin(sf::flow_sample);
        flow_sample_fields(x, 2, 1, 1, 1, 2, 1);
        raw_header_record(x, sf::header_ethernet, 100, Bytes(20, 0), 101 /* stripped > frame */);
        x.end();
      },
      DropReason::bad_sample, "stripped longer than the frame");
  expect_bad_sample_between_good_ones(
      [](Xdr& x) {
        x.begin(sf::flow_sample);
        flow_sample_fields(x, 2, 1, 1, 1, 2, 1);
        x.begin(sf::record_raw_header).u32(1).u32(1518).u32(4).end();
        x.end();
      },
      DropReason::bad_sample, "raw header record shorter than its fixed fields");
  expect_bad_sample_between_good_ones(
      [](Xdr& x) {
        x.begin(sf::flow_sample);
        flow_sample_fields(x, 2, 1, 1, 1, 2, 1);
        x.begin(sf::record_ipv4).u32(100).u32(6).u32(1).u32(2).u32(3).u32(4).u32(0).end();  // 28 of 32
        x.end();
      },
      DropReason::bad_sample, "sampled IPv4 too short");
  expect_bad_sample_between_good_ones(
      [](Xdr& x) {
        x.begin(sf::flow_sample);
        flow_sample_fields(x, 2, 1, 1, 1, 2, 1);
        x.begin(sf::record_ipv6).u32(100).u32(6).raw(Bytes(40, 0)).end();  // 48 of 56
        x.end();
      },
      DropReason::bad_sample, "sampled IPv6 too short");
  expect_bad_sample_between_good_ones(
      [](Xdr& x) {
        x.begin(sf::flow_sample);
        flow_sample_fields(x, 2, 1, 1, 1, 2, 1);
        x.begin(sf::record_ethernet).u32(100).raw(Bytes(16, 0)).end();  // 20 of 24
        x.end();
      },
      DropReason::bad_sample, "sampled Ethernet too short");
  expect_bad_sample_between_good_ones(
      [](Xdr& x) {
        x.begin(sf::flow_sample);
        flow_sample_fields(x, 2, 1, 1, 1, 2, 1);
        x.begin(sf::record_extended_switch).u32(1).u32(0).u32(2).end();
        x.end();
      },
      DropReason::bad_sample, "extended switch too short");
  expect_bad_sample_between_good_ones(
      [](Xdr& x) {
        x.begin(sf::flow_sample);
        flow_sample_fields(x, 2, 1, 1, 1, 2, 1);
        x.begin(sf::record_extended_router).u32(7 /* address type */).u32(0x01020304).u32(24).u32(24).end();
        x.end();
      },
      DropReason::bad_sample, "extended router with an unknown address type");
  expect_bad_sample_between_good_ones(
      [](Xdr& x) {
        x.begin(sf::flow_sample);
        flow_sample_fields(x, 2, 1, 1, 1, 2, 1);
        x.begin(sf::record_extended_router).ipv4("192.0.2.1").u32(24).u32(129).end();
        x.end();
      },
      DropReason::bad_sample, "extended router prefix length over 128");
  expect_bad_sample_between_good_ones(
      [](Xdr& x) {
        x.begin(sf::flow_sample);
        flow_sample_fields(x, 2, 1, 1, 1, 2, 1);
        x.begin(sf::record_extended_router).ipv6("2001:db8::1").u32(24).end();
        x.end();
      },
      DropReason::bad_sample, "extended router cut short");
  expect_bad_sample_between_good_ones(
      [](Xdr& x) {
        x.begin(sf::flow_sample);
        flow_sample_fields(x, 2, 1, 1, 1, 2, 1);
        x.begin(sf::record_extended_gateway).ipv4("192.0.2.1").u32(1).u32(2).u32(3).u32(1);
        x.u32(2).u32(0x40000000 /* ASNs: far more than the record holds */).u32(64500).end();
        x.end();
      },
      DropReason::bad_sample, "extended gateway AS path past the record");
  expect_bad_sample_between_good_ones(
      [](Xdr& x) {
        x.begin(sf::flow_sample);
        flow_sample_fields(x, 2, 1, 1, 1, 2, 1);
        x.begin(sf::record_extended_gateway).ipv4("192.0.2.1").u32(1).u32(2).u32(3).u32(0xffffffff).end();
        x.end();
      },
      DropReason::bad_sample, "extended gateway with 2^32-1 segments");
  expect_bad_sample_between_good_ones(
      [](Xdr& x) {
        x.begin(sf::counter_sample).u32(2).u32(1).u32(2);
        generic_counters(x, 1);
        x.begin(sf::counters_generic_interface).raw(Bytes(84, 0)).end();  // 84 of 88
        x.end();
      },
      DropReason::bad_sample, "generic counters too short: the whole counter sample is dropped");
  expect_bad_sample_between_good_ones(
      [](Xdr& x) {
        x.begin(sf::counter_sample).u32(2).u32(1).u32(2);
        generic_counters(x, 1);
        x.end();
      },
      DropReason::bad_sample, "counter sample announcing more records than it holds");
  expect_bad_sample_between_good_ones(
      [](Xdr& x) { x.begin(sf::counter_sample_expanded).u32(2).u32(0).end(); }, DropReason::bad_sample,
      "expanded counter sample shorter than its fixed fields");
  expect_bad_sample_between_good_ones(
      [](Xdr& x) {
        x.begin(sf::flow_sample);
        flow_sample_fields(x, 2, 1, 1, 1, 2, 1);
        x.begin(sf::record_extended_switch).u32(1).u32(0).u32(2).u32(0).raw({0, 0}).end();  // length 18
        x.raw({0, 0});
        x.end();
      },
      DropReason::bad_sample, "record length not a multiple of 4");
}

TEST(Sflow, SampleLengthNotAMultipleOfFour) {
  Xdr x;
  datagram_header_v4(x, 2);
  x.begin(sf::flow_sample);
  flow_sample_fields(x, 1, 1, 1, 1, 2, 0);
  x.raw({0, 0});  // sample length 34: the padding that follows keeps the next sample framed
  x.end();
  x.raw({0, 0});
  x.begin(sf::flow_sample);
  flow_sample_fields(x, 2, 1, 1, 1, 2, 0);
  x.end();
  auto d = decode(x.bytes());
  EXPECT_EQ(d->stats.error(DropReason::bad_sample), 1u);
  EXPECT_EQ(d->stats.total_errors(), 1u);
  ASSERT_EQ(d->sink.flows.size(), 1u);
  EXPECT_EQ(d->sink.flows[0].sequence_number, 2u);
}

TEST(Sflow, SampleLengthPastTheDatagramIsTruncated) {
  Xdr x;
  datagram_header_v4(x, 2);
  x.begin(sf::flow_sample);
  flow_sample_fields(x, 1, 1, 1, 1, 2, 0);
  x.end();
  x.u32(sf::flow_sample).u32(1000).raw(Bytes(40, 0));
  auto d = decode(x.bytes());
  EXPECT_EQ(d->stats.error(DropReason::truncated), 1u);
  EXPECT_EQ(d->stats.total_errors(), 1u);
  EXPECT_EQ(d->sink.flows.size(), 1u);  // the sample before it
}

TEST(Sflow, FewerSamplesThanAnnouncedIsTruncated) {
  Xdr x;
  datagram_header_v4(x, 1000);
  x.begin(sf::flow_sample);
  flow_sample_fields(x, 1, 1, 1, 1, 2, 0);
  x.end();
  auto d = decode(x.bytes());
  EXPECT_EQ(d->stats.error(DropReason::truncated), 1u);
  EXPECT_EQ(d->stats.total_errors(), 1u);
  EXPECT_EQ(d->sink.flows.size(), 1u);
}

// Every proper prefix of a valid datagram is a truncated datagram: each must be decoded without a
// read past its end (the buffer is an exact heap copy, so ASan builds catch one) and must count at
// least one error; no prefix may yield more records than the whole datagram.
TEST(Sflow, EveryTruncationCountsAnError) {
  Xdr x;
  datagram_header_v6(x, 4);
  x.begin(sf::flow_sample);
  flow_sample_fields(x, 1, 1, 256, 1, 2, 3);
  raw_header_record(x, sf::header_ethernet, 1518, ethernet_frame({{0x8100, 5}}, 0x0800, ipv4_tcp_packet()));
  x.begin(sf::record_extended_switch).u32(5).u32(0).u32(6).u32(0).end();
  x.begin(sf::record_extended_gateway).ipv4("198.51.100.1").u32(1).u32(2).u32(3).u32(1).u32(2).u32(2);
  x.u32(10).u32(11).u32(0).u32(0).end();
  x.end();
  x.begin(sf::counter_sample).u32(1).u32(1).u32(1);
  generic_counters(x, 1);
  x.end();
  x.begin(sf::flow_sample_expanded)
      .u32(2)
      .u32(0)
      .u32(1)
      .u32(1)
      .u32(0)
      .u32(0)
      .u32(0)
      .u32(1)
      .u32(0)
      .u32(2)
      .u32(1);
  x.begin(sf::record_ipv6).u32(100).u32(17).raw(Bytes(32, 1)).u32(1).u32(2).u32(0).u32(0).end();
  x.end();
  x.begin(sf::counter_sample_expanded).u32(2).u32(0).u32(1).u32(1);
  generic_counters(x, 2);
  x.end();
  const Bytes& full = x.bytes();
  auto whole = decode(full);
  ASSERT_EQ(whole->stats.total_errors(), 0u);
  ASSERT_EQ(whole->stats.records, 2u);
  ASSERT_EQ(whole->stats.counter_records, 2u);
  for (std::size_t cut = 0; cut < full.size(); ++cut) {
    auto d = decode(Bytes(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(cut)));
    EXPECT_GE(d->stats.total_errors(), 1u) << "cut at " << cut;
    EXPECT_EQ(d->stats.error(DropReason::truncated), 1u) << "cut at " << cut;
    EXPECT_LT(d->stats.records + d->stats.counter_records, 4u) << "cut at " << cut;
    EXPECT_EQ(d->sink.flows.size(), d->stats.records);
    EXPECT_EQ(d->sink.counters.size(), d->stats.counter_records);
  }
}

// Statistics accumulate across datagrams into one DecodeStats, as a worker keeps them per exporter.
TEST(Sflow, StatsAccumulateAcrossDatagrams) {
  Decoded d;
  decode_into(one_sample_v4(10, 1518, ethernet_frame({}, 0x0800, ipv4_tcp_packet())), d);
  decode_into(Bytes{0, 0, 0, 5}, d);
  decode_into(one_sample_v4(10, 1518, ethernet_frame({}, 0x0800, ipv4_tcp_packet())), d);
  EXPECT_EQ(d.stats.datagrams, 3u);
  EXPECT_EQ(d.stats.records, 2u);
  EXPECT_EQ(d.stats.error(DropReason::truncated), 1u);
  EXPECT_EQ(d.sink.flows.size(), 2u);
}

}  // namespace
}  // namespace flowpulse
