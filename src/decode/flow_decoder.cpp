#include "decode/flow_decoder.hpp"

#include <algorithm>
#include <bit>
#include <cstring>

#include "core/wire.hpp"
#include "decode/netflow5.hpp"
#include "decode/sflow5.hpp"

namespace flowpulse::decode {

namespace {

std::size_t hash_address(const IpAddress& a) noexcept {
  std::uint64_t hi;
  std::uint64_t lo;
  std::memcpy(&hi, a.bytes.data(), 8);
  std::memcpy(&lo, a.bytes.data() + 8, 8);
  // A multiply-xorshift mix: exporter addresses differ mostly in their low bytes.
  std::uint64_t h = (hi ^ (lo * 0x9e3779b97f4a7c15ULL) ^ a.family) * 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return static_cast<std::size_t>(h);
}

}  // namespace

std::optional<Protocol> detect_protocol(const std::uint8_t* data, std::size_t size) noexcept {
  if (size < 2) return std::nullopt;
  switch (core::load_be16(data)) {
    case 1:
    case 5:
    case 7: return Protocol::netflow5;
    case 9: return Protocol::netflow9;
    case 10: return Protocol::ipfix;
    case 0:
      if (size >= 4 && core::load_be32(data) == sflow5::version) return Protocol::sflow5;
      return std::nullopt;
    default: return std::nullopt;
  }
}

std::optional<Protocol> parse_protocol(std::string_view name) noexcept {
  if (name == "netflow5" || name == "nf5" || name == "v5" || name == "netflow") return Protocol::netflow5;
  if (name == "netflow9" || name == "nf9" || name == "v9") return Protocol::netflow9;
  if (name == "ipfix" || name == "v10") return Protocol::ipfix;
  if (name == "sflow" || name == "sflow5") return Protocol::sflow5;
  return std::nullopt;
}

PortMap PortMap::defaults() {
  PortMap m;
  m.set(2055, Protocol::netflow9);
  m.set(2056, Protocol::netflow5);
  m.set(4739, Protocol::ipfix);
  m.set(6343, Protocol::sflow5);
  return m;
}

FlowDecoder::FlowDecoder(const Limits& limits, std::size_t max_exporters)
    : templates_(limits), max_exporters_(max_exporters) {
  exporters_.reserve(max_exporters_);
  // Load factor at most one half keeps probe chains short.
  const std::size_t slots = std::bit_ceil(std::max<std::size_t>(2 * max_exporters_, 2));
  index_.assign(slots, -1);
  mask_ = slots - 1;
}

DecodeStats& FlowDecoder::stats_for(const IpAddress& exporter) noexcept {
  for (std::size_t i = hash_address(exporter) & mask_;; i = (i + 1) & mask_) {
    const std::int32_t slot = index_[i];
    if (slot < 0) {
      if (exporters_.size() == max_exporters_) return other_;
      index_[i] = static_cast<std::int32_t>(exporters_.size());
      exporters_.push_back(ExporterStats{exporter, DecodeStats{}});  // within the reserved capacity
      return exporters_.back().stats;
    }
    if (exporters_[static_cast<std::size_t>(slot)].exporter == exporter) {
      return exporters_[static_cast<std::size_t>(slot)].stats;
    }
  }
}

const DecodeStats* FlowDecoder::find(const IpAddress& exporter) const noexcept {
  for (std::size_t i = hash_address(exporter) & mask_;; i = (i + 1) & mask_) {
    const std::int32_t slot = index_[i];
    if (slot < 0) return nullptr;
    if (exporters_[static_cast<std::size_t>(slot)].exporter == exporter) {
      return &exporters_[static_cast<std::size_t>(slot)].stats;
    }
  }
}

std::optional<DropReason> FlowDecoder::decode(const Datagram& dg, RecordWriter& out,
                                              std::optional<Protocol> hint) {
  DecodeStats& stats = stats_for(dg.exporter);
  const auto before = stats.errors;
  std::optional<Protocol> protocol = detect_protocol(dg.data, dg.size);
  if (!protocol) protocol = hint;
  if (!protocol) {
    ++stats.datagrams;
    stats.count(dg.size < 4 ? DropReason::truncated : DropReason::bad_version);
  } else {
    switch (*protocol) {
      case Protocol::netflow5: decode_netflow5(dg, out, stats); break;
      case Protocol::netflow9:
      case Protocol::ipfix: templates_.decode(dg, out, stats); break;
      case Protocol::sflow5: decode_sflow5(dg, out, stats); break;
    }
  }
  for (std::size_t r = 0; r < drop_reason_count; ++r) {
    if (stats.errors[r] != before[r]) return static_cast<DropReason>(r);
  }
  return std::nullopt;
}

std::size_t FlowDecoder::expire_pending(std::uint64_t now_ns) {
  return templates_.expire_pending(now_ns, other_);
}

DecodeStats FlowDecoder::total() const noexcept {
  DecodeStats t = other_;
  for (const auto& e : exporters_) t += e.stats;
  return t;
}

}  // namespace flowpulse::decode
