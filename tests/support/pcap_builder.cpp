#include "pcap_builder.hpp"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include "core/ip_address.hpp"

namespace flowpulse::test {

namespace {

// pcap file headers are in the writer's byte order; this writer uses little-endian.
void put32le(Bytes& b, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) put8(b, (v >> (8 * i)) & 0xff);
}
void put16le(Bytes& b, unsigned v) {
  put8(b, v & 0xff);
  put8(b, v >> 8);
}

std::uint32_t sum16(const std::uint8_t* p, std::size_t n, std::uint32_t acc = 0) {
  for (std::size_t i = 0; i + 1 < n; i += 2) acc += static_cast<std::uint32_t>((p[i] << 8) | p[i + 1]);
  if (n % 2 != 0) acc += static_cast<std::uint32_t>(p[n - 1] << 8);
  return acc;
}
std::uint16_t fold(std::uint32_t acc) {
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  return static_cast<std::uint16_t>(~acc & 0xffff);
}

const std::uint8_t* addr_bytes(const IpAddress& a) { return a.is_v4() ? &a.bytes[12] : a.bytes.data(); }

}  // namespace

IpAddress ip(const std::string& text) {
  auto a = core::parse_ip(text);
  if (!a) throw std::runtime_error("bad address in test: " + text);
  return *a;
}

std::size_t ip_header_size(const FiveTuple& t) { return t.src.is_v4() ? 20 : 40; }
std::size_t l4_header_size(const FiveTuple& t) { return t.proto == 6 ? 20 : 8; }

Bytes ip_packet(const FiveTuple& t, std::size_t payload_len, const PacketOptions& o) {
  Bytes payload(payload_len);
  for (std::size_t i = 0; i < payload_len; ++i) payload[i] = static_cast<std::uint8_t>('a' + i % 26);
  return ip_packet_with(t, payload, o);
}

Bytes ip_packet_with(const FiveTuple& t, const Bytes& payload, const PacketOptions& o) {
  if (t.src.family != t.dst.family || t.src.empty())
    throw std::runtime_error("five-tuple needs one address family");
  const bool v4 = t.src.is_v4();
  Bytes l4;
  if (t.proto == 6) {
    put16(l4, t.src_port);
    put16(l4, t.dst_port);
    put32(l4, 1);  // seq
    put32(l4, 0);  // ack
    put8(l4, 5 << 4);
    put8(l4, o.tcp_flags);
    put16(l4, 65535);
    put16(l4, 0);  // checksum, below
    put16(l4, 0);
  } else if (t.proto == 17) {
    put16(l4, t.src_port);
    put16(l4, t.dst_port);
    put16(l4, static_cast<unsigned>(8 + payload.size()));
    put16(l4, 0);
  } else {  // ICMP / ICMPv6 echo request; the ports carry nothing
    put8(l4, v4 ? 8 : 128);
    put8(l4, 0);
    put16(l4, 0);
    put32(l4, 0x00010001);
  }
  l4.insert(l4.end(), payload.begin(), payload.end());

  // Checksum over the pseudo-header (not for ICMPv4) and the segment.
  std::uint32_t acc = 0;
  if (t.proto != 1) {
    acc = sum16(addr_bytes(t.src), v4 ? 4 : 16, acc);
    acc = sum16(addr_bytes(t.dst), v4 ? 4 : 16, acc);
    acc += t.proto;
    acc += static_cast<std::uint32_t>(l4.size());
  }
  acc = sum16(l4.data(), l4.size(), acc);
  std::uint16_t ck = fold(acc);
  if (t.proto == 17 && ck == 0) ck = 0xffff;
  const std::size_t ck_at = t.proto == 6 ? 16 : (t.proto == 17 ? 6 : 2);
  l4[ck_at] = static_cast<std::uint8_t>(ck >> 8);
  l4[ck_at + 1] = static_cast<std::uint8_t>(ck);

  Bytes b;
  if (v4) {
    put8(b, 0x45);
    put8(b, o.tos);
    put16(b, static_cast<unsigned>(20 + l4.size()));
    put16(b, o.ipv4_id);
    put16(b, 0x4000);  // DF
    put8(b, o.ttl);
    put8(b, t.proto);
    put16(b, 0);
    b.insert(b.end(), &t.src.bytes[12], &t.src.bytes[16]);
    b.insert(b.end(), &t.dst.bytes[12], &t.dst.bytes[16]);
    const std::uint16_t hck = fold(sum16(b.data(), 20));
    b[10] = static_cast<std::uint8_t>(hck >> 8);
    b[11] = static_cast<std::uint8_t>(hck);
  } else {
    put32(b, (6u << 28) | (std::uint32_t{o.tos} << 20));
    put16(b, static_cast<unsigned>(l4.size()));
    put8(b, t.proto);
    put8(b, o.ttl);
    b.insert(b.end(), t.src.bytes.begin(), t.src.bytes.end());
    b.insert(b.end(), t.dst.bytes.begin(), t.dst.bytes.end());
  }
  b.insert(b.end(), l4.begin(), l4.end());
  return b;
}

std::vector<Bytes> fragment_ip_packet(const Bytes& packet, std::size_t mtu, std::uint32_t id) {
  const bool v4 = !packet.empty() && (packet[0] >> 4) == 4;
  const std::size_t header = v4 ? static_cast<std::size_t>(packet[0] & 0x0f) * 4 : 40;
  const std::size_t per_fragment = ((mtu - header - (v4 ? 0 : 8)) / 8) * 8;  // a multiple of 8
  if (packet.size() <= mtu) return {packet};
  if (per_fragment == 0) throw std::runtime_error("fragment_ip_packet: MTU too small");
  std::vector<Bytes> out;
  for (std::size_t off = header; off < packet.size(); off += per_fragment) {
    const std::size_t len = std::min(per_fragment, packet.size() - off);
    const bool more = off + len < packet.size();
    const std::size_t frag_off = off - header;
    Bytes f(packet.begin(), packet.begin() + static_cast<std::ptrdiff_t>(header));
    if (v4) {
      const std::size_t total = header + len;
      f[2] = static_cast<std::uint8_t>(total >> 8);
      f[3] = static_cast<std::uint8_t>(total);
      f[4] = static_cast<std::uint8_t>(id >> 8);
      f[5] = static_cast<std::uint8_t>(id);
      const unsigned flags = (more ? 0x2000u : 0u) | static_cast<unsigned>(frag_off / 8);
      f[6] = static_cast<std::uint8_t>(flags >> 8);
      f[7] = static_cast<std::uint8_t>(flags);
      f[10] = f[11] = 0;
      const std::uint16_t hck = fold(sum16(f.data(), header));
      f[10] = static_cast<std::uint8_t>(hck >> 8);
      f[11] = static_cast<std::uint8_t>(hck);
    } else {
      const std::uint8_t next = f[6];
      f[4] = static_cast<std::uint8_t>((len + 8) >> 8);
      f[5] = static_cast<std::uint8_t>(len + 8);
      f[6] = 44;  // fragment header
      put8(f, next);
      put8(f, 0);
      put16(f, static_cast<unsigned>(frag_off) | (more ? 1u : 0u));
      put32(f, id);
    }
    f.insert(f.end(), packet.begin() + static_cast<std::ptrdiff_t>(off),
             packet.begin() + static_cast<std::ptrdiff_t>(off + len));
    out.push_back(std::move(f));
  }
  return out;
}

Bytes ethernet_frame(const Bytes& ip, std::uint16_t vlan) {
  Bytes f = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
  if (vlan != 0) {
    put16(f, 0x8100);
    put16(f, vlan);
  }
  put16(f, (!ip.empty() && (ip[0] >> 4) == 6) ? 0x86dd : 0x0800);
  f.insert(f.end(), ip.begin(), ip.end());
  return f;
}

PcapBuilder::PcapBuilder(std::uint32_t link_type, bool nanosecond, std::uint32_t snaplen)
    : nanosecond_(nanosecond), snaplen_(snaplen) {
  put32le(out_, nanosecond ? 0xa1b23c4d : 0xa1b2c3d4);
  put16le(out_, 2);
  put16le(out_, 4);
  put32le(out_, 0);  // thiszone
  put32le(out_, 0);  // sigfigs
  put32le(out_, snaplen);
  put32le(out_, link_type);
}

void PcapBuilder::add(std::uint64_t time_ns, const Bytes& frame) {
  const auto captured = static_cast<std::uint32_t>(std::min<std::size_t>(frame.size(), snaplen_));
  put32le(out_, static_cast<std::uint32_t>(time_ns / 1'000'000'000ULL));
  const std::uint64_t frac = time_ns % 1'000'000'000ULL;
  put32le(out_, static_cast<std::uint32_t>(nanosecond_ ? frac : frac / 1000));
  put32le(out_, captured);
  put32le(out_, static_cast<std::uint32_t>(frame.size()));
  out_.insert(out_.end(), frame.begin(), frame.begin() + captured);
  ++frames_;
}

void PcapBuilder::write(const std::filesystem::path& path) const {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(out_.data()), static_cast<std::streamsize>(out_.size()));
  if (!f) throw std::runtime_error("cannot write " + path.string());
}

}  // namespace flowpulse::test
