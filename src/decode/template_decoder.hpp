// NetFlow v9 and IPFIX: one template engine for both. It owns, for one worker, the templates and
// options templates each exporter announced (keyed by exporter address, observation domain /
// source id and template id), the sampling rates and system init times options data announced,
// and a bounded hold of data sets that came before their template. A template is compiled once
// into a flat list of ops (offset, length, target member) so that decoding a record is one tight
// loop with no allocation; fields this project does not map are skipped by length.
//
// Not thread-safe: one instance per worker, and RSS / SO_REUSEPORT keep an exporter on one worker.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "decode/decoder.hpp"

namespace flowpulse::decode {

class TemplateDecoder {
 public:
  explicit TemplateDecoder(const Limits& limits = {});
  ~TemplateDecoder();
  TemplateDecoder(const TemplateDecoder&) = delete;
  TemplateDecoder& operator=(const TemplateDecoder&) = delete;

  // Decodes one NetFlow v9 (version 9) or IPFIX (version 10) datagram. Records go to `out`, every
  // rejection is counted into `stats` (the exporter's). Data sets held earlier for a template that
  // this datagram brings are decoded here too, and held sets of this exporter that are older than
  // limits.pending_timeout_ns (by dg.time_received_ns) are expired.
  void decode(const Datagram& dg, RecordWriter& out, DecodeStats& stats);

  // Expires held data sets of all exporters older than the timeout at `now_ns`; the run loop calls
  // it now and then so an exporter that went quiet does not keep its held sets. Returns how many.
  std::size_t expire_pending(std::uint64_t now_ns, DecodeStats& stats);

  // Data and options templates known, over all exporters.
  std::size_t template_count() const noexcept;
  // Data and options templates one exporter announced (all its observation domains).
  std::size_t template_count(const IpAddress& exporter) const noexcept;
  // Data sets held for a template not yet known, over all exporters.
  std::size_t pending_count() const noexcept;
  // The sampling rate options data announced for (exporter, domain, sampler id); 0 if none.
  std::uint32_t sampling_rate(const IpAddress& exporter, std::uint32_t domain,
                              std::uint32_t sampler_id) const noexcept;
  // Forgets every template, rate and held set (e.g. on a configuration reload).
  void clear() noexcept;

  const Limits& limits() const noexcept;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace flowpulse::decode
