// libFuzzer target for the NetFlow v9 / IPFIX template engine. One input is several datagrams, so
// templates, options and held data sets carry from one datagram to the next as they do from a real
// exporter: each datagram is [2-byte big-endian header][bytes], where the header's top bit picks
// one of two exporters and the low 15 bits are the length (the last datagram takes what is left).
// Small limits make eviction, expiry and the refusals reachable.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/log.hpp"
#include "decode/template_decoder.hpp"

using namespace flowpulse;

namespace {
class CheckSink : public decode::RecordSink {
 public:
  void on_records(std::span<const FlowRecord> records) override {
    for (const FlowRecord& r : records) {
      if (r.type != FlowType::netflow9 && r.type != FlowType::ipfix) __builtin_trap();
      if (r.mpls_count > FlowRecord::max_mpls_labels) __builtin_trap();
      if (r.sampling_rate > 1 && r.raw_bytes != 0 && r.bytes < r.raw_bytes) __builtin_trap();
    }
    n += records.size();
  }
  std::uint64_t n = 0;
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool quiet = [] {
    log::Options o;
    o.level = log::Level::error;
    log::configure(o);
    return true;
  }();
  (void)quiet;
  decode::Limits limits;
  limits.max_templates_per_exporter = 16;
  limits.max_fields_per_template = 64;
  limits.max_record_length = 2048;
  limits.max_pending_per_exporter = 4;
  limits.pending_timeout_ns = 3'000'000'000ULL;
  decode::TemplateDecoder td(limits);
  CheckSink sink;
  decode::DecodeStats stats;
  std::uint64_t now = 1'000'000'000ULL;
  {
    decode::RecordWriter out(sink);
    while (size >= 2) {
      const unsigned header = (data[0] << 8) | data[1];
      data += 2;
      size -= 2;
      std::size_t n = header & 0x7fff;
      if (n > size) n = size;
      // An exact-size copy, so a read past the datagram is a heap overflow ASan sees.
      const std::vector<std::uint8_t> copy(data, data + n);
      const IpAddress from = IpAddress::v4((header & 0x8000) ? 0x0a000002 : 0x0a000001);
      td.decode(decode::Datagram{copy.data(), copy.size(), from, 2055, now}, out, stats);
      now += 1'000'000'000ULL;
      data += n;
      size -= n;
    }
    td.expire_pending(now + limits.pending_timeout_ns + 1, stats);
  }
  if (td.pending_count() != 0) __builtin_trap();  // the final sweep leaves nothing held
  if (td.template_count() > 2 * limits.max_templates_per_exporter) __builtin_trap();
  if (sink.n != stats.records) __builtin_trap();
  return 0;
}
