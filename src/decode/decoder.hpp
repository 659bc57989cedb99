// The contract between sources and the flow-export decoders: a datagram in, normalized records out
// through a RecordWriter (batched, so the sink's virtual call is per batch, not per record), and
// every rejection counted by reason into the exporter's DecodeStats.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/log.hpp"
#include "flowpulse/flow_record.hpp"

namespace flowpulse::decode {

enum class Protocol : std::uint8_t { netflow5, netflow9, ipfix, sflow5 };
const char* to_string(Protocol p) noexcept;

// Why a datagram, set or record was not (fully) decoded. Keep `reason_names` in decoder.cpp in step.
enum class DropReason : std::uint8_t {
  truncated,           // a header, set, record or sample runs past the end of its container
  bad_version,         // the version field is not the protocol's
  bad_length,          // a length field is zero, too small or inconsistent
  template_missing,    // data set for a template not (yet) known; held, then expired
  template_invalid,    // a template with absurd field lengths or no fields
  too_many_templates,  // limits.max_templates_per_exporter reached
  too_many_fields,     // limits.max_fields_per_template exceeded
  record_too_long,     // limits.max_record_length exceeded
  pending_expired,     // a held data set whose template never came (or the hold queue was full)
  bad_sample,          // sFlow sample or record malformed
  unsupported,         // a well-formed thing this project does not decode (e.g. sFlow v4, NetFlow v7)
  count_
};
inline constexpr std::size_t drop_reason_count = static_cast<std::size_t>(DropReason::count_);
const char* to_string(DropReason r) noexcept;

// Logs a rejection, rate-limited per (kind, exporter): the one way every decoder reports what it
// drops besides counting it.
void log_drop(const IpAddress& exporter, std::string_view kind, std::string_view message,
              log::Fields fields = {});

// Limits against hostile input; config `decode:` sets them.
struct Limits {
  std::uint32_t max_templates_per_exporter = 1024;
  std::uint32_t max_fields_per_template = 256;
  std::uint32_t max_record_length = 16384;
  std::uint32_t max_pending_per_exporter = 64;           // data sets held while the template is unknown
  std::uint64_t pending_timeout_ns = 60'000'000'000ULL;  // how long they are held
};

// Counters for one exporter (or summed over all). Written by one worker thread, read by summing.
struct DecodeStats {
  std::uint64_t datagrams = 0;
  std::uint64_t records = 0;          // flow records emitted
  std::uint64_t counter_records = 0;  // sFlow interface counter records emitted
  std::uint64_t templates_received = 0;
  std::uint64_t pending_held = 0;  // data sets held for a template (decoded later or expired)
  std::array<std::uint64_t, drop_reason_count> errors{};

  void count(DropReason r) noexcept { ++errors[static_cast<std::size_t>(r)]; }
  std::uint64_t error(DropReason r) const noexcept { return errors[static_cast<std::size_t>(r)]; }
  std::uint64_t total_errors() const noexcept;
  DecodeStats& operator+=(const DecodeStats& o) noexcept;
};

// One received flow-export datagram (UDP payload) and where it came from.
struct Datagram {
  const std::uint8_t* data = nullptr;
  std::size_t size = 0;
  IpAddress exporter;  // source address of the datagram
  std::uint16_t exporter_port = 0;
  std::uint64_t time_received_ns = 0;
};

class RecordSink {
 public:
  virtual ~RecordSink() = default;
  virtual void on_records(std::span<const FlowRecord> records) = 0;
  virtual void on_counters(std::span<const InterfaceCounters> counters) { (void)counters; }
};

// Collects records in a fixed buffer and hands them to the sink a batch at a time.
class RecordWriter {
 public:
  static constexpr std::size_t batch = 64;

  explicit RecordWriter(RecordSink& sink) noexcept : sink_(sink) {}
  RecordWriter(const RecordWriter&) = delete;
  RecordWriter& operator=(const RecordWriter&) = delete;
  ~RecordWriter() { flush(); }

  // A slot initialized from `base` (the fields every record of a datagram shares).
  FlowRecord& add(const FlowRecord& base) noexcept {
    if (flows_n_ == batch) flush_flows();
    FlowRecord& r = flows_[flows_n_++];
    r = base;
    return r;
  }
  // The writer's own base record, for decoders that add many records from one: reset it with
  // new_base(), fill it, then add() copies it. A base kept in a decoder's local variable is held
  // in registers and stored anew for every copy, whose wide loads then stall on those narrow
  // stores (store forwarding fails): this one stays in memory.
  FlowRecord& new_base() noexcept {
    base_ = FlowRecord{};
    return base_;
  }
  FlowRecord& add() noexcept { return add(base_); }
  // Takes back the last slot returned by add() (a record found invalid after all).
  void drop_last() noexcept { --flows_n_; }

  InterfaceCounters& add_counters() noexcept {
    if (counters_n_ == counters_.size()) flush_counters();
    InterfaceCounters& c = counters_[counters_n_++];
    c = InterfaceCounters{};
    return c;
  }

  void flush() {
    flush_flows();
    flush_counters();
  }

 private:
  void flush_flows() {
    if (flows_n_ != 0) sink_.on_records({flows_.data(), flows_n_});
    flows_n_ = 0;
  }
  void flush_counters() {
    if (counters_n_ != 0) sink_.on_counters({counters_.data(), counters_n_});
    counters_n_ = 0;
  }

  RecordSink& sink_;
  FlowRecord base_;
  std::array<FlowRecord, batch> flows_;
  std::size_t flows_n_ = 0;
  std::array<InterfaceCounters, 16> counters_;
  std::size_t counters_n_ = 0;
};

}  // namespace flowpulse::decode
