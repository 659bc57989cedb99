#include "engine/meter.hpp"

#include <bit>
#include <cstring>

#include "engine/flow_key.hpp"

namespace flowpulse::engine {

// Open addressing on the unidirectional 5-tuple; an entry idle past the timeout is reused in place
// (probe chains stay intact: a reused slot is never empty).
struct Meter::Cache {
  struct Id {
    std::array<std::uint8_t, 16> src{};
    std::array<std::uint8_t, 16> dst{};
    std::uint16_t src_port = 0;
    std::uint16_t dst_port = 0;
    std::uint8_t proto = 0;
    std::uint8_t used = 0;
    std::uint16_t pad = 0;
    friend bool operator==(const Id& a, const Id& b) noexcept { return std::memcmp(&a, &b, sizeof a) == 0; }
  };
  static_assert(sizeof(Id) == 40 && std::has_unique_object_representations_v<Id>);
  struct Entry {
    Id id;
    std::uint64_t last_seen_ns = 0;
  };

  explicit Cache(std::uint32_t capacity)
      : capacity(capacity), mask(std::bit_ceil(capacity + capacity / 3 + 1) - 1), entries(mask + 1) {}

  std::uint32_t capacity;
  std::size_t mask;
  std::vector<Entry> entries;
  std::uint32_t size = 0;
};

Meter::Meter(const MeterSettings& settings, decode::FlowDecoder& decoder)
    : settings_(settings),
      decoder_(decoder),
      ports_(decode::PortMap::defaults()),
      is_export_port_(65536, 0),
      cache_(std::make_unique<Cache>(settings.flow_cache_capacity)) {
  for (std::uint16_t p : settings.export_ports) is_export_port_[p] = 1;
}

Meter::~Meter() = default;

bool Meter::is_export(const decode::PacketInfo& info) const noexcept {
  return info.proto == 17 && info.payload_complete() && is_export_port_[info.dst_port] != 0;
}

bool Meter::starts_flow(const FlowRecord& r, std::uint64_t now_ns) noexcept {
  Cache& c = *cache_;
  Cache::Id id;
  id.src = r.src_addr.bytes;
  id.dst = r.dst_addr.bytes;
  id.src_port = r.src_port;
  id.dst_port = r.dst_port;
  id.proto = r.proto;
  id.used = 1;
  std::size_t i = hash_key(id) & c.mask;
  Cache::Entry* reusable = nullptr;
  for (;; i = (i + 1) & c.mask) {
    Cache::Entry& e = c.entries[i];
    if (e.id.used == 0) break;
    if (e.id == id) {
      const bool idle = now_ns - e.last_seen_ns > settings_.idle_timeout_ns;
      e.last_seen_ns = now_ns;
      return idle;
    }
    if (reusable == nullptr && now_ns - e.last_seen_ns > settings_.idle_timeout_ns) reusable = &c.entries[i];
  }
  if (reusable != nullptr) {
    *reusable = {id, now_ns};
  } else if (c.size < c.capacity) {
    c.entries[i] = {id, now_ns};
    ++c.size;
  } else {
    ++stats_.cache_full;
  }
  return true;
}

void Meter::process(std::span<const io::Frame> frames, decode::RecordWriter& out) {
  for (const io::Frame& f : frames) {
    process(f, decode::parse_link(static_cast<std::uint32_t>(f.link_type), f.data, f.caplen), out);
  }
}

void Meter::process(const io::Frame& f, const decode::PacketInfo& info, decode::RecordWriter& out) {
  ++stats_.frames;
  stats_.bytes += f.wire_len;
  if (info.ip_version == 0) {
    if (info.truncated || info.malformed) {
      ++stats_.truncated;
    } else {
      ++stats_.not_ip;
    }
    return;
  }
  if (is_export(info)) {
    decode::Datagram dg;
    dg.data = info.payload;
    dg.size = info.payload_len;
    dg.exporter = info.src_addr;
    dg.exporter_port = info.src_port;
    dg.time_received_ns = f.timestamp_ns;
    ++stats_.export_datagrams;
    decoder_.decode(dg, out, ports_.find(info.dst_port));
    return;
  }
  if (info.is_fragment) ++stats_.fragments;
  FlowRecord base;
  base.type = FlowType::raw;
  base.time_received_ns = f.timestamp_ns;
  FlowRecord& r = out.add(base);
  decode::fill_flow_record(info, r);
  r.type = FlowType::raw;
  r.time_flow_start_ns = f.timestamp_ns;
  r.time_flow_end_ns = f.timestamp_ns;
  r.packets = r.raw_packets = 1;
  r.bytes = r.raw_bytes = f.wire_len;
  r.sampling_rate = 1;
  r.flows = starts_flow(r, f.timestamp_ns) ? 1 : 0;
  stats_.flows_started += r.flows;
  ++stats_.metered;
}

}  // namespace flowpulse::engine
