// The front of the flow-export decoders, one per worker: it takes a datagram, picks the decoder by
// the version field (NetFlow v1/5/7, v9, IPFIX, sFlow v5) or by the protocol its port is configured
// for, owns the worker's template cache (TemplateDecoder), and keeps DecodeStats per exporter. The
// exporter table has a fixed capacity chosen at start-up (no allocation per datagram); exporters past
// it are summed into one "other" bucket, so received = decoded + dropped still holds in the totals.
// Also here: the UDP port → protocol map the CLI and the collector's listeners use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "decode/decoder.hpp"
#include "decode/template_decoder.hpp"

namespace flowpulse::decode {

// The protocol a datagram's leading version field says it is: 1/5/7 → netflow5 (one decoder for the
// fixed-layout family), 9 → netflow9, 10 → ipfix, a 32-bit 5 → sflow5. nullopt if none.
std::optional<Protocol> detect_protocol(const std::uint8_t* data, std::size_t size) noexcept;

// "netflow5", "netflow9", "ipfix", "sflow" (also "sflow5", "nf5", "nf9", "v5", "v9", "v10").
std::optional<Protocol> parse_protocol(std::string_view name) noexcept;

// UDP port → protocol. Defaults: 2055 netflow9, 2056 netflow5, 4739 ipfix, 6343 sflow5.
class PortMap {
 public:
  static PortMap defaults();
  void set(std::uint16_t port, Protocol protocol) { ports_[port] = static_cast<std::uint8_t>(protocol) + 1; }
  void clear() { ports_.assign(ports_.size(), 0); }
  std::optional<Protocol> find(std::uint16_t port) const noexcept {
    const std::uint8_t v = ports_[port];
    if (v == 0) return std::nullopt;
    return static_cast<Protocol>(v - 1);
  }

 private:
  std::vector<std::uint8_t> ports_ = std::vector<std::uint8_t>(65536, 0);
};

struct ExporterStats {
  IpAddress exporter;
  DecodeStats stats;
};

class FlowDecoder {
 public:
  static constexpr std::size_t default_max_exporters = 4096;

  explicit FlowDecoder(const Limits& limits = {}, std::size_t max_exporters = default_max_exporters);
  FlowDecoder(const FlowDecoder&) = delete;
  FlowDecoder& operator=(const FlowDecoder&) = delete;

  // Decodes one datagram. The version field picks the decoder, so a port configured for NetFlow v9
  // that receives v5 or IPFIX still decodes; `hint` (the port's protocol) chooses the decoder only
  // when the version is not one of ours, and that decoder then counts the bad version. With no hint
  // and no known version the datagram is counted as bad_version for its exporter.
  //
  // Returns the reason of an error this datagram caused (the lowest-numbered one when it caused
  // several), or nullopt when it decoded cleanly: the collector counts each datagram once as parsed
  // or dropped, so received = parsed + dropped.
  std::optional<DropReason> decode(const Datagram& dg, RecordWriter& out,
                                   std::optional<Protocol> hint = std::nullopt);

  // Expires data sets held for templates that never came (see TemplateDecoder::expire_pending).
  // They cannot be charged to one exporter here, so they count in the "other" bucket.
  std::size_t expire_pending(std::uint64_t now_ns);

  // The stats of one exporter, or nullptr if it is not in the table (never seen, or past capacity).
  const DecodeStats* find(const IpAddress& exporter) const noexcept;
  std::span<const ExporterStats> exporters() const noexcept { return exporters_; }
  // Exporters that did not fit in the table, and expiries not attributable to one exporter.
  const DecodeStats& other() const noexcept { return other_; }
  // Sum over every exporter and the other bucket.
  DecodeStats total() const noexcept;

  TemplateDecoder& templates() noexcept { return templates_; }
  std::size_t max_exporters() const noexcept { return max_exporters_; }

 private:
  DecodeStats& stats_for(const IpAddress& exporter) noexcept;

  TemplateDecoder templates_;
  std::size_t max_exporters_;
  std::vector<ExporterStats> exporters_;  // capacity reserved up front: no reallocation
  std::vector<std::int32_t> index_;       // open addressing into exporters_, -1 = empty
  std::size_t mask_;
  DecodeStats other_;
};

}  // namespace flowpulse::decode
