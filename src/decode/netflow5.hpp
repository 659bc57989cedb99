// NetFlow v1, v5 and v7: the fixed-format exports. One function turns a datagram into FlowRecords
// (FlowType netflow1 / netflow5 / netflow7 by the version field): the header's record count is
// checked against the datagram length before any record is read, times are made absolute from
// the header's sysUpTime and wall clock, and the v5 header's sampling interval scales the counters
// (the wire values stay in raw_bytes / raw_packets). Stateless, so any worker may call it.
#pragma once

#include "decode/decoder.hpp"

namespace flowpulse::decode {

// Sizes of the fixed formats (header, record, most records a datagram may carry).
struct NetflowV5Format {
  std::uint16_t version;
  std::size_t header_size;
  std::size_t record_size;
  std::uint16_t max_count;
};
inline constexpr NetflowV5Format netflow1_format{1, 16, 48, 24};
inline constexpr NetflowV5Format netflow5_format{5, 24, 48, 30};
inline constexpr NetflowV5Format netflow7_format{7, 24, 52, 28};

// Decodes a NetFlow v1, v5 or v7 datagram. A datagram whose count is zero, above the version's
// maximum, or larger than the datagram is rejected whole (bad_length / truncated): a header that
// lies about its size is not trusted for any of its records.
void decode_netflow5(const Datagram& dg, RecordWriter& out, DecodeStats& stats);

}  // namespace flowpulse::decode
