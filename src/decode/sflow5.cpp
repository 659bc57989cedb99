// sFlow v5 decoding. The datagram is a sequence of XDR-framed samples, each a sequence of XDR-framed
// records; all framing is checked here before any field is read, and each record's fields are read
// through a WireReader bounded to that record, so no read can leave the record it belongs to.
#include "decode/sflow5.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "core/wire.hpp"
#include "decode/packet.hpp"

namespace flowpulse::decode {

namespace {

using core::load_be32;
using core::WireReader;

// Sizes of the fixed-layout records (sflow_version_5.txt); a record shorter than its layout is
// malformed, a longer one is read up to its layout (sFlow defines new formats rather than growing
// old ones, so extra bytes carry nothing we could read).
constexpr std::size_t ethernet_size = 24;  // length, src mac (6 + 2 pad), dst mac (6 + 2 pad), type
constexpr std::size_t ipv4_size = 32;
constexpr std::size_t ipv6_size = 56;
constexpr std::size_t switch_size = 16;
constexpr std::size_t generic_counters_size = 88;

// Interface format in the top 2 bits of a compact sample's input/output (and the expanded sample's
// separate format word): 0 ifIndex, 1 packet discarded (value = reason), 2 several interfaces.
constexpr std::uint32_t if_format_index = 0;
constexpr std::uint32_t if_format_discarded = 1;
// IPFIX forwardingStatus (IANA registry): 0b10 in the top two bits = dropped, reason unknown.
constexpr std::uint8_t forwarding_dropped = 0x80;

constexpr std::size_t pad4(std::size_t n) noexcept { return (n + 3) & ~std::size_t{3}; }

struct Bytes {
  const std::uint8_t* data = nullptr;
  std::size_t size = 0;
  explicit operator bool() const noexcept { return data != nullptr; }
};

// Takes an XDR opaque body of `n` bytes and its padding. A length that is not a multiple of 4 is
// not XDR; the body is still returned (framing stays known) but `aligned` is cleared.
Bytes take_opaque(WireReader& r, std::uint32_t n, bool& aligned) noexcept {
  Bytes b{r.take(n), n};
  if (!b) return {};
  if ((n & 3) != 0) {
    aligned = false;
    std::size_t pad = pad4(n) - n;
    r.skip(pad < r.remaining() ? pad : r.remaining());
  }
  return b;
}

// sFlow `address`: a type word, then 4 (IPv4), 16 (IPv6) or no (unknown) bytes. False on a type
// this decoder does not know (the rest of the structure cannot be framed) or a short read.
bool read_address(WireReader& r, IpAddress& out) noexcept {
  switch (r.u32()) {
    case sflow5::address_unknown: out = IpAddress{}; return r.ok();
    case sflow5::address_ipv4: {
      const std::uint8_t* p = r.take(4);
      if (p == nullptr) return false;
      out = IpAddress::v4_bytes(p);
      return true;
    }
    case sflow5::address_ipv6: {
      const std::uint8_t* p = r.take(16);
      if (p == nullptr) return false;
      out = IpAddress::v6_bytes(p);
      return true;
    }
    default: return false;
  }
}

// The records of one flow sample that map into the FlowRecord, found in a first pass so they apply
// in a fixed order whatever order the exporter wrote them in (raw header first, extended last).
struct FlowRecords {
  Bytes header;
  Bytes ethernet;
  Bytes ipv4;
  Bytes ipv6;
  Bytes ext_switch;
  Bytes ext_router;
  Bytes ext_gateway;
};

// Walks the records of a sample: `count` (data_format, length, body) triples that must fit in `r`.
// Calls on_record(format, body) for each; false when the framing breaks.
template <typename OnRecord>
bool walk_records(WireReader& r, std::uint32_t count, OnRecord&& on_record) noexcept {
  for (std::uint32_t i = 0; i < count; ++i) {
    const std::uint32_t format = r.u32();
    const std::uint32_t length = r.u32();
    if (!r.ok() || length > r.remaining()) return false;
    bool aligned = true;
    Bytes body = take_opaque(r, length, aligned);
    if (!body || !aligned || !on_record(format, body)) return false;
  }
  return true;
}

// Raw packet header record (0:1). Returns the frame length (bytes on the wire for this packet),
// or -1 when the record is malformed.
std::int64_t apply_raw_header(Bytes rec, FlowRecord& out) noexcept {
  WireReader r(rec.data, rec.size);
  const std::uint32_t protocol = r.u32();
  const std::uint32_t frame_length = r.u32();
  const std::uint32_t stripped = r.u32();
  const std::uint32_t header_length = r.u32();
  if (!r.ok()) return -1;
  // The header is an XDR opaque inside the record: it and its padding must fit. It cannot be longer
  // than the frame it was cut from, and what was stripped cannot exceed the frame either. (header +
  // stripped may exceed frame_length: exporters differ on whether frame_length counts the FCS.)
  if (pad4(header_length) > r.remaining() || header_length > frame_length || stripped > frame_length)
    return -1;
  const std::uint8_t* h = r.data();
  PacketInfo info;
  switch (protocol) {
    case sflow5::header_ethernet: info = parse_ethernet(h, header_length); break;
    case sflow5::header_ipv4: info = parse_ipv4(h, header_length); break;
    case sflow5::header_ipv6: info = parse_ipv6(h, header_length); break;
    default: return frame_length;  // token ring, FDDI, PPP, ...: counted, not parsed
  }
  fill_flow_record(info, out);
  return frame_length;
}

// Sampled Ethernet frame (0:2): the frame's length, MACs (XDR opaque[6], padded to 8) and type.
std::int64_t apply_ethernet(Bytes rec, FlowRecord& out) noexcept {
  if (rec.size < ethernet_size) return -1;
  const std::uint8_t* p = rec.data;
  std::memcpy(out.src_mac.data(), p + 4, 6);
  std::memcpy(out.dst_mac.data(), p + 12, 6);
  const std::uint32_t type = load_be32(p + 20);
  if (type <= 0xffff) out.etype = static_cast<std::uint16_t>(type);
  return load_be32(p);
}

// Sampled IPv4 (0:3) / IPv6 (0:4): the IP packet's length, protocol, addresses, ports, TCP flags and
// TOS (IPv6: priority, the traffic class).
std::int64_t apply_sampled_ip(Bytes rec, bool v6, FlowRecord& out) noexcept {
  const std::size_t addr = v6 ? 16 : 4;
  if (rec.size < (v6 ? ipv6_size : ipv4_size)) return -1;
  const std::uint8_t* p = rec.data;
  const std::uint32_t length = load_be32(p);
  out.proto = static_cast<std::uint8_t>(load_be32(p + 4));
  out.src_addr = v6 ? IpAddress::v6_bytes(p + 8) : IpAddress::v4_bytes(p + 8);
  out.dst_addr = v6 ? IpAddress::v6_bytes(p + 8 + addr) : IpAddress::v4_bytes(p + 8 + addr);
  p += 8 + 2 * addr;
  out.src_port = static_cast<std::uint16_t>(load_be32(p));
  out.dst_port = static_cast<std::uint16_t>(load_be32(p + 4));
  out.tcp_flags = static_cast<std::uint8_t>(load_be32(p + 8));
  out.ip_tos = static_cast<std::uint8_t>(load_be32(p + 12));
  out.etype = v6 ? ethertype_ipv6 : ethertype_ipv4;
  return length;
}

// Extended switch (0:1001): VLANs in and out (priorities have no FlowRecord member). The switch's
// word wins over a tag in the sampled header: the header may have been captured after untagging.
bool apply_switch(Bytes rec, FlowRecord& out) noexcept {
  if (rec.size < switch_size) return false;
  const std::uint32_t src_vlan = load_be32(rec.data);
  const std::uint32_t dst_vlan = load_be32(rec.data + 8);
  if (src_vlan < 4096) out.src_vlan = static_cast<std::uint16_t>(src_vlan);
  if (dst_vlan < 4096) out.dst_vlan = static_cast<std::uint16_t>(dst_vlan);
  return true;
}

// Extended router (0:1002): next hop and the source / destination prefix lengths.
bool apply_router(Bytes rec, FlowRecord& out) noexcept {
  WireReader r(rec.data, rec.size);
  IpAddress next_hop;
  if (!read_address(r, next_hop)) return false;
  const std::uint32_t src_mask = r.u32();
  const std::uint32_t dst_mask = r.u32();
  if (!r.ok() || src_mask > 128 || dst_mask > 128) return false;
  out.next_hop = next_hop;
  out.src_prefix_len = static_cast<std::uint8_t>(src_mask);
  out.dst_prefix_len = static_cast<std::uint8_t>(dst_mask);
  return true;
}

// Extended gateway (0:1003): BGP next hop, the router's AS, source AS, source peer AS, then the
// destination AS path as segments (type, count, ASNs); communities and local pref follow and are not
// read. Like goflow2: dst_as is the path's last AS and next_hop_as its first; with an empty path the
// destination is in the router's own AS, and a source AS of 0 means the router's own AS too.
bool apply_gateway(Bytes rec, FlowRecord& out) noexcept {
  WireReader r(rec.data, rec.size);
  IpAddress next_hop;
  if (!read_address(r, next_hop)) return false;
  const std::uint32_t router_as = r.u32();
  const std::uint32_t src_as = r.u32();
  r.u32();  // src_peer_as: no FlowRecord member
  const std::uint32_t segments = r.u32();
  if (!r.ok()) return false;
  std::uint32_t first_as = 0;
  std::uint32_t last_as = 0;
  bool any = false;
  for (std::uint32_t s = 0; s < segments; ++s) {
    r.u32();  // segment type: AS_SET or AS_SEQUENCE
    const std::uint32_t n = r.u32();
    // One bounds check for the whole segment (n * 4 cannot wrap a 64-bit size_t): a hostile count
    // fails here instead of spinning the loop.
    const std::uint8_t* asns = r.take(std::size_t{n} * 4);
    if (asns == nullptr) return false;
    if (n != 0) {
      if (!any) first_as = load_be32(asns);
      last_as = load_be32(asns + (std::size_t{n} - 1) * 4);
      any = true;
    }
  }
  out.bgp_next_hop = next_hop;
  out.src_as = src_as != 0 ? src_as : router_as;
  out.dst_as = any ? last_as : router_as;
  out.next_hop_as = first_as;
  return true;
}

// Compact interface word: format in the top 2 bits, value in the low 30.
struct Interface {
  std::uint32_t format;
  std::uint32_t value;
};

void apply_interfaces(Interface in, Interface out_if, FlowRecord& rec) noexcept {
  rec.in_if = in.format == if_format_index ? in.value : 0;
  rec.out_if = out_if.format == if_format_index ? out_if.value : 0;
  if (out_if.format == if_format_discarded) rec.forwarding_status = forwarding_dropped;
}

bool decode_flow_sample(Bytes sample, bool expanded, const FlowRecord& base, RecordWriter& writer) noexcept {
  WireReader r(sample.data, sample.size);
  const std::uint32_t sequence = r.u32();
  std::uint32_t source_index;
  if (expanded) {
    r.u32();  // source id type (ifIndex, VLAN, entity): the index identifies the sampler
    source_index = r.u32();
  } else {
    source_index = r.u32() & 0x00ffffff;
  }
  const std::uint32_t rate = r.u32();
  r.u32();  // sample_pool
  r.u32();  // drops
  Interface in_if;
  Interface out_if;
  if (expanded) {
    in_if.format = r.u32();
    in_if.value = r.u32();
    out_if.format = r.u32();
    out_if.value = r.u32();
  } else {
    const std::uint32_t in = r.u32();
    const std::uint32_t out = r.u32();
    in_if = {in >> 30, in & 0x3fffffff};
    out_if = {out >> 30, out & 0x3fffffff};
  }
  const std::uint32_t record_count = r.u32();
  if (!r.ok()) return false;

  FlowRecords found;
  const bool framed = walk_records(r, record_count, [&](std::uint32_t format, Bytes body) noexcept {
    Bytes* slot = nullptr;
    switch (format) {
      case sflow5::record_raw_header: slot = &found.header; break;
      case sflow5::record_ethernet: slot = &found.ethernet; break;
      case sflow5::record_ipv4: slot = &found.ipv4; break;
      case sflow5::record_ipv6: slot = &found.ipv6; break;
      case sflow5::record_extended_switch: slot = &found.ext_switch; break;
      case sflow5::record_extended_router: slot = &found.ext_router; break;
      case sflow5::record_extended_gateway: slot = &found.ext_gateway; break;
      default: return true;  // user, URL, MPLS, NAT, enterprise records: skipped by length
    }
    if (!*slot) *slot = body;  // the first of a kind counts; repeats add nothing to one record
    return true;
  });
  if (!framed) return false;

  FlowRecord& rec = writer.add(base);
  rec.sequence_number = sequence;
  rec.observation_domain = source_index;
  rec.sampling_rate = rate;
  apply_interfaces(in_if, out_if, rec);

  // Bytes of the sampled packet: the raw header's frame length, else the sampled Ethernet frame's,
  // else the sampled IP packet's. The raw header, when present, is the whole truth about L2–L4.
  std::int64_t length = 0;
  bool ok = true;
  if (found.header) {
    length = apply_raw_header(found.header, rec);
    ok = length >= 0;
  } else {
    std::int64_t eth_length = -2;
    std::int64_t ip_length = -2;
    if (found.ethernet) eth_length = apply_ethernet(found.ethernet, rec);
    if (found.ipv4) ip_length = apply_sampled_ip(found.ipv4, false, rec);
    if (found.ipv6 && !found.ipv4) ip_length = apply_sampled_ip(found.ipv6, true, rec);
    ok = eth_length != -1 && ip_length != -1;
    length = eth_length >= 0 ? eth_length : (ip_length >= 0 ? ip_length : 0);
  }
  if (ok && found.ext_switch) ok = apply_switch(found.ext_switch, rec);
  if (ok && found.ext_router) ok = apply_router(found.ext_router, rec);
  if (ok && found.ext_gateway) ok = apply_gateway(found.ext_gateway, rec);
  if (!ok) {
    writer.drop_last();
    return false;
  }

  // A rate of 0 is not a rate: the sample stands for itself (FlowRecord: 0 = unknown, treated as 1).
  const std::uint64_t scale = rate != 0 ? rate : 1;
  rec.raw_packets = 1;
  rec.raw_bytes = static_cast<std::uint64_t>(length);
  rec.packets = scale;
  rec.bytes = rec.raw_bytes * scale;
  return true;
}

void read_generic_counters(const std::uint8_t* p, InterfaceCounters& c) noexcept {
  using core::load_be64;
  c.if_index = load_be32(p);
  c.if_type = load_be32(p + 4);
  c.if_speed = load_be64(p + 8);
  c.if_direction = load_be32(p + 16);
  c.if_status = load_be32(p + 20);
  c.in_octets = load_be64(p + 24);
  c.in_ucast_pkts = load_be32(p + 32);
  c.in_multicast_pkts = load_be32(p + 36);
  c.in_broadcast_pkts = load_be32(p + 40);
  c.in_discards = load_be32(p + 44);
  c.in_errors = load_be32(p + 48);
  c.in_unknown_protos = load_be32(p + 52);
  c.out_octets = load_be64(p + 56);
  c.out_ucast_pkts = load_be32(p + 64);
  c.out_multicast_pkts = load_be32(p + 68);
  c.out_broadcast_pkts = load_be32(p + 72);
  c.out_discards = load_be32(p + 76);
  c.out_errors = load_be32(p + 80);
  c.promiscuous_mode = load_be32(p + 84);
}

// A counter sample is all or nothing: its records are framed and checked first, then emitted, so a
// malformed sample never leaves half its interfaces behind.
bool decode_counter_sample(Bytes sample, bool expanded, const Datagram& dg, const IpAddress& agent,
                           RecordWriter& writer, DecodeStats& stats) noexcept {
  WireReader r(sample.data, sample.size);
  const std::uint32_t sequence = r.u32();
  std::uint32_t source_index;
  if (expanded) {
    r.u32();  // source id type
    source_index = r.u32();
  } else {
    source_index = r.u32() & 0x00ffffff;
  }
  const std::uint32_t record_count = r.u32();
  if (!r.ok()) return false;

  const WireReader records = r;
  bool sizes_ok = true;
  const bool framed = walk_records(r, record_count, [&](std::uint32_t format, Bytes body) noexcept {
    if (format == sflow5::counters_generic_interface && body.size < generic_counters_size) sizes_ok = false;
    return sizes_ok;
  });
  if (!framed || !sizes_ok) return false;

  r = records;
  walk_records(r, record_count, [&](std::uint32_t format, Bytes body) noexcept {
    // Ethernet, processor, host, ... records are skipped; sizes were checked in the first pass.
    if (format != sflow5::counters_generic_interface || body.size < generic_counters_size) return true;
    InterfaceCounters& c = writer.add_counters();
    c.time_received_ns = dg.time_received_ns;
    c.sampler_address = agent;
    c.observation_domain = source_index;
    c.sequence_number = sequence;
    read_generic_counters(body.data, c);
    ++stats.counter_records;
    return true;
  });
  return true;
}

// Counts and logs one rejection (rate-limited per kind and agent).
void reject(const Datagram& dg, DecodeStats& stats, DropReason why, std::string_view kind,
            std::string_view message, std::uint64_t value) {
  stats.count(why);
  log_drop(dg.exporter, kind, message, {{"value", value}});
}

}  // namespace

void decode_sflow5(const Datagram& dg, RecordWriter& out, DecodeStats& stats) noexcept {
  ++stats.datagrams;
  WireReader r(dg.data, dg.size);
  const std::uint32_t version = r.u32();
  if (!r.ok()) {
    reject(dg, stats, DropReason::truncated, "sflow_truncated", "sFlow datagram shorter than its version",
           dg.size);
    return;
  }
  if (version != sflow5::version) {
    reject(dg, stats, version == 2 || version == 4 ? DropReason::unsupported : DropReason::bad_version,
           "sflow_bad_version", "not an sFlow v5 datagram", version);
    return;
  }
  IpAddress agent;
  const bool agent_ok = read_address(r, agent);
  r.u32();  // sub_agent_id
  r.u32();  // datagram sequence number
  r.u32();  // uptime
  const std::uint32_t sample_count = r.u32();
  if (!r.ok()) {
    reject(dg, stats, DropReason::truncated, "sflow_truncated", "sFlow datagram header cut short", dg.size);
    return;
  }
  if (!agent_ok) {  // an address type we do not know: nothing after it can be framed
    reject(dg, stats, DropReason::bad_sample, "sflow_bad_agent", "unknown agent address type", 0);
    return;
  }

  FlowRecord base;
  base.type = FlowType::sflow5;
  base.time_received_ns = dg.time_received_ns;
  base.sampler_address = agent;

  // Trailing bytes after the announced samples are ignored, as sflowtool and Wireshark do.
  for (std::uint32_t i = 0; i < sample_count; ++i) {
    const std::uint32_t format = r.u32();
    const std::uint32_t length = r.u32();
    if (!r.ok() || length > r.remaining()) {  // fewer samples than announced, or one cut short
      reject(dg, stats, DropReason::truncated, "sflow_truncated", "sample runs past the end of the datagram",
             i);
      return;
    }
    bool aligned = true;
    const Bytes body = take_opaque(r, length, aligned);
    bool ok = aligned;
    switch (format) {
      case sflow5::flow_sample:
      case sflow5::flow_sample_expanded:
        if (ok) ok = decode_flow_sample(body, format == sflow5::flow_sample_expanded, base, out);
        if (ok) ++stats.records;
        break;
      case sflow5::counter_sample:
      case sflow5::counter_sample_expanded:
        if (ok)
          ok = decode_counter_sample(body, format == sflow5::counter_sample_expanded, dg, agent, out, stats);
        break;
      default:
        if (ok) {
          reject(dg, stats, DropReason::unsupported, "sflow_unsupported_sample", "sample format not decoded",
                 format);
          continue;
        }
    }
    if (!ok) reject(dg, stats, DropReason::bad_sample, "sflow_bad_sample", "malformed sample", format);
  }
}

}  // namespace flowpulse::decode
