#include "decode/netflow5.hpp"

#include <array>

#include "core/ip_address.hpp"
#include "core/log.hpp"
#include "core/wire.hpp"

namespace flowpulse::decode {

namespace {

using core::load_be16;
using core::load_be32;

void log_error(const Datagram& dg, std::string_view kind, std::string_view message, std::uint64_t value) {
  log_drop(dg.exporter, kind, message, {{"value", value}});
}

// The time `ms_since_boot` as ns since the epoch. The difference to the header's sysUpTime is taken
// as a signed 32-bit value so a flow that started before the uptime counter wrapped stays right.
std::uint64_t absolute_ns(std::uint64_t export_ns, std::uint32_t sys_uptime_ms, std::uint32_t ms_since_boot) {
  const auto ago_ms = static_cast<std::int32_t>(sys_uptime_ms - ms_since_boot);
  return export_ns - static_cast<std::uint64_t>(static_cast<std::int64_t>(ago_ms) * 1'000'000);
}

std::uint64_t scale(std::uint64_t v, std::uint32_t rate) noexcept {
  std::uint64_t r;
  return __builtin_mul_overflow(v, static_cast<std::uint64_t>(rate), &r) ? UINT64_MAX : r;
}

}  // namespace

void decode_netflow5(const Datagram& dg, RecordWriter& out, DecodeStats& stats) {
  ++stats.datagrams;
  if (dg.size < 4) {
    stats.count(DropReason::truncated);
    return;
  }
  const std::uint8_t* p = dg.data;
  const std::uint16_t version = load_be16(p);
  NetflowV5Format fmt;
  FlowType type;
  switch (version) {
    case 1: fmt = netflow1_format, type = FlowType::netflow1; break;
    case 5: fmt = netflow5_format, type = FlowType::netflow5; break;
    case 7: fmt = netflow7_format, type = FlowType::netflow7; break;
    default:
      stats.count(DropReason::bad_version);
      log_error(dg, "netflow5_bad_version", "NetFlow datagram with an unknown version", version);
      return;
  }
  if (dg.size < fmt.header_size) {
    stats.count(DropReason::truncated);
    log_error(dg, "netflow5_truncated", "NetFlow datagram shorter than its header", dg.size);
    return;
  }
  const std::uint16_t count = load_be16(p + 2);
  if (count == 0 || count > fmt.max_count) {
    stats.count(DropReason::bad_length);
    log_error(dg, "netflow5_bad_count", "NetFlow header count out of range", count);
    return;
  }
  if (fmt.header_size + std::size_t{count} * fmt.record_size > dg.size) {
    stats.count(DropReason::truncated);
    log_error(dg, "netflow5_truncated", "NetFlow header count exceeds the datagram", count);
    return;
  }

  const std::uint32_t sys_uptime = load_be32(p + 4);
  const std::uint64_t export_ns = std::uint64_t{load_be32(p + 8)} * 1'000'000'000ULL + load_be32(p + 12);

  FlowRecord& base = out.new_base();
  base.type = type;
  base.time_received_ns = dg.time_received_ns;
  base.sampler_address = dg.exporter;
  base.etype = 0x0800;
  std::uint32_t rate = 1;
  if (version != 1) base.sequence_number = load_be32(p + 16);
  if (version == 5) {
    base.observation_domain = (std::uint32_t{p[20]} << 8) | p[21];  // engine type, engine id
    // Top two bits: sampling mode; low 14 bits: the interval (0 = not sampled).
    const std::uint32_t interval = load_be16(p + 22) & 0x3fff;
    if (interval != 0) {
      rate = interval;
      base.sampling_rate = interval;
    }
  }

  const std::uint8_t* rec = p + fmt.header_size;
  for (std::uint16_t i = 0; i < count; ++i, rec += fmt.record_size) {
    FlowRecord& r = out.add();
    r.src_addr.set_v4_bytes(rec);
    r.dst_addr.set_v4_bytes(rec + 4);
    r.next_hop.set_v4_bytes(rec + 8);
    r.in_if = load_be16(rec + 12);
    r.out_if = load_be16(rec + 14);
    r.raw_packets = load_be32(rec + 16);
    r.raw_bytes = load_be32(rec + 20);
    r.packets = scale(r.raw_packets, rate);
    r.bytes = scale(r.raw_bytes, rate);
    r.time_flow_start_ns = absolute_ns(export_ns, sys_uptime, load_be32(rec + 24));
    r.time_flow_end_ns = absolute_ns(export_ns, sys_uptime, load_be32(rec + 28));
    r.src_port = load_be16(rec + 32);
    r.dst_port = load_be16(rec + 34);
    if (version == 1) {
      r.proto = rec[38];
      r.ip_tos = rec[39];
      r.tcp_flags = rec[40];
    } else {
      r.tcp_flags = rec[37];
      r.proto = rec[38];
      r.ip_tos = rec[39];
      r.src_as = load_be16(rec + 40);
      r.dst_as = load_be16(rec + 42);
      r.src_prefix_len = rec[44];
      r.dst_prefix_len = rec[45];
    }
    if (r.proto == 1) {  // ICMP: exporters put type << 8 | code in the destination port
      r.icmp_type = static_cast<std::uint8_t>(r.dst_port >> 8);
      r.icmp_code = static_cast<std::uint8_t>(r.dst_port);
    }
  }
  stats.records += count;
}

}  // namespace flowpulse::decode
