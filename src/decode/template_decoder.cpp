#include "decode/template_decoder.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/ip_address.hpp"
#include "core/log.hpp"
#include "core/wire.hpp"
#include "decode/ipfix_fields.hpp"

namespace flowpulse::decode {

namespace {

using core::load_be16;
using core::load_be32;
using core::load_be64;
using core::load_be_var;
using ipfix::Kind;
using ipfix::Slot;

constexpr std::uint16_t var_length = 65535;  // IPFIX: the length is carried in the record
constexpr std::size_t netflow9_header_size = 20;
constexpr std::size_t ipfix_header_size = 16;
constexpr std::uint64_t ntp_to_unix_seconds = 2'208'988'800ULL;
constexpr std::uint64_t ns_per_ms = 1'000'000ULL;
// Bounds not in Limits because they protect the decoder as a whole, not one exporter from another.
constexpr std::size_t max_exporters = 16384;
constexpr std::size_t max_rates_per_exporter = 32;
constexpr std::size_t max_sys_init_per_exporter = 8;
constexpr std::size_t max_pending_bytes_per_exporter = 1u << 20;
constexpr std::size_t max_pending_bytes_total = 64u << 20;
constexpr std::size_t max_fields_scratch = 16384;  // a 64 KiB set cannot carry more field specifiers

struct FieldSpec {
  std::uint16_t type = 0;
  std::uint16_t length = 0;
  std::uint32_t pen = 0;
  friend bool operator==(const FieldSpec&, const FieldSpec&) = default;
};

static_assert(std::is_standard_layout_v<FlowRecord>);  // offsetof below

// The FlowRecord member (byte offset, width) a kind copies an integer into unchanged, if it does.
struct Member {
  std::uint16_t offset = 0;
  std::uint8_t width = 0;  // 0: the kind is not a plain copy
};
Member integer_member(Kind k) noexcept {
  auto m = [](std::size_t offset, std::size_t width) {
    return Member{static_cast<std::uint16_t>(offset), static_cast<std::uint8_t>(width)};
  };
  switch (k) {
    case Kind::bytes: return m(offsetof(FlowRecord, raw_bytes), 8);
    case Kind::packets: return m(offsetof(FlowRecord, raw_packets), 8);
    case Kind::proto: return m(offsetof(FlowRecord, proto), 1);
    case Kind::tos: return m(offsetof(FlowRecord, ip_tos), 1);
    case Kind::tcp_flags: return m(offsetof(FlowRecord, tcp_flags), 1);
    case Kind::src_port: return m(offsetof(FlowRecord, src_port), 2);
    case Kind::dst_port: return m(offsetof(FlowRecord, dst_port), 2);
    case Kind::in_if: return m(offsetof(FlowRecord, in_if), 4);
    case Kind::out_if: return m(offsetof(FlowRecord, out_if), 4);
    case Kind::src_as: return m(offsetof(FlowRecord, src_as), 4);
    case Kind::dst_as: return m(offsetof(FlowRecord, dst_as), 4);
    case Kind::next_hop_as: return m(offsetof(FlowRecord, next_hop_as), 4);
    case Kind::src_mask: return m(offsetof(FlowRecord, src_prefix_len), 1);
    case Kind::dst_mask: return m(offsetof(FlowRecord, dst_prefix_len), 1);
    case Kind::ttl: return m(offsetof(FlowRecord, ip_ttl), 1);
    case Kind::fragment_id: return m(offsetof(FlowRecord, fragment_id), 4);
    case Kind::forwarding_status: return m(offsetof(FlowRecord, forwarding_status), 1);
    default: return {};  // masked, converted, shared with another kind, or not an integer
  }
}

// One mapped field of a compiled template. For a template with variable-length fields `offset`
// is unknown until the record is read, so the op names its field index instead.
struct Op {
  std::uint16_t offset;
  std::uint16_t length;
  std::uint16_t field;
  std::uint16_t need;  // exact length the member needs (0 = any integer width)
  Kind kind;
  std::uint8_t aux;
  Member member{};  // integer_member(kind), set by compile
};

// A field a fixed-length data template copies as it stands into a member no other op writes: a
// big-endian integer at record offset `from` into the FlowRecord member at byte offset `to`.
// Grouped by shape (wire length, member width), each group is one loop with no dispatch per field:
// most fields of real templates are such copies, and the per-field switch cost more than the copy.
struct Move {
  std::uint16_t from;
  std::uint16_t to;
};
enum Shape : std::uint8_t { u8_be8, u16_be16, u32_be16, u32_be32, u64_be32, u64_be64, shape_count };
struct AddressMove {
  std::uint16_t from;
  IpAddress FlowRecord::*to;
};

struct Template {
  std::vector<FieldSpec> fields;
  std::vector<Op> ops;  // every mapped field, less the moves below
  std::array<std::vector<Move>, shape_count> moves;
  std::vector<AddressMove> v4_moves;
  std::vector<AddressMove> v6_moves;
  std::uint32_t min_length = 0;  // the record length when !varlen
  std::uint16_t scope_count = 0;
  bool options = false;
  bool varlen = false;
  bool icmp_from_port = false;  // no ICMP field: take type/code from the destination port
  bool uptime_times = false;    // has 21/22 (needs sysUpTime or systemInitTime)
};

struct TemplateKey {
  std::array<std::uint8_t, 16> addr{};
  std::uint32_t domain = 0;
  std::uint16_t id = 0;
  std::uint8_t version = 0;
  std::uint8_t pad = 0;
  friend bool operator==(const TemplateKey&, const TemplateKey&) = default;
};

std::uint64_t mix(std::uint64_t h) noexcept {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return h;
}

struct TemplateKeyHash {
  std::size_t operator()(const TemplateKey& k) const noexcept {
    std::uint64_t a, b;
    std::memcpy(&a, k.addr.data(), 8);
    std::memcpy(&b, k.addr.data() + 8, 8);
    return mix(a * 0x9e3779b97f4a7c15ULL ^ b ^
               ((std::uint64_t{k.domain} << 24) | (std::uint64_t{k.id} << 8) | k.version));
  }
};

using AddrKey = std::array<std::uint8_t, 16>;
struct AddrKeyHash {
  std::size_t operator()(const AddrKey& k) const noexcept {
    std::uint64_t a, b;
    std::memcpy(&a, k.data(), 8);
    std::memcpy(&b, k.data() + 8, 8);
    return mix(a * 0x9e3779b97f4a7c15ULL ^ b);
  }
};

struct SamplerRate {
  std::uint32_t domain = 0;
  std::uint32_t sampler_id = 0;
  std::uint32_t rate = 0;
  std::uint8_t version = 0;
};

struct SysInit {
  std::uint32_t domain = 0;
  std::uint8_t version = 0;
  std::uint64_t ms = 0;
};

// A data set kept until its template comes, with the header values needed to decode it later.
struct PendingSet {
  std::vector<std::uint8_t> bytes;  // the set body; capacity reused across holds
  std::uint64_t order = 0;          // arrival order, to release and evict oldest first
  std::uint64_t received_ns = 0;
  std::uint64_t export_ns = 0;
  std::uint32_t sys_uptime_ms = 0;
  std::uint32_t sequence = 0;
  std::uint32_t domain = 0;
  std::uint16_t template_id = 0;
  std::uint8_t version = 0;
  bool used = false;
};

struct Exporter {
  IpAddress address;
  std::uint32_t template_count = 0;
  std::array<SamplerRate, max_rates_per_exporter> rates{};
  std::uint32_t rates_n = 0;
  std::uint32_t rates_next = 0;  // next slot to overwrite once full
  std::array<SysInit, max_sys_init_per_exporter> sys_init{};
  std::uint32_t sys_init_n = 0;
  std::vector<PendingSet> pending;  // max_pending_per_exporter slots, made at the first hold
  std::uint32_t pending_n = 0;
  std::size_t pending_bytes = 0;

  // The rate for (version, domain, sampler); with `any`, the last rate of the domain if that
  // sampler has none (exporters announce one sampler and leave its id out of the data records).
  std::uint32_t rate(std::uint8_t version, std::uint32_t domain, std::uint32_t sampler,
                     bool any) const noexcept {
    std::uint32_t fallback = 0;
    for (std::uint32_t i = 0; i < rates_n; ++i) {
      const SamplerRate& s = rates[i];
      if (s.version != version || s.domain != domain) continue;
      if (s.sampler_id == sampler) return s.rate;
      fallback = s.rate;
    }
    return any ? fallback : 0;
  }
  void set_rate(std::uint8_t version, std::uint32_t domain, std::uint32_t sampler,
                std::uint32_t rate) noexcept {
    for (std::uint32_t i = 0; i < rates_n; ++i) {
      SamplerRate& s = rates[i];
      if (s.version == version && s.domain == domain && s.sampler_id == sampler) {
        s.rate = rate;
        return;
      }
    }
    std::uint32_t slot = rates_n;
    if (rates_n == rates.size()) {
      slot = rates_next;
      rates_next = (rates_next + 1) % rates.size();
    } else {
      ++rates_n;
    }
    rates[slot] = {domain, sampler, rate, version};
  }
  const SysInit* find_sys_init(std::uint8_t version, std::uint32_t domain) const noexcept {
    for (std::uint32_t i = 0; i < sys_init_n; ++i)
      if (sys_init[i].version == version && sys_init[i].domain == domain) return &sys_init[i];
    return nullptr;
  }
  void set_sys_init(std::uint8_t version, std::uint32_t domain, std::uint64_t ms) noexcept {
    for (std::uint32_t i = 0; i < sys_init_n; ++i) {
      if (sys_init[i].version == version && sys_init[i].domain == domain) {
        sys_init[i].ms = ms;
        return;
      }
    }
    const std::uint32_t slot = sys_init_n < sys_init.size() ? sys_init_n++ : 0;
    sys_init[slot] = {domain, version, ms};
  }
};

// What one datagram's header says, shared by all its sets (or kept with a held set).
struct SetContext {
  Exporter* ex = nullptr;
  const IpAddress* exporter = nullptr;
  std::uint64_t received_ns = 0;
  std::uint64_t export_ns = 0;
  std::uint32_t sys_uptime_ms = 0;  // NetFlow v9 only
  std::uint32_t sequence = 0;
  std::uint32_t domain = 0;
  std::uint8_t version = 0;
};

// Per-record values that need another field, the header or the exporter's state to resolve.
struct Scratch {
  enum : std::uint8_t {
    has_start_uptime = 1,
    has_end_uptime = 2,
    has_sys_init = 4,
    has_sampler_id = 8,
    has_interval = 16,
    has_packet_interval = 32,
    has_packet_space = 64,
  };
  std::uint8_t has = 0;
  std::uint32_t start_uptime_ms = 0;
  std::uint32_t end_uptime_ms = 0;
  std::uint32_t sampler_id = 0;
  std::uint64_t sys_init_ms = 0;
  std::uint64_t interval = 0;
  std::uint64_t packet_interval = 0;
  std::uint64_t packet_space = 0;
};

inline std::uint64_t read_uint(const std::uint8_t* f, std::size_t len) noexcept {
  switch (len) {
    case 1: return f[0];
    case 2: return load_be16(f);
    case 4: return load_be32(f);
    case 8: return load_be64(f);
    default: return load_be_var(f, len);
  }
}

inline std::uint64_t scale(std::uint64_t v, std::uint32_t rate) noexcept {
  std::uint64_t r;
  return __builtin_mul_overflow(v, static_cast<std::uint64_t>(rate), &r) ? UINT64_MAX : r;
}

inline std::uint64_t ms_to_ns(std::uint64_t ms) noexcept {
  std::uint64_t r;
  return __builtin_mul_overflow(ms, ns_per_ms, &r) ? 0 : r;
}

// NTP 64-bit timestamp (seconds since 1900, binary fraction) to ns since the Unix epoch.
inline std::uint64_t ntp_to_ns(std::uint64_t ntp) noexcept {
  const std::uint64_t secs = ntp >> 32;
  if (secs < ntp_to_unix_seconds) return 0;
  const std::uint64_t frac_ns = ((ntp & 0xffffffffULL) * 1'000'000'000ULL) >> 32;
  return (secs - ntp_to_unix_seconds) * 1'000'000'000ULL + frac_ns;
}

// NetFlow v9 uptime stamps: the difference to the header's sysUpTime is taken as signed 32 bits,
// so a flow that began before the counter wrapped is still placed right.
inline std::uint64_t uptime_to_ns(const SetContext& c, std::uint32_t ms) noexcept {
  const auto ago_ms = static_cast<std::int32_t>(c.sys_uptime_ms - ms);
  return c.export_ns - static_cast<std::uint64_t>(static_cast<std::int64_t>(ago_ms) * 1'000'000);
}

inline bool all_zero(const std::uint8_t* p, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i)
    if (p[i] != 0) return false;
  return true;
}

// An address field fills its member unless the member is already set and this one is zero
// (templates carrying both an IPv4 and an IPv6 field leave the unused one zero).
inline void set_v4(IpAddress& a, const std::uint8_t* f) noexcept {
  if (a.empty() || load_be32(f) != 0) a.set_v4_bytes(f);
}
inline void set_v6(IpAddress& a, const std::uint8_t* f) noexcept {
  if (a.empty() || !all_zero(f, 16)) a.set_v6_bytes(f);
}

// Stores `v` at `to` (a FlowRecord member by its byte offset).
template <typename T>
inline void put(std::uint8_t* to, T v) noexcept {
  std::memcpy(to, &v, sizeof v);
}

template <bool Var>
inline void run_ops(const Template& t, const std::uint8_t* rec, const std::uint32_t* offs,
                    const std::uint32_t* lens, const SetContext& c, FlowRecord& r, Scratch& s) noexcept {
  for (const Op& op : t.ops) {
    const std::uint8_t* f;
    std::size_t len;
    if constexpr (Var) {
      f = rec + offs[op.field];
      len = lens[op.field];
      if (len == 0 || (op.need != 0 && len != op.need)) continue;
    } else {
      f = rec + op.offset;
      len = op.length;
    }
    if (op.member.width != 0) {  // an integer copied as it stands (truncated to the member)
      const std::uint64_t v = read_uint(f, len);
      auto* to = reinterpret_cast<std::uint8_t*>(&r) + op.member.offset;
      switch (op.member.width) {
        case 1: *to = static_cast<std::uint8_t>(v); break;
        case 2: put(to, static_cast<std::uint16_t>(v)); break;
        case 4: put(to, static_cast<std::uint32_t>(v)); break;
        default: put(to, v); break;
      }
      continue;
    }
    switch (op.kind) {
      case Kind::bytes:  // integer_member's kinds: copied above
      case Kind::packets:
      case Kind::proto:
      case Kind::tos:
      case Kind::tcp_flags:
      case Kind::src_port:
      case Kind::dst_port:
      case Kind::in_if:
      case Kind::out_if:
      case Kind::src_as:
      case Kind::dst_as:
      case Kind::next_hop_as:
      case Kind::src_mask:
      case Kind::dst_mask:
      case Kind::ttl:
      case Kind::fragment_id:
      case Kind::forwarding_status: break;
      case Kind::src_v4: set_v4(r.src_addr, f); break;
      case Kind::dst_v4: set_v4(r.dst_addr, f); break;
      case Kind::src_v6: set_v6(r.src_addr, f); break;
      case Kind::dst_v6: set_v6(r.dst_addr, f); break;
      case Kind::next_hop_v4: set_v4(r.next_hop, f); break;
      case Kind::next_hop_v6: set_v6(r.next_hop, f); break;
      case Kind::bgp_next_hop_v4: set_v4(r.bgp_next_hop, f); break;
      case Kind::bgp_next_hop_v6: set_v6(r.bgp_next_hop, f); break;
      case Kind::src_mac: std::memcpy(r.src_mac.data(), f, 6); break;
      case Kind::dst_mac: std::memcpy(r.dst_mac.data(), f, 6); break;
      case Kind::src_vlan: r.src_vlan = static_cast<std::uint16_t>(read_uint(f, len) & 0xfff); break;
      case Kind::dst_vlan: r.dst_vlan = static_cast<std::uint16_t>(read_uint(f, len) & 0xfff); break;
      case Kind::vlan_id: r.vlan_id = static_cast<std::uint16_t>(read_uint(f, len) & 0xfff); break;
      case Kind::icmp_type_code: {
        const auto v = read_uint(f, len);
        r.icmp_type = static_cast<std::uint8_t>(v >> 8);
        r.icmp_code = static_cast<std::uint8_t>(v);
        break;
      }
      case Kind::icmp_type: r.icmp_type = static_cast<std::uint8_t>(read_uint(f, len)); break;
      case Kind::icmp_code: r.icmp_code = static_cast<std::uint8_t>(read_uint(f, len)); break;
      case Kind::flow_label:
        r.ipv6_flow_label = static_cast<std::uint32_t>(read_uint(f, len) & 0xfffff);
        break;
      case Kind::fragment_offset:  // the header field, in units of 8 bytes
        r.fragment_offset = static_cast<std::uint16_t>((read_uint(f, len) & 0x1fff) * 8);
        break;
      case Kind::direction:
        r.direction = read_uint(f, len) == 0 ? FlowDirection::ingress : FlowDirection::egress;
        break;
      case Kind::mpls_label: {
        const auto v = read_uint(f, len);  // label (20 bits), exp (3), bottom-of-stack (1)
        r.mpls_labels[op.aux] = static_cast<std::uint32_t>((v >> 4) & 0xfffff);
        if (v != 0 && r.mpls_count < op.aux + 1) r.mpls_count = static_cast<std::uint8_t>(op.aux + 1);
        break;
      }
      case Kind::ip_version: {
        const auto v = read_uint(f, len);
        r.etype = v == 4 ? 0x0800 : v == 6 ? 0x86dd : 0;
        break;
      }
      case Kind::etype: r.etype = static_cast<std::uint16_t>(read_uint(f, len)); break;
      case Kind::start_uptime_ms:
        s.start_uptime_ms = static_cast<std::uint32_t>(read_uint(f, len));
        s.has |= Scratch::has_start_uptime;
        break;
      case Kind::end_uptime_ms:
        s.end_uptime_ms = static_cast<std::uint32_t>(read_uint(f, len));
        s.has |= Scratch::has_end_uptime;
        break;
      case Kind::start_s: r.time_flow_start_ns = read_uint(f, len) * 1'000'000'000ULL; break;
      case Kind::end_s: r.time_flow_end_ns = read_uint(f, len) * 1'000'000'000ULL; break;
      case Kind::start_ms: r.time_flow_start_ns = ms_to_ns(read_uint(f, len)); break;
      case Kind::end_ms: r.time_flow_end_ns = ms_to_ns(read_uint(f, len)); break;
      case Kind::start_ntp: r.time_flow_start_ns = ntp_to_ns(load_be64(f)); break;
      case Kind::end_ntp: r.time_flow_end_ns = ntp_to_ns(load_be64(f)); break;
      case Kind::start_delta_us: r.time_flow_start_ns = c.export_ns - read_uint(f, len) * 1000; break;
      case Kind::end_delta_us: r.time_flow_end_ns = c.export_ns - read_uint(f, len) * 1000; break;
      case Kind::sys_init_ms:
        s.sys_init_ms = read_uint(f, len);
        s.has |= Scratch::has_sys_init;
        break;
      case Kind::sampler_id:
        s.sampler_id = static_cast<std::uint32_t>(read_uint(f, len));
        s.has |= Scratch::has_sampler_id;
        break;
      case Kind::sampling_interval:
        s.interval = read_uint(f, len);
        s.has |= Scratch::has_interval;
        break;
      case Kind::packet_interval:
        s.packet_interval = read_uint(f, len);
        s.has |= Scratch::has_packet_interval;
        break;
      case Kind::packet_space:
        s.packet_space = read_uint(f, len);
        s.has |= Scratch::has_packet_space;
        break;
    }
  }
}

// The moves of a fixed-length data template (see Move): before run_ops, which does the rest.
inline void run_moves(const Template& t, const std::uint8_t* rec, FlowRecord& r) noexcept {
  auto* out = reinterpret_cast<std::uint8_t*>(&r);
  for (const Move& m : t.moves[u8_be8]) out[m.to] = rec[m.from];
  for (const Move& m : t.moves[u16_be16]) put(out + m.to, load_be16(rec + m.from));
  for (const Move& m : t.moves[u32_be16]) put(out + m.to, std::uint32_t{load_be16(rec + m.from)});
  for (const Move& m : t.moves[u32_be32]) put(out + m.to, load_be32(rec + m.from));
  for (const Move& m : t.moves[u64_be32]) put(out + m.to, std::uint64_t{load_be32(rec + m.from)});
  for (const Move& m : t.moves[u64_be64]) put(out + m.to, load_be64(rec + m.from));
  for (const AddressMove& m : t.v4_moves) (r.*m.to).set_v4_bytes(rec + m.from);
  for (const AddressMove& m : t.v6_moves) (r.*m.to).set_v6_bytes(rec + m.from);
}

// 1-in-N from sampling fields of one record; 0 if it carries none.
std::uint32_t record_rate(const Scratch& s) noexcept {
  std::uint64_t rate = 0;
  if (s.has & Scratch::has_interval) {
    rate = s.interval;
  } else if ((s.has & Scratch::has_packet_interval) && s.packet_interval != 0) {
    // samplingPacketInterval packets taken, then samplingPacketSpace skipped.
    rate = (s.has & Scratch::has_packet_space) ? (s.packet_interval + s.packet_space) / s.packet_interval
                                               : s.packet_interval;
  }
  return rate > UINT32_MAX ? UINT32_MAX : static_cast<std::uint32_t>(rate);
}

// Resolves what a record's ops left in `s` and applies the sampling rate.
inline void finish_record(const Template& t, const SetContext& c, FlowRecord& r, const Scratch& s) noexcept {
  if (s.has != 0) {
    if (s.has & (Scratch::has_start_uptime | Scratch::has_end_uptime)) {
      if (c.version == 9) {
        if (s.has & Scratch::has_start_uptime) r.time_flow_start_ns = uptime_to_ns(c, s.start_uptime_ms);
        if (s.has & Scratch::has_end_uptime) r.time_flow_end_ns = uptime_to_ns(c, s.end_uptime_ms);
      } else {
        // IPFIX flowStart/EndSysUpTime count from systemInitTimeMilliseconds, carried in the
        // record itself or announced by options data.
        std::uint64_t init = 0;
        if (s.has & Scratch::has_sys_init) {
          init = s.sys_init_ms;
        } else if (c.ex != nullptr) {
          if (const SysInit* si = c.ex->find_sys_init(c.version, c.domain)) init = si->ms;
        }
        if (init != 0) {
          if (s.has & Scratch::has_start_uptime) r.time_flow_start_ns = ms_to_ns(init + s.start_uptime_ms);
          if (s.has & Scratch::has_end_uptime) r.time_flow_end_ns = ms_to_ns(init + s.end_uptime_ms);
        }
      }
    }
    std::uint32_t rate = record_rate(s);
    if (rate == 0 && (s.has & Scratch::has_sampler_id) && c.ex != nullptr)
      rate = c.ex->rate(c.version, c.domain, s.sampler_id, false);
    if (rate != 0) r.sampling_rate = rate;
  }
  if (r.sampling_rate > 1) {
    r.bytes = scale(r.raw_bytes, r.sampling_rate);
    r.packets = scale(r.raw_packets, r.sampling_rate);
  } else {
    r.bytes = r.raw_bytes;
    r.packets = r.raw_packets;
  }
  if (r.etype == 0) r.etype = r.src_addr.family == 4 ? 0x0800 : r.src_addr.family == 6 ? 0x86dd : 0;
  if (t.icmp_from_port && (r.proto == 1 || r.proto == 58)) {
    // Exporters without an ICMP field put type << 8 | code in the destination port.
    r.icmp_type = static_cast<std::uint8_t>(r.dst_port >> 8);
    r.icmp_code = static_cast<std::uint8_t>(r.dst_port);
  }
}

bool options_kind(Kind k) noexcept {
  switch (k) {
    case Kind::sampler_id:
    case Kind::sampling_interval:
    case Kind::packet_interval:
    case Kind::packet_space:
    case Kind::sys_init_ms: return true;
    default: return false;
  }
}

// The address member a v4/v6 kind fills, or null.
IpAddress FlowRecord::*address_member(Kind k) noexcept {
  switch (k) {
    case Kind::src_v4:
    case Kind::src_v6: return &FlowRecord::src_addr;
    case Kind::dst_v4:
    case Kind::dst_v6: return &FlowRecord::dst_addr;
    case Kind::next_hop_v4:
    case Kind::next_hop_v6: return &FlowRecord::next_hop;
    case Kind::bgp_next_hop_v4:
    case Kind::bgp_next_hop_v6: return &FlowRecord::bgp_next_hop;
    default: return nullptr;
  }
}

// Takes the plain copies of a fixed-length data template out of its ops into its moves. A member
// two ops write stays with the ops, which run in field order (the last one wins, an address is
// not overwritten by a zero one): a move is the only writer of its member.
void split_moves(Template& t) {
  for (auto& m : t.moves) m.clear();
  t.v4_moves.clear();
  t.v6_moves.clear();
  if (t.varlen || t.options) return;
  auto writers = [&t](auto&& same) { return std::count_if(t.ops.begin(), t.ops.end(), same); };
  std::vector<Op> rest;
  for (const Op& op : t.ops) {
    if (IpAddress FlowRecord::*a = address_member(op.kind)) {
      const bool v6 = op.length == 16;
      if (writers([&](const Op& o) { return address_member(o.kind) == a; }) == 1) {
        (v6 ? t.v6_moves : t.v4_moves).push_back({op.offset, a});
        continue;
      }
    } else if (const Member m = op.member; m.width != 0) {
      int shape = -1;
      if (op.length == 1 && m.width == 1) shape = u8_be8;
      if (op.length == 2 && m.width == 2) shape = u16_be16;
      if (op.length == 2 && m.width == 4) shape = u32_be16;
      if (op.length == 4 && m.width == 4) shape = u32_be32;
      if (op.length == 4 && m.width == 8) shape = u64_be32;
      if (op.length == 8 && m.width == 8) shape = u64_be64;
      if (shape >= 0 && writers([&](const Op& o) { return o.kind == op.kind; }) == 1) {
        t.moves[static_cast<std::size_t>(shape)].push_back({op.offset, m.offset});
        continue;
      }
    }
    rest.push_back(op);
  }
  t.ops = std::move(rest);
}

// Turns a template's field list into ops. Returns the reason it is refused, or count_ if fine.
DropReason compile(Template& t, std::uint8_t version, const Limits& limits) {
  struct Best {
    const ipfix::FieldMapping* m = nullptr;
    std::uint16_t field = 0;
  };
  std::array<Best, static_cast<std::size_t>(Slot::count_)> best{};
  const auto table = ipfix::field_mappings();
  std::uint64_t length = 0;
  t.ops.clear();
  t.varlen = false;
  bool has_icmp = false;
  bool has_dst_port = false;
  // Offsets of fixed fields; meaningful while no variable-length field precedes them.
  std::vector<std::uint32_t> offsets(t.fields.size());
  for (std::size_t i = 0; i < t.fields.size(); ++i) {
    const FieldSpec& f = t.fields[i];
    offsets[i] = static_cast<std::uint32_t>(length);
    if (f.length == var_length && version == 10) {
      t.varlen = true;
      length += 1;  // at least its one-byte length prefix
    } else {
      length += f.length;
    }
    if (f.pen != 0 || f.length == 0) continue;                     // enterprise fields are skipped
    if (version == 9 && t.options && i < t.scope_count) continue;  // NF9 scope types are not IEs
    auto it = std::lower_bound(table.begin(), table.end(), f.type,
                               [](const ipfix::FieldMapping& m, std::uint16_t e) { return m.element < e; });
    for (; it != table.end() && it->element == f.type; ++it) {
      const std::uint16_t need = ipfix::required_length(it->kind);
      const bool var = f.length == var_length && version == 10;
      if (!var && need != 0 && f.length != need) continue;  // an address of the wrong size
      if (t.options && !options_kind(it->kind)) continue;
      if (it->slot == Slot::none) {
        t.ops.push_back({0, f.length, static_cast<std::uint16_t>(i), need, it->kind, it->aux});
        continue;
      }
      Best& b = best[static_cast<std::size_t>(it->slot)];
      if (b.m == nullptr || it->priority < b.m->priority) b = {&*it, static_cast<std::uint16_t>(i)};
    }
  }
  for (const Best& b : best) {
    if (b.m == nullptr) continue;
    t.ops.push_back(
        {0, t.fields[b.field].length, b.field, ipfix::required_length(b.m->kind), b.m->kind, b.m->aux});
  }
  if (length == 0) return DropReason::template_invalid;
  if (length > limits.max_record_length || length > 65535) return DropReason::record_too_long;
  t.min_length = static_cast<std::uint32_t>(length);
  t.uptime_times = false;
  for (Op& op : t.ops) {
    op.offset = static_cast<std::uint16_t>(offsets[op.field]);
    op.member = integer_member(op.kind);
    has_icmp |= op.kind == Kind::icmp_type_code || op.kind == Kind::icmp_type;
    has_dst_port |= op.kind == Kind::dst_port;
    t.uptime_times |= op.kind == Kind::start_uptime_ms || op.kind == Kind::end_uptime_ms;
  }
  // In record order, so the loop walks the record forwards.
  std::sort(t.ops.begin(), t.ops.end(), [](const Op& a, const Op& b) { return a.field < b.field; });
  t.icmp_from_port = !has_icmp && has_dst_port;
  split_moves(t);
  return DropReason::count_;
}

}  // namespace

struct TemplateDecoder::Impl {
  explicit Impl(const Limits& l) : limits(l) {
    const std::size_t n =
        std::min<std::size_t>(std::max<std::uint32_t>(l.max_fields_per_template, 1), max_fields_scratch);
    var_offsets.resize(n);
    var_lengths.resize(n);
    field_buf.reserve(n);
  }

  Limits limits;
  std::unordered_map<TemplateKey, Template, TemplateKeyHash> templates;
  std::unordered_map<AddrKey, Exporter, AddrKeyHash> exporters;
  TemplateKey cached_key;
  const Template* cached = nullptr;
  AddrKey cached_addr{};
  Exporter* cached_exporter = nullptr;
  std::vector<std::uint32_t> var_offsets;
  std::vector<std::uint32_t> var_lengths;
  std::vector<FieldSpec> field_buf;
  std::size_t pending_total = 0;
  std::size_t pending_bytes_total = 0;
  std::uint64_t pending_order = 0;

  Exporter* exporter(const IpAddress& a) {
    if (cached_exporter != nullptr && cached_addr == a.bytes) return cached_exporter;
    auto it = exporters.find(a.bytes);
    if (it == exporters.end()) {
      if (exporters.size() >= max_exporters) return nullptr;
      it = exporters.emplace(a.bytes, Exporter{}).first;
      it->second.address = a;
    }
    cached_addr = a.bytes;
    cached_exporter = &it->second;
    return cached_exporter;
  }

  static TemplateKey key(const SetContext& c, std::uint16_t id) {
    TemplateKey k;
    k.addr = c.exporter->bytes;
    k.domain = c.domain;
    k.id = id;
    k.version = c.version;
    return k;
  }

  const Template* find(const TemplateKey& k) {
    if (cached != nullptr && cached_key == k) return cached;
    auto it = templates.find(k);
    if (it == templates.end()) return nullptr;
    cached_key = k;
    cached = &it->second;
    return cached;
  }

  static void log_error(const SetContext& c, std::string_view kind, std::string_view message,
                        std::uint64_t value) {
    log_drop(*c.exporter, kind, message,
             {{"version", static_cast<unsigned>(c.version)}, {"domain", c.domain}, {"value", value}});
  }

  void decode(const Datagram& dg, RecordWriter& out, DecodeStats& stats);
  void sets(const std::uint8_t* p, std::size_t n, const SetContext& c, RecordWriter& out, DecodeStats& stats);
  void template_set(const std::uint8_t* p, std::size_t n, bool options, const SetContext& c,
                    RecordWriter& out, DecodeStats& stats);
  void netflow9_options_set(const std::uint8_t* p, std::size_t n, const SetContext& c, RecordWriter& out,
                            DecodeStats& stats);
  void add_template(const SetContext& c, std::uint16_t id, std::uint16_t scope_count, bool options,
                    RecordWriter& out, DecodeStats& stats);
  void withdraw(const SetContext& c, std::uint16_t id, bool options);
  // A template (re)definition refused for `why`: counted, logged, and an earlier template of the
  // same id withdrawn, since the exporter's data no longer follows it (held, not decoded wrong).
  void refuse(const SetContext& c, DecodeStats& stats, std::uint16_t id, bool options, DropReason why,
              std::string_view kind, std::string_view message, std::uint64_t value) {
    stats.count(why);
    log_error(c, kind, message, value);
    withdraw(c, id, options);
  }
  void data_set(std::uint16_t id, const std::uint8_t* p, std::size_t n, const SetContext& c,
                RecordWriter& out, DecodeStats& stats);
  void decode_records(const Template& t, const std::uint8_t* p, std::size_t n, const SetContext& c,
                      RecordWriter& out, DecodeStats& stats);
  void options_record(const Scratch& s, const SetContext& c);
  void hold(std::uint16_t id, const std::uint8_t* p, std::size_t n, const SetContext& c, DecodeStats& stats);
  void release(const SetContext& c, std::uint16_t id, RecordWriter& out, DecodeStats& stats);
  void free_slot(Exporter& ex, PendingSet& slot);
  std::size_t expire(Exporter& ex, std::uint64_t now_ns, DecodeStats& stats);
};

void TemplateDecoder::Impl::decode(const Datagram& dg, RecordWriter& out, DecodeStats& stats) {
  ++stats.datagrams;
  SetContext c;
  c.exporter = &dg.exporter;
  c.received_ns = dg.time_received_ns;
  if (dg.size < 4) {
    stats.count(DropReason::truncated);
    return;
  }
  const std::uint16_t version = load_be16(dg.data);
  std::size_t size = dg.size;
  std::size_t header;
  if (version == 9) {
    if (size < netflow9_header_size) {
      stats.count(DropReason::truncated);
      log_error(c, "netflow9_truncated", "NetFlow v9 datagram shorter than its header", size);
      return;
    }
    // The header's count is not used: exporters (softflowd among them) get it wrong.
    c.sys_uptime_ms = load_be32(dg.data + 4);
    c.export_ns = std::uint64_t{load_be32(dg.data + 8)} * 1'000'000'000ULL;
    c.sequence = load_be32(dg.data + 12);
    c.domain = load_be32(dg.data + 16);
    header = netflow9_header_size;
  } else if (version == 10) {
    if (size < ipfix_header_size) {
      stats.count(DropReason::truncated);
      log_error(c, "ipfix_truncated", "IPFIX message shorter than its header", size);
      return;
    }
    const std::uint16_t length = load_be16(dg.data + 2);
    if (length < ipfix_header_size) {
      stats.count(DropReason::bad_length);
      log_error(c, "ipfix_bad_length", "IPFIX message length below the header size", length);
      return;
    }
    if (length > size) {
      stats.count(DropReason::truncated);
      log_error(c, "ipfix_truncated", "IPFIX message length exceeds the datagram", length);
      return;
    }
    size = length;  // bytes after the message are not part of it
    c.export_ns = std::uint64_t{load_be32(dg.data + 4)} * 1'000'000'000ULL;
    c.sequence = load_be32(dg.data + 8);
    c.domain = load_be32(dg.data + 12);
    header = ipfix_header_size;
  } else {
    stats.count(DropReason::bad_version);
    log_error(c, "template_bad_version", "not a NetFlow v9 or IPFIX datagram", version);
    return;
  }
  c.version = static_cast<std::uint8_t>(version);
  c.ex = exporter(dg.exporter);
  if (c.ex != nullptr && c.ex->pending_n != 0) expire(*c.ex, dg.time_received_ns, stats);
  sets(dg.data + header, size - header, c, out, stats);
}

void TemplateDecoder::Impl::sets(const std::uint8_t* p, std::size_t n, const SetContext& c, RecordWriter& out,
                                 DecodeStats& stats) {
  while (n >= 4) {
    const std::uint16_t id = load_be16(p);
    const std::uint16_t len = load_be16(p + 2);
    if (len < 4) {
      // NetFlow v9 exporters pad the datagram; a zero tail is padding, not a set.
      if (!all_zero(p, n)) {
        stats.count(DropReason::bad_length);
        log_error(c, "template_bad_set_length", "set length below 4", len);
      }
      return;
    }
    if (len > n) {
      stats.count(DropReason::truncated);
      log_error(c, "template_truncated_set", "set runs past the end of the datagram", len);
      return;
    }
    const std::uint8_t* body = p + 4;
    const std::size_t body_n = len - 4u;
    if (c.version == 9) {
      if (id == 0) {
        template_set(body, body_n, false, c, out, stats);
      } else if (id == 1) {
        netflow9_options_set(body, body_n, c, out, stats);
      } else if (id >= 256) {
        data_set(id, body, body_n, c, out, stats);
      }  // 2..255 are reserved: skipped by length
    } else {
      if (id == 2 || id == 3) {
        template_set(body, body_n, id == 3, c, out, stats);
      } else if (id >= 256) {
        data_set(id, body, body_n, c, out, stats);
      }
    }
    p += len;
    n -= len;
  }
}

// A NetFlow v9 template flowset (id 0) or an IPFIX template / options template set (id 2 / 3).
void TemplateDecoder::Impl::template_set(const std::uint8_t* p, std::size_t n, bool options,
                                         const SetContext& c, RecordWriter& out, DecodeStats& stats) {
  core::WireReader rd(p, n);
  const bool ipfix = c.version == 10;
  while (rd.remaining() >= 4) {
    if (all_zero(rd.data(), rd.remaining())) return;  // padding
    const std::uint16_t id = rd.u16();
    const std::uint16_t count = rd.u16();
    if (count == 0) {
      if (ipfix) {
        withdraw(c, id, options);
        continue;
      }
      stats.count(DropReason::template_invalid);
      log_error(c, "template_invalid", "template without fields", id);
      return;
    }
    std::uint16_t scope = 0;
    if (options) scope = rd.u16();
    if (id < 256) {
      stats.count(DropReason::template_invalid);
      log_error(c, "template_invalid", "template id below 256", id);
      return;  // the rest of the set cannot be trusted
    }
    field_buf.clear();
    const bool too_many = count > limits.max_fields_per_template;
    for (std::uint32_t i = 0; i < count; ++i) {
      FieldSpec f;
      f.type = rd.u16();
      f.length = rd.u16();
      if (ipfix && (f.type & 0x8000)) {
        f.type &= 0x7fff;
        f.pen = rd.u32();
      }
      if (!rd.ok()) {
        refuse(c, stats, id, options, DropReason::truncated, "template_truncated",
               "template runs past the end of its set", id);
        return;
      }
      if (!too_many) field_buf.push_back(f);
    }
    if (too_many) {
      refuse(c, stats, id, options, DropReason::too_many_fields, "template_too_many_fields",
             "template has more fields than allowed", count);
      continue;
    }
    if (options && (scope == 0 || scope > count)) {
      refuse(c, stats, id, options, DropReason::template_invalid, "template_invalid",
             "options template scope count out of range", scope);
      continue;
    }
    add_template(c, id, scope, options, out, stats);
  }
}

// NetFlow v9 options template flowset (id 1): scope and option lengths in bytes, no field count.
void TemplateDecoder::Impl::netflow9_options_set(const std::uint8_t* p, std::size_t n, const SetContext& c,
                                                 RecordWriter& out, DecodeStats& stats) {
  core::WireReader rd(p, n);
  while (rd.remaining() >= 6) {
    if (all_zero(rd.data(), rd.remaining())) return;  // padding
    const std::uint16_t id = rd.u16();
    const std::uint16_t scope_len = rd.u16();
    const std::uint16_t option_len = rd.u16();
    if (id < 256 || scope_len % 4 != 0 || option_len % 4 != 0 || scope_len + option_len == 0) {
      stats.count(DropReason::template_invalid);
      log_error(c, "template_invalid", "NetFlow v9 options template malformed", id);
      return;
    }
    const std::size_t count = (scope_len + option_len) / 4u;
    if (!rd.has(count * 4)) {
      refuse(c, stats, id, true, DropReason::truncated, "template_truncated",
             "options template runs past the end of its flowset", id);
      return;
    }
    if (count > limits.max_fields_per_template) {
      rd.skip(count * 4);
      refuse(c, stats, id, true, DropReason::too_many_fields, "template_too_many_fields",
             "options template has more fields than allowed", count);
      continue;
    }
    field_buf.clear();
    for (std::size_t i = 0; i < count; ++i) {
      FieldSpec f;
      f.type = rd.u16();
      f.length = rd.u16();
      field_buf.push_back(f);
    }
    add_template(c, id, static_cast<std::uint16_t>(scope_len / 4u), true, out, stats);
  }
}

void TemplateDecoder::Impl::add_template(const SetContext& c, std::uint16_t id, std::uint16_t scope_count,
                                         bool options, RecordWriter& out, DecodeStats& stats) {
  if (c.ex == nullptr) {
    stats.count(DropReason::too_many_templates);
    log_error(c, "template_too_many_exporters", "exporter table full, template refused", id);
    return;
  }
  const TemplateKey k = key(c, id);
  auto it = templates.find(k);
  if (it != templates.end()) {
    const Template& old = it->second;
    if (old.options == options && old.scope_count == scope_count &&
        std::equal(old.fields.begin(), old.fields.end(), field_buf.begin(), field_buf.end())) {
      ++stats.templates_received;  // a refresh: nothing changes
      return;
    }
  }
  Template t;
  t.fields.assign(field_buf.begin(), field_buf.end());
  t.scope_count = scope_count;
  t.options = options;
  const DropReason why = compile(t, c.version, limits);
  if (why != DropReason::count_) {
    refuse(c, stats, id, options, why, "template_refused", to_string(why), id);
    return;
  }
  if (it == templates.end() && c.ex->template_count >= limits.max_templates_per_exporter) {
    stats.count(DropReason::too_many_templates);
    log_error(c, "template_too_many", "exporter has more templates than allowed", id);
    return;
  }
  cached = nullptr;
  if (it != templates.end()) {
    it->second = std::move(t);
  } else {
    templates.emplace(k, std::move(t));
    ++c.ex->template_count;
  }
  ++stats.templates_received;
  if (c.ex->pending_n != 0) release(c, id, out, stats);
}

void TemplateDecoder::Impl::withdraw(const SetContext& c, std::uint16_t id, bool options) {
  if (c.ex == nullptr) return;
  cached = nullptr;
  if (id == (options ? 3 : 2)) {  // withdraw all data (set 2) or options (set 3) templates
    for (auto it = templates.begin(); it != templates.end();) {
      const TemplateKey& k = it->first;
      if (k.addr == c.exporter->bytes && k.domain == c.domain && k.version == c.version &&
          it->second.options == options) {
        it = templates.erase(it);
        --c.ex->template_count;
      } else {
        ++it;
      }
    }
    return;
  }
  auto it = templates.find(key(c, id));
  if (it == templates.end()) return;
  templates.erase(it);
  --c.ex->template_count;
}

void TemplateDecoder::Impl::data_set(std::uint16_t id, const std::uint8_t* p, std::size_t n,
                                     const SetContext& c, RecordWriter& out, DecodeStats& stats) {
  if (c.ex == nullptr) {
    stats.count(DropReason::template_missing);
    return;
  }
  const Template* t = find(key(c, id));
  if (t == nullptr) {
    hold(id, p, n, c, stats);
    return;
  }
  decode_records(*t, p, n, c, out, stats);
}

void TemplateDecoder::Impl::options_record(const Scratch& s, const SetContext& c) {
  if (c.ex == nullptr) return;
  if (s.has & Scratch::has_sys_init) c.ex->set_sys_init(c.version, c.domain, s.sys_init_ms);
  const std::uint32_t rate = record_rate(s);
  if (rate != 0)
    c.ex->set_rate(c.version, c.domain, (s.has & Scratch::has_sampler_id) ? s.sampler_id : 0, rate);
}

void TemplateDecoder::Impl::decode_records(const Template& t, const std::uint8_t* p, std::size_t n,
                                           const SetContext& c, RecordWriter& out, DecodeStats& stats) {
  FlowRecord& base = out.new_base();
  base.type = c.version == 9 ? FlowType::netflow9 : FlowType::ipfix;
  base.time_received_ns = c.received_ns;
  base.sequence_number = c.sequence;
  base.observation_domain = c.domain;
  base.sampler_address = *c.exporter;
  if (c.ex != nullptr) base.sampling_rate = c.ex->rate(c.version, c.domain, 0, true);

  if (!t.varlen) {
    const std::size_t len = t.min_length;
    if (t.options) {
      for (; n >= len; p += len, n -= len) {
        FlowRecord scratch_record;
        Scratch s;
        run_ops<false>(t, p, nullptr, nullptr, c, scratch_record, s);
        options_record(s, c);
      }
      return;
    }
    std::uint64_t k = 0;
    for (; n >= len; p += len, n -= len, ++k) {
      FlowRecord& r = out.add();
      Scratch s;
      run_moves(t, p, r);
      run_ops<false>(t, p, nullptr, nullptr, c, r, s);
      finish_record(t, c, r, s);
    }
    stats.records += k;
    return;
  }

  // Variable-length fields: find each field's offset first (1-byte length, or 255 and 2 bytes).
  const std::size_t nf = t.fields.size();
  std::uint32_t* offs = var_offsets.data();
  std::uint32_t* lens = var_lengths.data();
  while (n >= t.min_length) {
    std::size_t pos = 0;
    bool ok = true;
    for (std::size_t i = 0; i < nf; ++i) {
      std::size_t len = t.fields[i].length;
      if (len == var_length) {
        if (pos >= n) {
          ok = false;
          break;
        }
        len = p[pos++];
        if (len == 255) {
          if (n - pos < 2) {
            ok = false;
            break;
          }
          len = load_be16(p + pos);
          pos += 2;
        }
      }
      if (len > n - pos) {
        ok = false;
        break;
      }
      offs[i] = static_cast<std::uint32_t>(pos);
      lens[i] = static_cast<std::uint32_t>(len);
      pos += len;
    }
    if (!ok) {
      stats.count(DropReason::truncated);
      log_error(c, "template_truncated_record", "variable-length record runs past its set", n);
      return;
    }
    if (pos > limits.max_record_length) {
      stats.count(DropReason::record_too_long);
    } else if (t.options) {
      FlowRecord scratch_record;
      Scratch s;
      run_ops<true>(t, p, offs, lens, c, scratch_record, s);
      options_record(s, c);
    } else {
      FlowRecord& r = out.add();
      Scratch s;
      run_ops<true>(t, p, offs, lens, c, r, s);
      finish_record(t, c, r, s);
      ++stats.records;
    }
    p += pos;
    n -= pos;
  }
}

void TemplateDecoder::Impl::hold(std::uint16_t id, const std::uint8_t* p, std::size_t n, const SetContext& c,
                                 DecodeStats& stats) {
  Exporter& ex = *c.ex;
  if (limits.max_pending_per_exporter == 0 || n > max_pending_bytes_per_exporter) {
    stats.count(DropReason::template_missing);
    log_error(c, "template_missing", "data set for an unknown template dropped", id);
    return;
  }
  if (ex.pending.empty()) ex.pending.resize(limits.max_pending_per_exporter);
  // Make room: evict oldest sets while the slots or the byte budgets are used up.
  auto oldest = [&ex]() -> PendingSet* {
    PendingSet* o = nullptr;
    for (PendingSet& s : ex.pending)
      if (s.used && (o == nullptr || s.order < o->order)) o = &s;
    return o;
  };
  while (ex.pending_n != 0 &&
         (ex.pending_n == ex.pending.size() || ex.pending_bytes + n > max_pending_bytes_per_exporter ||
          pending_bytes_total + n > max_pending_bytes_total)) {
    PendingSet* o = oldest();
    stats.count(DropReason::pending_expired);
    free_slot(ex, *o);
  }
  if (pending_bytes_total + n > max_pending_bytes_total) {
    stats.count(DropReason::template_missing);
    return;
  }
  PendingSet* slot = nullptr;
  for (PendingSet& s : ex.pending)
    if (!s.used) {
      slot = &s;
      break;
    }
  slot->bytes.assign(p, p + n);
  slot->order = ++pending_order;
  slot->received_ns = c.received_ns;
  slot->export_ns = c.export_ns;
  slot->sys_uptime_ms = c.sys_uptime_ms;
  slot->sequence = c.sequence;
  slot->domain = c.domain;
  slot->template_id = id;
  slot->version = c.version;
  slot->used = true;
  ++ex.pending_n;
  ex.pending_bytes += n;
  ++pending_total;
  pending_bytes_total += n;
  ++stats.pending_held;
  log_error(c, "template_missing", "data set held until its template arrives", id);
}

void TemplateDecoder::Impl::free_slot(Exporter& ex, PendingSet& slot) {
  slot.used = false;
  --ex.pending_n;
  ex.pending_bytes -= slot.bytes.size();
  --pending_total;
  pending_bytes_total -= slot.bytes.size();
}

// Decodes, oldest first, the held sets of this exporter that wait for template `id`.
void TemplateDecoder::Impl::release(const SetContext& c, std::uint16_t id, RecordWriter& out,
                                    DecodeStats& stats) {
  Exporter& ex = *c.ex;
  for (;;) {
    PendingSet* next = nullptr;
    for (PendingSet& s : ex.pending)
      if (s.used && s.template_id == id && s.domain == c.domain && s.version == c.version &&
          (next == nullptr || s.order < next->order))
        next = &s;
    if (next == nullptr) return;
    const Template* t = find(key(c, id));
    if (t == nullptr) return;
    SetContext held = c;
    held.received_ns = next->received_ns;
    held.export_ns = next->export_ns;
    held.sys_uptime_ms = next->sys_uptime_ms;
    held.sequence = next->sequence;
    decode_records(*t, next->bytes.data(), next->bytes.size(), held, out, stats);
    free_slot(ex, *next);
  }
}

std::size_t TemplateDecoder::Impl::expire(Exporter& ex, std::uint64_t now_ns, DecodeStats& stats) {
  std::size_t n = 0;
  for (PendingSet& s : ex.pending) {
    if (s.used && now_ns >= s.received_ns && now_ns - s.received_ns > limits.pending_timeout_ns) {
      stats.count(DropReason::pending_expired);
      free_slot(ex, s);
      ++n;
    }
  }
  return n;
}

TemplateDecoder::TemplateDecoder(const Limits& limits) : impl_(std::make_unique<Impl>(limits)) {}
TemplateDecoder::~TemplateDecoder() = default;

void TemplateDecoder::decode(const Datagram& dg, RecordWriter& out, DecodeStats& stats) {
  impl_->decode(dg, out, stats);
}

std::size_t TemplateDecoder::expire_pending(std::uint64_t now_ns, DecodeStats& stats) {
  std::size_t n = 0;
  for (auto& [addr, ex] : impl_->exporters)
    if (ex.pending_n != 0) n += impl_->expire(ex, now_ns, stats);
  return n;
}

std::size_t TemplateDecoder::template_count() const noexcept { return impl_->templates.size(); }
std::size_t TemplateDecoder::template_count(const IpAddress& exporter) const noexcept {
  auto it = impl_->exporters.find(exporter.bytes);
  return it == impl_->exporters.end() ? 0 : it->second.template_count;
}
std::size_t TemplateDecoder::pending_count() const noexcept { return impl_->pending_total; }

std::uint32_t TemplateDecoder::sampling_rate(const IpAddress& exporter, std::uint32_t domain,
                                             std::uint32_t sampler_id) const noexcept {
  auto it = impl_->exporters.find(exporter.bytes);
  if (it == impl_->exporters.end()) return 0;
  const Exporter& ex = it->second;
  for (std::uint8_t v : {std::uint8_t{9}, std::uint8_t{10}})
    if (const std::uint32_t r = ex.rate(v, domain, sampler_id, false); r != 0) return r;
  return 0;
}

void TemplateDecoder::clear() noexcept {
  impl_->templates.clear();
  impl_->exporters.clear();
  impl_->cached = nullptr;
  impl_->cached_exporter = nullptr;
  impl_->pending_total = 0;
  impl_->pending_bytes_total = 0;
}

const Limits& TemplateDecoder::limits() const noexcept { return impl_->limits; }

}  // namespace flowpulse::decode
