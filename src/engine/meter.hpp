// The meter: raw frames in, flow records out. Each frame is parsed (L2-L4); a whole UDP datagram to
// one of the flow-export ports goes to the flow-export decoders, as if a listener had received it;
// every other IP packet becomes a record of type raw (its 5-tuple, one packet, its wire bytes, TCP
// flags, capture time). A bounded per-meter flow cache decides which records start a flow, so
// flow_flows_total counts flows (first packet, or first after an idle timeout), not packets.
//
// One meter per worker, no sharing: the caller keeps all frames of one 5-tuple (and all export
// datagrams of one exporter) on one meter. Not handled yet: IP reassembly of fragmented export
// datagrams (counted as `fragments`, metered as raw packets).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "decode/flow_decoder.hpp"
#include "decode/packet.hpp"
#include "io/packet_source.hpp"

namespace flowpulse::engine {

struct MeterStats {
  std::uint64_t frames = 0;
  std::uint64_t bytes = 0;             // wire bytes
  std::uint64_t metered = 0;           // frames that became raw records
  std::uint64_t flows_started = 0;     // raw records that started a flow
  std::uint64_t export_datagrams = 0;  // datagrams handed to the flow-export decoders
  std::uint64_t not_ip = 0;            // ARP, LLDP, ... (counted, not metered)
  std::uint64_t fragments = 0;         // IP fragments (metered as raw packets)
  std::uint64_t truncated = 0;         // frames cut short or malformed before the IP header
  std::uint64_t cache_full = 0;        // flow-cache full: the record counted as a flow start
};

struct MeterSettings {
  std::vector<std::uint16_t> export_ports = {2055, 2056, 4739, 6343};
  std::uint32_t flow_cache_capacity = 1U << 16;
  std::uint64_t idle_timeout_ns = 15'000'000'000ULL;
};

class Meter {
 public:
  Meter(const MeterSettings& settings, decode::FlowDecoder& decoder);
  ~Meter();
  Meter(const Meter&) = delete;
  Meter& operator=(const Meter&) = delete;

  // Parses and meters `frames`; records (raw and decoded exports) go to `out`.
  void process(std::span<const io::Frame> frames, decode::RecordWriter& out);
  // One already parsed frame (callers that parse to shard may pass their parse on).
  void process(const io::Frame& frame, const decode::PacketInfo& info, decode::RecordWriter& out);

  const MeterStats& stats() const noexcept { return stats_; }
  // Whether the frame is a flow export by its parse (UDP to an export port, complete).
  bool is_export(const decode::PacketInfo& info) const noexcept;

 private:
  struct Cache;
  bool starts_flow(const FlowRecord& r, std::uint64_t now_ns) noexcept;

  MeterSettings settings_;
  decode::FlowDecoder& decoder_;
  decode::PortMap ports_;
  std::vector<std::uint8_t> is_export_port_;
  std::unique_ptr<Cache> cache_;
  MeterStats stats_;
};

}  // namespace flowpulse::engine
