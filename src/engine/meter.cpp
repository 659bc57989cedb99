#include "engine/meter.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstring>

#include "core/huge_array.hpp"
#include "core/wire.hpp"
#include "engine/flow_key.hpp"
#include "engine/flow_table.hpp"

namespace flowpulse::engine {

MeterStats& MeterStats::operator+=(const MeterStats& o) noexcept {
  frames += o.frames;
  bytes += o.bytes;
  metered += o.metered;
  flows_started += o.flows_started;
  export_datagrams += o.export_datagrams;
  reassembly += o.reassembly;
  not_ip += o.not_ip;
  truncated += o.truncated;
  fragments += o.fragments;
  reassembled_exports += o.reassembled_exports;
  reassembled_metered += o.reassembled_metered;
  reassembled_bad_udp += o.reassembled_bad_udp;
  cache_full += o.cache_full;
  return *this;
}

// What a metered flow is: the unidirectional 5-tuple and the frame's port (interface, DPDK port).
struct Meter::FlowId {
  std::array<std::uint8_t, 16> src{};
  std::array<std::uint8_t, 16> dst{};
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
  std::uint8_t proto = 0;
  std::uint8_t used = 0;  // 0 = empty slot, else the IP version (4, 6)
  std::uint16_t port = 0;
  friend bool operator==(const FlowId& a, const FlowId& b) noexcept {
    return std::memcmp(&a, &b, sizeof a) == 0;
  }
};
// Open addressing on FlowId, one cache line per flow. An entry idle past the timeout is reused in
// place (probe chains stay intact: a reused slot is never empty); if it still holds changes not yet
// flushed, they are written out first. Idle entries are also deleted by the sweep after each flush,
// so that a cache filled by flows long gone has room again: a new flow only finds a reusable entry
// when one lies on its probe chain.
struct Meter::Cache {
  using Id = FlowId;
  static_assert(sizeof(Id) == 40 && std::has_unique_object_representations_v<Id>);
  // Counters are the changes since the last flush. packets is 32-bit: an entry is flushed early
  // before it could wrap.
  struct alignas(64) Entry {
    Id id;
    std::uint64_t last_seen_ns = 0;
    std::uint64_t bytes = 0;
    std::uint32_t packets = 0;
    std::uint16_t flows = 0;
    std::uint8_t tcp_flags = 0;
    std::uint8_t dirty = 0;
  };
  static_assert(sizeof(Entry) == 64);

  explicit Cache(std::uint32_t capacity)
      : capacity(capacity), mask(table_slots(capacity) - 1), entries(mask + 1) {
    dirty.reserve(mask + 1);
  }

  // Empties `slot`: linear probing's deletion, which moves each later entry of the probe chain back
  // into the hole when the hole lies between its home slot and where it is, so every entry stays
  // reachable from its home. Moves entries: only with no slot in `dirty`.
  void erase(std::size_t slot) noexcept {
    for (std::size_t j = slot;;) {
      j = (j + 1) & mask;
      if (entries[j].id.used == 0) break;
      const std::size_t home = hash_key(entries[j].id) & mask;
      if (((j - home) & mask) >= ((j - slot) & mask)) {
        entries[slot] = entries[j];
        slot = j;
      }
    }
    entries[slot] = Entry{};
    --size;
  }

  std::uint32_t capacity;
  std::size_t mask;
  core::HugeArray<Entry> entries;
  std::vector<std::uint32_t> dirty;  // slots changed since the last flush, each once
  std::uint32_t size = 0;
  std::size_t sweep_at = 0;  // the slot the next sweep starts at
};

namespace {

// The fields a raw record carries (the rest of FlowRecord stays at its defaults).
FlowRecord raw_base() {
  FlowRecord r;
  r.type = FlowType::raw;
  r.sampling_rate = 1;
  return r;
}

}  // namespace

Meter::Meter(const MeterSettings& settings, decode::FlowDecoder& decoder)
    : settings_(settings),
      decoder_(decoder),
      ports_(decode::PortMap::defaults()),
      is_export_port_(65536, 0),
      cache_(std::make_unique<Cache>(settings.flow_cache_capacity)),
      reassembler_(settings.reassembly) {
  for (std::uint16_t p : settings.export_ports) is_export_port_[p] = 1;
}

Meter::~Meter() = default;

std::size_t Meter::cached_flows() const noexcept { return cache_->size; }

std::size_t Meter::memory_bytes(std::uint32_t capacity) noexcept {
  const std::size_t slots = table_slots(capacity);
  return core::HugeArray<Cache::Entry>::bytes_for(slots) + slots * sizeof(std::uint32_t);
}

// What the cache update needs of a metered packet, so a burst's parses need not be kept.
struct Meter::Packet {
  FlowId id;
  std::uint64_t hash;
  std::uint64_t time_ns;
  std::uint64_t wire_len;
  std::uint32_t packets;
  std::uint8_t tcp_flags;
};

void Meter::process(std::span<const io::Frame> frames, decode::RecordWriter& out) {
  // A burst at a time: parse every frame and prefetch its flow's cache slot, then update them, so
  // the cache misses of a burst overlap instead of coming one after another.
  constexpr std::size_t step = 32;
  constexpr std::size_t frame_lookahead = 8;
  std::array<Packet, step> packets;
  for (std::size_t at = 0; at < frames.size(); at += step) {
    const std::size_t n = std::min(step, frames.size() - at);
    std::size_t m = 0;
    for (std::size_t j = 0; j < n; ++j) {
      const io::Frame& f = frames[at + j];
      // The headers a few frames on: a NIC's frames arrive cold (in the LLC at best).
      if (at + j + frame_lookahead < frames.size()) __builtin_prefetch(frames[at + j + frame_lookahead].data);
      if (!fast_packet(f, packets[m])) {
        const decode::PacketInfo info =
            decode::parse_link(static_cast<std::uint32_t>(f.link_type), f.data, f.caplen);
        if (!classify(f, info, out)) continue;
        make_packet(f, info, packets[m]);
      }
      // The flow's slot and the next one: with linear probing a flow is often one slot further
      // (about 45% of lookups at half load), and that line would otherwise be a miss of its own.
      const std::size_t slot = packets[m].hash & cache_->mask;
      __builtin_prefetch(&cache_->entries[slot]);
      __builtin_prefetch(&cache_->entries[(slot + 1) & cache_->mask]);
      ++m;
    }
    for (std::size_t j = 0; j < m; ++j) meter(packets[j], out);
  }
}

void Meter::process(const io::Frame& f, const decode::PacketInfo& info, decode::RecordWriter& out) {
  if (!classify(f, info, out)) return;
  Packet p;
  make_packet(f, info, p);
  meter(p, out);
}

static_assert(std::endian::native == std::endian::little);  // ids are packed into words

namespace {

// The last of a FlowId's five words, after the two addresses' four.
std::uint64_t id_tail(std::uint16_t src_port, std::uint16_t dst_port, std::uint8_t proto,
                      std::uint8_t ip_version, std::uint16_t port) noexcept {
  return src_port | std::uint64_t{dst_port} << 16 | std::uint64_t{proto} << 32 |
         std::uint64_t{ip_version} << 40 | std::uint64_t{port} << 48;
}

}  // namespace

std::uint64_t Meter::store_id(FlowId& id, const std::uint64_t (&w)[5]) noexcept {
  static_assert(offsetof(FlowId, src_port) == 32 && offsetof(FlowId, port) == 38);  // id_tail's layout
  auto* o = reinterpret_cast<unsigned char*>(&id);
  for (std::size_t i = 0; i < 5; ++i) std::memcpy(o + 8 * i, &w[i], 8);
  return hash_words(w);
}

std::uint64_t Meter::fill_id(FlowId& id, const IpAddress& src, const IpAddress& dst, std::uint16_t src_port,
                             std::uint16_t dst_port, std::uint8_t proto, std::uint8_t ip_version,
                             std::uint16_t port) noexcept {
  std::uint64_t w[5];
  std::memcpy(&w[0], src.bytes.data(), 16);
  std::memcpy(&w[2], dst.bytes.data(), 16);
  w[4] = id_tail(src_port, dst_port, proto, ip_version, port);
  return store_id(id, w);
}

void Meter::set_counts(const io::Frame& f, std::uint8_t tcp_flags, Packet& p) noexcept {
  p.time_ns = f.timestamp_ns;
  p.wire_len = f.wire_len;
  p.packets = 1;
  p.tcp_flags = tcp_flags;
}

void Meter::make_packet(const io::Frame& f, const decode::PacketInfo& info, Packet& p) noexcept {
  p.hash = fill_id(p.id, info.src_addr, info.dst_addr, info.src_port, info.dst_port, info.proto,
                   info.ip_version, f.port);
  set_counts(f, info.tcp_flags, p);
}

// What parse_link and classify make of the most common frames, in one pass over the headers and
// with the flow id's words built in registers (PacketInfo's addresses, read back right after the
// parser's narrower stores, would stall their forwarding). Taken: Ethernet II with at most one
// 802.1Q tag; IPv4 without options and not a fragment, or IPv6 without extension headers; TCP with
// its flags in the capture, UDP with its header in the capture and not to an export port, or any
// other protocol (no ports, as the parser). Everything else returns false before counting anything.
// Test MeterFastPath.* holds the two paths to the same flows and counts on generated frames.
bool Meter::fast_packet(const io::Frame& f, Packet& p) noexcept {
  using core::load_be16;
  if (f.link_type != static_cast<int>(decode::LinkType::ethernet) || f.caplen < 14) return false;
  const std::uint8_t* d = f.data;
  std::size_t off = 14;
  std::uint16_t etype = load_be16(d + 12);
  if (etype == decode::ethertype_vlan) {
    if (f.caplen < 18) return false;
    etype = load_be16(d + 16);
    off = 18;
  }
  const std::uint8_t* ip = d + off;
  const std::size_t avail = f.caplen - off;
  std::uint64_t w[5];  // the flow id's words
  std::size_t l4;      // where the upper layer starts
  std::size_t end;     // where the IP packet ends in the capture
  std::uint8_t proto;
  std::uint8_t version;
  if (etype == decode::ethertype_ipv4) {
    if (avail < 20 || ip[0] != 0x45) return false;
    const std::size_t length = load_be16(ip + 2);
    if (length < 20 || (load_be16(ip + 6) & 0x3fff) != 0) return false;
    std::uint32_t src, dst;
    std::memcpy(&src, ip + 12, 4);
    std::memcpy(&dst, ip + 16, 4);
    w[0] = w[2] = 0;  // IPv4-mapped, as IpAddress::set_v4_bytes
    w[1] = 0xffff0000ULL | std::uint64_t{src} << 32;
    w[3] = 0xffff0000ULL | std::uint64_t{dst} << 32;
    proto = ip[9];
    version = 4;
    l4 = off + 20;
    end = off + std::min(avail, length);
  } else if (etype == decode::ethertype_ipv6) {
    if (avail < 40 || (ip[0] >> 4) != 6 || decode::is_ipv6_extension(ip[6])) return false;
    const std::size_t payload = load_be16(ip + 4);  // 0 (a jumbogram): TCP and UDP are declined below
    std::memcpy(w, ip + 8, 32);
    proto = ip[6];
    version = 6;
    l4 = off + 40;
    end = off + std::min(avail, 40 + payload);
  } else {
    return false;
  }
  const std::size_t l4_avail = end > l4 ? end - l4 : 0;
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
  std::uint8_t tcp_flags = 0;
  if (proto == decode::ip_proto_tcp) {
    if (l4_avail < 14) return false;
    tcp_flags = d[l4 + 13];
  } else if (proto == decode::ip_proto_udp) {
    if (l4_avail < 8) return false;
  }
  if (proto == decode::ip_proto_tcp || proto == decode::ip_proto_udp) {
    src_port = load_be16(d + l4);
    dst_port = load_be16(d + l4 + 2);
    if (proto == decode::ip_proto_udp && is_export_port_[dst_port] != 0) return false;
  }
  w[4] = id_tail(src_port, dst_port, proto, version, f.port);
  p.hash = store_id(p.id, w);
  set_counts(f, tcp_flags, p);
  ++stats_.frames;  // as classify() counts a metered frame
  stats_.bytes += f.wire_len;
  ++stats_.metered;
  last_time_ns_ = std::max(last_time_ns_, f.timestamp_ns);
  return true;
}

bool Meter::classify(const io::Frame& f, const decode::PacketInfo& info, decode::RecordWriter& out) {
  ++stats_.frames;
  stats_.bytes += f.wire_len;
  if (info.ip_version == 0) {
    if (info.truncated || info.malformed) {
      ++stats_.truncated;
    } else {
      ++stats_.not_ip;
    }
    return false;
  }
  last_time_ns_ = std::max(last_time_ns_, f.timestamp_ns);
  if (is_export(info)) {
    decode::Datagram dg;
    dg.data = info.payload;
    dg.size = info.payload_len;
    dg.exporter = info.src_addr;
    dg.exporter_port = info.src_port;
    dg.time_received_ns = f.timestamp_ns;
    ++stats_.export_datagrams;
    decoder_.decode(dg, out, ports_.find(info.dst_port));
    return false;
  }
  if (info.is_fragment) {
    ++stats_.fragments;
    if (info.proto == decode::ip_proto_udp) {
      ++stats_.reassembly;
      decode::ReassembledDatagram d;
      if (reassembler_.add(info, f.data, f.caplen, f.timestamp_ns, d, f.wire_len) ==
          decode::FragmentResult::complete) {
        reassembled(f, d, out);
      }
      return false;
    }
  }
  ++stats_.metered;
  return true;
}

void Meter::reassembled(const io::Frame& f, const decode::ReassembledDatagram& d, decode::RecordWriter& out) {
  const std::optional<decode::UdpDatagram> udp = decode::udp_datagram(d);
  if (!udp) {
    ++stats_.reassembled_bad_udp;
    return;
  }
  if (is_export_port_[udp->dst_port] != 0) {
    decode::Datagram dg;
    dg.data = udp->payload;
    dg.size = udp->payload_len;
    dg.exporter = d.src_addr;
    dg.exporter_port = udp->src_port;
    dg.time_received_ns = f.timestamp_ns;
    ++stats_.reassembled_exports;
    decoder_.decode(dg, out, ports_.find(udp->dst_port));
    return;
  }
  ++stats_.reassembled_metered;
  Packet p;
  p.hash = fill_id(p.id, d.src_addr, d.dst_addr, udp->src_port, udp->dst_port, decode::ip_proto_udp,
                   d.ip_version, f.port);
  p.time_ns = f.timestamp_ns;
  p.wire_len = d.wire_bytes;
  p.packets = d.fragments;
  p.tcp_flags = 0;
  meter(p, out);
}

namespace {

// Counters are the changes since the last flush.
struct Delta {
  std::uint64_t last_seen_ns;
  std::uint64_t bytes;
  std::uint32_t packets;
  std::uint16_t flows;
  std::uint8_t tcp_flags;
};

void write_record(const FlowRecord& base, const auto& id, const Delta& d, decode::RecordWriter& out) {
  FlowRecord& r = out.add(base);
  r.src_addr.bytes = id.src;
  r.dst_addr.bytes = id.dst;
  r.src_addr.family = r.dst_addr.family = id.used;  // the IP version
  r.src_port = id.src_port;
  r.dst_port = id.dst_port;
  r.proto = id.proto;
  r.in_if = id.port;
  r.tcp_flags = d.tcp_flags;
  r.bytes = r.raw_bytes = d.bytes;
  r.packets = r.raw_packets = d.packets;
  r.flows = d.flows;
  r.time_received_ns = r.time_flow_end_ns = d.last_seen_ns;
}

// Writes a cache entry's changes as one record and clears them.
void write_out(auto& e, decode::RecordWriter& out) {
  static const FlowRecord base = raw_base();
  if (e.packets != 0)
    write_record(base, e.id, {e.last_seen_ns, e.bytes, e.packets, e.flows, e.tcp_flags}, out);
  e.bytes = 0;
  e.packets = 0;
  e.flows = 0;
  e.tcp_flags = 0;
}

}  // namespace

void Meter::meter(const Packet& p, decode::RecordWriter& out) noexcept {
  Cache& c = *cache_;
  const std::uint64_t now = p.time_ns;

  std::size_t i = p.hash & c.mask;
  Cache::Entry* e = nullptr;
  Cache::Entry* reusable = nullptr;
  bool starts = false;
  for (;; i = (i + 1) & c.mask) {
    Cache::Entry& x = c.entries[i];
    if (x.id.used == 0) break;
    if (x.id == p.id) {
      e = &x;
      starts = idle(x.last_seen_ns, now);
      break;
    }
    if (reusable == nullptr && idle(x.last_seen_ns, now)) reusable = &x;
  }
  if (e == nullptr) {
    starts = true;
    if (reusable != nullptr) {
      e = reusable;
      write_out(*e, out);  // its old flow's last changes, if not flushed yet
    } else if (c.size < c.capacity) {
      e = &c.entries[i];
      ++c.size;
    } else {
      // No room: this packet is a record of its own, a flow start (its flow cannot be followed).
      static const FlowRecord base = raw_base();
      ++stats_.cache_full;
      ++stats_.flows_started;
      if (new_flows_ != nullptr) announce(p.id);
      write_record(base, p.id, {now, p.wire_len, p.packets, 1, p.tcp_flags}, out);
      return;
    }
    e->id = p.id;
  }
  if (e->packets > UINT32_MAX - p.packets || e->flows == UINT16_MAX) write_out(*e, out);  // rather than wrap
  e->last_seen_ns = std::max(e->last_seen_ns, now);  // a late frame does not set the flow back
  e->bytes += p.wire_len;
  e->packets += p.packets;
  e->flows += starts ? 1 : 0;
  stats_.flows_started += starts ? 1 : 0;
  if (starts && new_flows_ != nullptr) announce(p.id);
  e->tcp_flags |= p.tcp_flags;
  if (e->dirty == 0) {
    e->dirty = 1;
    c.dirty.push_back(static_cast<std::uint32_t>(e - c.entries.data()));
  }
}

void Meter::announce(const FlowId& id) noexcept {
  if (id.proto != decode::ip_proto_tcp && id.proto != decode::ip_proto_udp) return;
  FiveTuple t;
  t.src.bytes = id.src;
  t.dst.bytes = id.dst;
  t.src.family = t.dst.family = id.used;
  t.src_port = id.src_port;
  t.dst_port = id.dst_port;
  t.proto = id.proto;
  new_flows_->push(t);
}

void Meter::flush(decode::RecordWriter& out) {
  reassembler_.expire(last_time_ns_);
  Cache& c = *cache_;
  for (std::uint32_t slot : c.dirty) {
    write_out(c.entries[slot], out);
    c.entries[slot].dirty = 0;
  }
  c.dirty.clear();
  sweep();
}

void Meter::sweep() noexcept {
  // 32,768 slots (2 MiB of entries) per flush: the default cache (131,072 slots) is swept every
  // 4 ticks, one of 2^20 flows every 64, and a tick's hand-over is not held up for long.
  constexpr std::size_t slots_per_sweep = 1U << 15;
  Cache& c = *cache_;
  const std::size_t slots = c.mask + 1;
  std::size_t at = c.sweep_at;
  for (std::size_t n = std::min(slots, slots_per_sweep); n != 0;) {
    const Cache::Entry& e = c.entries[at];
    if (e.id.used != 0 && idle(e.last_seen_ns, last_time_ns_)) {
      c.erase(at);  // a later entry may have moved into `at`: look at it again
      continue;
    }
    at = (at + 1) & c.mask;
    --n;
  }
  c.sweep_at = at;
}

}  // namespace flowpulse::engine
