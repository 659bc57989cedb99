// Building test traffic: IPv4/IPv6 packets with TCP, UDP or ICMP and chosen 5-tuples, payload sizes
// and flags, wrapped in Ethernet (optionally VLAN-tagged), and a pcap writer that lays them out in a
// classic pcap file (microsecond or nanosecond timestamps). Written by hand, not through libpcap,
// so the tests of the pcap reader and of the real exporters get input that does not depend on the
// code under test.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "bytes.hpp"
#include "flowpulse/flow_record.hpp"

namespace flowpulse::test {

struct FiveTuple {
  IpAddress src;
  IpAddress dst;
  std::uint8_t proto = 17;  // 6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
};

// Parses "a.b.c.d" or an IPv6 address; throws on bad text (tests only).
IpAddress ip(const std::string& text);

struct PacketOptions {
  std::uint8_t tcp_flags = 0x10;  // ACK
  std::uint8_t ttl = 64;
  std::uint8_t tos = 0;
  std::uint16_t ipv4_id = 0;
};

// An IP packet (IPv4 or IPv6 by the tuple's addresses) carrying `payload_len` bytes above TCP (20-byte
// header), UDP (8) or ICMP (8); checksums are correct. Its size is
// ip_header (20 / 40) + l4_header + payload_len.
Bytes ip_packet(const FiveTuple& t, std::size_t payload_len, const PacketOptions& o = {});
// The same with a given payload.
Bytes ip_packet_with(const FiveTuple& t, const Bytes& payload, const PacketOptions& o = {});

// Header sizes, for tests that derive expected byte counts.
std::size_t ip_header_size(const FiveTuple& t);
std::size_t l4_header_size(const FiveTuple& t);

// Cuts an IPv4 packet (IHL-sized header, its DF bit ignored) or an IPv6 packet with no extension
// headers into fragments of at most `mtu` bytes each (IPv6: a fragment header after the base
// header), in order, with fragment id `id`. A packet that fits is returned whole.
std::vector<Bytes> fragment_ip_packet(const Bytes& packet, std::size_t mtu, std::uint32_t id);

// Ethernet II around an IP packet (EtherType by its version), with an 802.1Q tag if vlan != 0.
Bytes ethernet_frame(const Bytes& ip, std::uint16_t vlan = 0);

class PcapBuilder {
 public:
  // link_type 1 = Ethernet, 101 = raw IP; nanosecond selects the a1b23c4d magic.
  explicit PcapBuilder(std::uint32_t link_type = 1, bool nanosecond = false, std::uint32_t snaplen = 262144);

  // Adds a frame at `time_ns`; the stored part is cut to the snap length, the wire length kept.
  void add(std::uint64_t time_ns, const Bytes& frame);
  std::size_t frames() const { return frames_; }

  const Bytes& bytes() const { return out_; }
  // Writes the file; throws std::runtime_error on failure.
  void write(const std::filesystem::path& path) const;

 private:
  Bytes out_;
  bool nanosecond_;
  std::uint32_t snaplen_;
  std::size_t frames_ = 0;
};

// One flow of a generated pcap and what the exporters count of it: its 5-tuple, how many packets
// and their payload size (first/last packet times are filled in by whoever writes the pcap).
struct KnownFlow {
  FiveTuple tuple;
  int packets;
  std::size_t payload;
  std::uint64_t first_ns = 0;
  std::uint64_t last_ns = 0;

  // IP total length of each packet: IP header (20 / 40) + L4 header (TCP 20, UDP 8, ICMP 8) + payload.
  std::uint64_t ip_length() const { return ip_header_size(tuple) + l4_header_size(tuple) + payload; }
  // What softflowd and pmacctd nfprobe count: IP bytes.
  std::uint64_t ip_bytes() const { return ip_length() * static_cast<std::uint64_t>(packets); }
  // What pmacctd sfprobe samples as the frame length: Ethernet header (14) + IP packet + FCS (4).
  std::uint64_t sflow_frame() const { return 14 + ip_length() + 4; }
  std::uint64_t sflow_bytes() const { return sflow_frame() * static_cast<std::uint64_t>(packets); }
};

}  // namespace flowpulse::test
