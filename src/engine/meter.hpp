// The meter: raw frames in, flow records out. Each frame is parsed (L2-L4); a whole UDP datagram to
// one of the flow-export ports goes to the flow-export decoders, as if a listener had received it;
// every other IP packet is counted into its flow in the meter's flow cache, keyed by the
// unidirectional 5-tuple and the frame's port (bytes on the wire, packets, TCP flags). flush() turns
// what changed since the last flush into records of type raw, one per flow, which the worker adds
// into its shard: per packet the meter touches one 64-byte cache entry and nothing else.
//
// A flow starts with its first packet, or with the first after an idle timeout (its entry is then
// reused in place); flow_flows_total counts those starts. The cache has a fixed capacity: when it
// is full, a packet of a new flow becomes a record of its own (counted as `cache_full`), so nothing
// is lost from the totals. After each flush a sweep deletes the entries idle past the timeout from
// the next part of the cache, so flows long gone do not keep it full.
//
// IP fragments of UDP datagrams go to a reassembler (decode/reassembly.hpp): a completed datagram to
// an export port is decoded like a whole one; any other is metered as one packet train of its flow
// (packets = its fragments, bytes = their wire bytes). Fragments that never complete are counted
// by the reassembler's reason (timeout, overlap, ...), not metered. Other fragments (TCP, ICMP, ...)
// are metered frame by frame.
//
// Every frame ends in one place: frames = metered + export_datagrams + reassembly + not_ip +
// truncated.
//
// One meter per worker, no sharing: the caller keeps all frames of one 5-tuple (and all export
// datagrams of one exporter, fragments included) on one meter.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "decode/flow_decoder.hpp"
#include "decode/packet.hpp"
#include "decode/reassembly.hpp"
#include "engine/flow_observer.hpp"
#include "io/packet_source.hpp"

namespace flowpulse::engine {

struct MeterStats {
  std::uint64_t frames = 0;
  std::uint64_t bytes = 0;                // wire bytes
  std::uint64_t metered = 0;              // frames counted into flows one by one
  std::uint64_t flows_started = 0;        // flows that started (first packet, or first after idle)
  std::uint64_t export_datagrams = 0;     // whole datagrams handed to the flow-export decoders
  std::uint64_t reassembly = 0;           // UDP fragments handed to the reassembler
  std::uint64_t not_ip = 0;               // ARP, LLDP, ... (counted, not metered)
  std::uint64_t truncated = 0;            // frames cut short or malformed before the IP header
  std::uint64_t fragments = 0;            // IP fragments among all frames (UDP or not)
  std::uint64_t reassembled_exports = 0;  // reassembled datagrams decoded as flow exports
  std::uint64_t reassembled_metered = 0;  // reassembled datagrams metered into their flow
  std::uint64_t reassembled_bad_udp = 0;  // reassembled datagrams whose UDP header is wrong
  std::uint64_t cache_full = 0;           // packets of new flows that found the cache full

  MeterStats& operator+=(const MeterStats& o) noexcept;
};

struct MeterSettings {
  std::vector<std::uint16_t> export_ports = {2055, 2056, 4739, 6343};
  std::uint32_t flow_cache_capacity = 1U << 16;
  std::uint64_t idle_timeout_ns = 15'000'000'000ULL;
  decode::ReassemblySettings reassembly;
};

class Meter {
 public:
  Meter(const MeterSettings& settings, decode::FlowDecoder& decoder);
  ~Meter();
  Meter(const Meter&) = delete;
  Meter& operator=(const Meter&) = delete;

  // Parses and meters `frames`; decoded export records go to `out` now, metered packets at flush().
  void process(std::span<const io::Frame> frames, decode::RecordWriter& out);
  // One already parsed frame (callers that parse to shard may pass their parse on).
  void process(const io::Frame& frame, const decode::PacketInfo& info, decode::RecordWriter& out);
  // Writes one raw record per flow that changed since the last flush (its bytes, packets and flow
  // starts since then) to `out`, in cache order, and clears the changes; then sweeps the next part
  // of the cache for flows idle past the timeout.
  void flush(decode::RecordWriter& out);

  const MeterStats& stats() const noexcept { return stats_; }
  const decode::ReassemblyStats& reassembly_stats() const noexcept { return reassembler_.stats(); }
  // Where the 5-tuple of each new TCP or UDP flow is pushed as it starts (null: nowhere).
  void notify_new_flows(NewFlowRing* ring) noexcept { new_flows_ = ring; }
  // Flows in the cache (active or idle, not yet reused).
  std::size_t cached_flows() const noexcept;
  // The bytes a cache of `capacity` flows commits when the meter is made.
  static std::size_t memory_bytes(std::uint32_t capacity) noexcept;
  // Whether the frame is a flow export by its parse (UDP to an export port, complete).
  bool is_export(const decode::PacketInfo& info) const noexcept {
    return info.proto == 17 && info.payload_complete() && is_export_port_[info.dst_port] != 0;
  }

 private:
  struct FlowId;
  struct Cache;
  struct Packet;
  // Counts the frame; hands a flow export to the decoders. True when the frame is to be metered.
  bool classify(const io::Frame& f, const decode::PacketInfo& info, decode::RecordWriter& out);
  static void make_packet(const io::Frame& f, const decode::PacketInfo& info, Packet& p) noexcept;
  // A metered frame's counts (its time, wire bytes, one packet, its TCP flags) into `p`.
  static void set_counts(const io::Frame& f, std::uint8_t tcp_flags, Packet& p) noexcept;
  // The common frame straight from its bytes, without the full parse: counts it and fills `p`, or
  // returns false (nothing counted) for anything else, which then takes parse_link and classify.
  bool fast_packet(const io::Frame& f, Packet& p) noexcept;
  // Stores the id's five words and returns hash_key(id), hashed from the words as they are (see
  // make_key: read back from memory, the id would stall on its narrow stores).
  static std::uint64_t store_id(FlowId& id, const std::uint64_t (&w)[5]) noexcept;
  static std::uint64_t fill_id(FlowId& id, const IpAddress& src, const IpAddress& dst, std::uint16_t src_port,
                               std::uint16_t dst_port, std::uint8_t proto, std::uint8_t ip_version,
                               std::uint16_t port) noexcept;
  void meter(const Packet& p, decode::RecordWriter& out) noexcept;
  // Whether a flow last seen at `last_seen_ns` is idle at `now` (a frame older than the flow's
  // last one, as out-of-order capture times give, is not: no wrap-around of the difference).
  bool idle(std::uint64_t last_seen_ns, std::uint64_t now) const noexcept {
    return now > last_seen_ns + settings_.idle_timeout_ns;
  }
  void announce(const FlowId& id) noexcept;
  // Deletes the cache entries idle past the timeout (at the latest capture time) from the next
  // part of the cache, after a flush.
  void sweep() noexcept;
  void reassembled(const io::Frame& f, const decode::ReassembledDatagram& d, decode::RecordWriter& out);

  MeterSettings settings_;
  decode::FlowDecoder& decoder_;
  decode::PortMap ports_;
  std::vector<std::uint8_t> is_export_port_;
  std::unique_ptr<Cache> cache_;
  decode::Reassembler reassembler_;
  NewFlowRing* new_flows_ = nullptr;
  std::uint64_t last_time_ns_ = 0;  // the latest capture time seen (reassembly timeouts)
  MeterStats stats_;
};

}  // namespace flowpulse::engine
