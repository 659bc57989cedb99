#include "decode/decoder.hpp"

#include "core/ip_address.hpp"

namespace flowpulse::decode {

namespace {
constexpr const char* reason_names[drop_reason_count] = {
    "truncated",        "bad_version",        "bad_length",      "template_missing",
    "template_invalid", "too_many_templates", "too_many_fields", "record_too_long",
    "pending_expired",  "bad_sample",         "unsupported",
};
}  // namespace

const char* to_string(Protocol p) noexcept {
  switch (p) {
    case Protocol::netflow5: return "netflow5";
    case Protocol::netflow9: return "netflow9";
    case Protocol::ipfix: return "ipfix";
    case Protocol::sflow5: return "sflow";
  }
  return "unknown";
}

const char* to_string(DropReason r) noexcept {
  auto i = static_cast<std::size_t>(r);
  return i < drop_reason_count ? reason_names[i] : "unknown";
}

void log_drop(const IpAddress& exporter, std::string_view kind, std::string_view message,
              log::Fields fields) {
  if (!log::enabled(log::Level::warn)) return;
  char addr[48];
  const std::size_t n = core::format_ip(exporter, addr);
  log::limited(log::Level::warn, kind, std::string_view(addr, n), message, fields);
}

std::uint64_t DecodeStats::total_errors() const noexcept {
  std::uint64_t n = 0;
  for (auto e : errors) n += e;
  return n;
}

DecodeStats& DecodeStats::operator+=(const DecodeStats& o) noexcept {
  datagrams += o.datagrams;
  records += o.records;
  counter_records += o.counter_records;
  templates_received += o.templates_received;
  pending_held += o.pending_held;
  for (std::size_t i = 0; i < drop_reason_count; ++i) errors[i] += o.errors[i];
  return *this;
}

}  // namespace flowpulse::decode
