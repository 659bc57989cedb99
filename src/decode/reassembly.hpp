// IPv4 and IPv6 fragment reassembly, so the meter can decode flow exports (NetFlow, IPFIX, sFlow over
// UDP) that an exporter sent larger than the path MTU. It takes fragments as the packet parser left
// them (PacketInfo plus the frame bytes and the frame's capture time) and, when the last missing piece
// arrives, gives a view of the whole upper-layer payload (for UDP: the UDP header and its payload),
// its protocol and addresses; udp_datagram() reads the UDP header out of it.
//
// Datagrams are keyed by (source, destination, protocol, fragment id, IP version). The protocol is the
// IPv4 header's, or the Next Header of the IPv6 fragment header. Times are capture times from the
// frames, never the clock, so a pcap replay gives the same result every time.
//
// Memory: a table of `max_datagrams` slots, each with its own buffer of `max_datagram_bytes` (one
// allocation at construction, not zero-filled) and a bitmap of which 8-byte blocks it holds. A fixed
// slot per datagram keeps the reassembled bytes contiguous (the view needs no copy) and needs no
// second limit (a shared bytes budget would add a way to fail half-way through a datagram). The cost
// is address space: 1024 x 64 KiB = 64 MiB by default, but pages are only made resident when a
// fragment lands on them, and freed slots are reused most-recent-first, so resident memory follows
// the real datagrams (a few pages per slot for typical 2-9 KB exports). Set max_datagram_bytes lower
// (9216 for jumbo-frame exporters) to cap it. Nothing is allocated after construction.
//
// Accounting: every fragment given to add() that is a fragment (PacketInfo::is_fragment) ends in
// exactly one place, and all counters count fragments, not datagrams (except `reassembled`):
//   fragments == fragments_reassembled + timeout + overlap + invalid + too_big + table_full
//                + truncated + in_progress_fragments
// A fragment that fails on its own (cut short, malformed, zero length, a non-last fragment whose
// length is not a multiple of 8, ending past what an IP length field can say, or past
// max_datagram_bytes) is dropped alone and leaves its datagram as it was (which will then time out).
// A fragment that contradicts the datagram it joins (a conflicting overlap, a second end, data past
// the end) drops the whole datagram: its held fragments and the new one are all counted under that
// reason. Duplicates and overlaps with identical bytes are accepted and counted as part of the
// datagram. A duplicate arriving after its datagram completed starts a new one (which times out).
//
// Timeouts run from a datagram's first fragment. add() first expires what is due, oldest first;
// expire(now) does the same for callers with idle periods. If capture times go backwards, a datagram
// queued behind a younger one may outlive its timeout until that one goes (it is still checked when a
// fragment finds it). A full table drops the new datagram's fragment (`table_full`) and evicts
// nothing that has not timed out.
//
// One reassembler per worker, no sharing, no locks; no exception, no allocation, no syscall per
// fragment. Hash chains are bounded by max_datagrams.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <type_traits>
#include <vector>

#include "decode/packet.hpp"
#include "flowpulse/flow_record.hpp"

namespace flowpulse::decode {

struct ReassemblySettings {
  std::uint32_t max_datagrams = 1024;           // datagrams in progress at once (at least 1)
  std::uint32_t max_datagram_bytes = 65535;     // largest reassembled IP payload (8..65535)
  std::uint64_t timeout_ns = 5'000'000'000ULL;  // from a datagram's first fragment, capture time
};

struct ReassemblyStats {
  std::uint64_t fragments = 0;              // fragments given to add()
  std::uint64_t reassembled = 0;            // datagrams completed
  std::uint64_t fragments_reassembled = 0;  // fragments in those datagrams (duplicates included)
  // Fragments dropped, by reason.
  std::uint64_t timeout = 0;     // their datagram was not complete within timeout_ns
  std::uint64_t overlap = 0;     // their datagram had overlapping fragments with different bytes
  std::uint64_t invalid = 0;     // malformed, bad length or offset, or a conflicting end
  std::uint64_t too_big = 0;     // valid for IP, but past max_datagram_bytes
  std::uint64_t table_full = 0;  // a new datagram and no free slot
  std::uint64_t truncated = 0;   // the capture ended inside the fragment
  // Now held, waiting for the rest of their datagram (gauges).
  std::uint64_t in_progress_datagrams = 0;
  std::uint64_t in_progress_fragments = 0;

  std::uint64_t dropped() const noexcept {
    return timeout + overlap + invalid + too_big + table_full + truncated;
  }
  // The identity that says no fragment went unaccounted for.
  bool balanced() const noexcept {
    return fragments == fragments_reassembled + dropped() + in_progress_fragments;
  }
  // Sums another reassembler's counters (workers' totals).
  ReassemblyStats& operator+=(const ReassemblyStats& o) noexcept {
    fragments += o.fragments;
    reassembled += o.reassembled;
    fragments_reassembled += o.fragments_reassembled;
    timeout += o.timeout;
    overlap += o.overlap;
    invalid += o.invalid;
    too_big += o.too_big;
    table_full += o.table_full;
    truncated += o.truncated;
    in_progress_datagrams += o.in_progress_datagrams;
    in_progress_fragments += o.in_progress_fragments;
    return *this;
  }
};

enum class FragmentResult : std::uint8_t {
  not_fragment,  // not a fragment: nothing done, nothing counted
  held,          // kept, its datagram is still incomplete
  complete,      // it completed a datagram: `out` is filled
  dropped,       // counted under one of the drop reasons
};

// A reassembled datagram. `data` points at the header of `proto` (UDP header then payload, for UDP):
// the IPv4 payload, or for IPv6 what follows the fragment header after any extension headers there
// (should they run past the end, `proto` is the extension header's and `data` points at it). The view
// lives in the reassembler and stays valid until its next add() or expire().
struct ReassembledDatagram {
  const std::uint8_t* data = nullptr;
  std::size_t size = 0;
  std::uint8_t proto = 0;
  std::uint8_t ip_version = 0;  // 4 or 6
  IpAddress src_addr;
  IpAddress dst_addr;
  std::uint32_t fragment_id = 0;
  std::uint32_t fragments = 0;   // fragments that went into it, duplicates included
  std::uint64_t wire_bytes = 0;  // their frames' wire lengths, summed
  std::uint64_t first_ns = 0;    // capture time of its first and last fragment
  std::uint64_t last_ns = 0;
};

struct UdpDatagram {
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
  const std::uint8_t* payload = nullptr;
  std::size_t payload_len = 0;
};

// The UDP header and payload of a reassembled datagram. nullopt unless proto is UDP and the UDP length
// field is at least 8 and not more than the reassembled size; bytes past a shorter UDP length are not
// payload (as a receiving host would trim them).
std::optional<UdpDatagram> udp_datagram(const ReassembledDatagram& d) noexcept;

class Reassembler {
 public:
  explicit Reassembler(const ReassemblySettings& settings = {});
  Reassembler(const Reassembler&) = delete;
  Reassembler& operator=(const Reassembler&) = delete;

  // One parsed frame: `data`/`size` are the bytes `info` was parsed from, `now_ns` its capture time,
  // `wire_len` its length on the wire (0 = size), summed into the datagram's wire_bytes.
  // Pass only fragments meant for reassembly (the meter: UDP ones); each is counted.
  FragmentResult add(const PacketInfo& info, const std::uint8_t* data, std::size_t size, std::uint64_t now_ns,
                     ReassembledDatagram& out, std::uint64_t wire_len = 0) noexcept;
  // Drops the datagrams whose first fragment is more than timeout_ns before now_ns; returns how many.
  std::size_t expire(std::uint64_t now_ns) noexcept;

  const ReassemblyStats& stats() const noexcept { return stats_; }
  const ReassemblySettings& settings() const noexcept { return settings_; }

 private:
  static constexpr std::uint32_t npos = 0xffffffff;

  struct Key {
    std::array<std::uint8_t, 16> src{};
    std::array<std::uint8_t, 16> dst{};
    std::uint32_t id = 0;
    std::uint8_t proto = 0;
    std::uint8_t version = 0;
    std::uint16_t pad = 0;
  };
  static_assert(sizeof(Key) == 40 && std::has_unique_object_representations_v<Key>);

  struct Slot {
    Key key;
    std::uint64_t first_ns = 0;
    std::uint64_t last_ns = 0;
    std::uint32_t bucket = 0;
    std::uint32_t hash_next = npos;  // also the free list's link
    std::uint32_t older = npos;      // age list, by first fragment
    std::uint32_t newer = npos;
    std::uint32_t total = 0;  // payload bytes, once the last fragment is seen
    std::uint32_t max_end = 0;
    std::uint32_t covered_blocks = 0;  // 8-byte blocks held
    std::uint32_t fragments = 0;
    std::uint64_t wire_bytes = 0;
    bool has_total = false;
  };

  struct Piece {
    const std::uint8_t* bytes;
    std::size_t offset;
    std::size_t end;
    bool last;
  };

  static std::uint64_t hash(const Key& k) noexcept;
  std::uint32_t find(std::uint32_t bucket, const Key& k) const noexcept;
  std::uint32_t allocate(const Key& k, std::uint32_t bucket, std::uint64_t now_ns) noexcept;
  void retire(std::uint32_t s, std::uint64_t& counter) noexcept;
  FragmentResult drop_datagram(std::uint32_t s, std::uint64_t& counter) noexcept;
  bool expired(const Slot& slot, std::uint64_t now_ns) const noexcept;
  bool conflicts(std::uint32_t s, const Piece& p) const noexcept;
  void store(std::uint32_t s, const Piece& p) noexcept;
  void finish(std::uint32_t s, ReassembledDatagram& out) noexcept;
  std::uint8_t* buffer(std::uint32_t s) const noexcept {
    return buffers_.get() + std::size_t{s} * slot_bytes_;
  }
  std::uint64_t* bitmap(std::uint32_t s) noexcept { return bitmaps_.data() + std::size_t{s} * bitmap_words_; }
  const std::uint64_t* bitmap(std::uint32_t s) const noexcept {
    return bitmaps_.data() + std::size_t{s} * bitmap_words_;
  }

  ReassemblySettings settings_;
  std::size_t slot_bytes_;
  std::size_t bitmap_words_;
  std::unique_ptr<std::uint8_t[]> buffers_;
  std::vector<std::uint64_t> bitmaps_;
  std::vector<Slot> slots_;
  std::vector<std::uint32_t> buckets_;
  std::uint32_t bucket_mask_;
  std::uint32_t free_head_ = npos;
  std::uint32_t oldest_ = npos;
  std::uint32_t newest_ = npos;
  ReassemblyStats stats_;
};

}  // namespace flowpulse::decode
