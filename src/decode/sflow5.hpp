// The sFlow version 5 decoder (sflow.org/sflow_version_5.txt): one datagram in, one FlowRecord per
// flow sample (compact format 0:1 and expanded 0:3) and one InterfaceCounters per generic interface
// counter record (0:1) inside counter samples (compact 0:2 and expanded 0:4) out. Raw packet header
// records (0:1) go through the L2–L4 packet parser (packet.hpp); sampled Ethernet / IPv4 / IPv6
// records (0:2, 0:3, 0:4) stand in when a sample carries no raw header; extended switch, router and
// gateway records (0:1001..1003) add VLANs, next hops, prefix lengths and AS numbers. Everything else
// is skipped by its length. What is malformed is counted in DecodeStats and dropped a sample at a
// time, so one bad sample does not cost the rest of the datagram. It keeps no state between
// datagrams, allocates nothing and throws nothing: it runs per datagram on a worker's hot path.
//
// Which sFlow field fills each FlowRecord / InterfaceCounters member: docs/flow-record-sflow.md.
#pragma once

#include <cstdint>

#include "decode/decoder.hpp"

namespace flowpulse::decode {

// sFlow data_format values: enterprise (20 bits) << 12 | format (12 bits). Standard (enterprise 0)
// formats only; exported for tests and tools that build datagrams.
namespace sflow5 {
inline constexpr std::uint32_t version = 5;

inline constexpr std::uint32_t flow_sample = 1;
inline constexpr std::uint32_t counter_sample = 2;
inline constexpr std::uint32_t flow_sample_expanded = 3;
inline constexpr std::uint32_t counter_sample_expanded = 4;

inline constexpr std::uint32_t record_raw_header = 1;
inline constexpr std::uint32_t record_ethernet = 2;
inline constexpr std::uint32_t record_ipv4 = 3;
inline constexpr std::uint32_t record_ipv6 = 4;
inline constexpr std::uint32_t record_extended_switch = 1001;
inline constexpr std::uint32_t record_extended_router = 1002;
inline constexpr std::uint32_t record_extended_gateway = 1003;

inline constexpr std::uint32_t counters_generic_interface = 1;

// header_protocol values of the raw packet header record that the packet parser can start at.
inline constexpr std::uint32_t header_ethernet = 1;
inline constexpr std::uint32_t header_ipv4 = 11;
inline constexpr std::uint32_t header_ipv6 = 12;

inline constexpr std::uint32_t address_unknown = 0;
inline constexpr std::uint32_t address_ipv4 = 1;
inline constexpr std::uint32_t address_ipv6 = 2;
}  // namespace sflow5

// Decodes one sFlow datagram (a UDP payload). Counts the datagram, each flow record and each
// counter record emitted, and each sample or datagram dropped, by reason:
//   truncated   the datagram ends before its header or a sample it announces;
//   bad_version the version is not 2, 4 or 5;  unsupported  sFlow v2/v4, or a sample format other
//               than 0:1..0:4 (well formed, skipped by its length);
//   bad_sample  a sample whose own length is intact but whose content is not: fixed fields or a
//               record running past the sample, a raw header longer than its record or its frame,
//               an unknown address type, an AS path running past its record.
void decode_sflow5(const Datagram& dg, RecordWriter& out, DecodeStats& stats) noexcept;

}  // namespace flowpulse::decode
