// libFuzzer target for the NetFlow v1/v5/v7 decoder: any bytes, as one datagram, must neither crash
// nor read out of bounds, and every datagram is either decoded or counted as an error.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/log.hpp"
#include "decode/netflow5.hpp"

using namespace flowpulse;

namespace {
class CheckSink : public decode::RecordSink {
 public:
  void on_records(std::span<const FlowRecord> records) override {
    for (const FlowRecord& r : records)
      if (r.type != FlowType::netflow1 && r.type != FlowType::netflow5 && r.type != FlowType::netflow7)
        __builtin_trap();
  }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool quiet = [] {
    log::Options o;
    o.level = log::Level::error;  // exporter errors are warnings: keep the fuzzer's output readable
    log::configure(o);
    return true;
  }();
  (void)quiet;
  // An exact-size copy, so a read past the datagram is a heap overflow ASan sees.
  const std::vector<std::uint8_t> copy(data, data + size);
  CheckSink sink;
  decode::DecodeStats stats;
  {
    decode::RecordWriter out(sink);
    decode::decode_netflow5(decode::Datagram{copy.data(), copy.size(), IpAddress::v4(0x0a000001), 2055, 0},
                            out, stats);
  }
  if (stats.datagrams != 1 || (stats.records == 0) == (stats.total_errors() == 0)) __builtin_trap();
  return 0;
}
