// Structured logging: one line per event, as text, logfmt (key=value) or JSON, written through
// spdlog. Repeated errors of one kind from one source (an exporter, a listener) are rate-limited:
// a burst passes, the rest of the interval is counted and reported as `suppressed=N`, so nothing is
// lost silently. Logging is for the control path and the error path, never per packet.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include <spdlog/common.h>

namespace flowpulse::log {

enum class Level : std::uint8_t { debug, info, warn, error };
enum class Format : std::uint8_t { text, logfmt, json };

const char* to_string(Level level) noexcept;
const char* to_string(Format format) noexcept;

// One structured field. Numbers stay unquoted in JSON.
class Field {
 public:
  Field(std::string_view key, std::string_view value) : key_(key), value_(value), quoted_(true) {}
  Field(std::string_view key, const char* value) : Field(key, std::string_view(value)) {}
  Field(std::string_view key, const std::string& value) : Field(key, std::string_view(value)) {}
  Field(std::string_view key, bool value) : key_(key), value_(value ? "true" : "false"), quoted_(false) {}
  template <typename T>
  requires std::is_arithmetic_v<T> Field(std::string_view key, T value)
      : key_(key), value_(std::to_string(value)), quoted_(false) {}

  std::string_view key() const { return key_; }
  std::string_view value() const { return value_; }
  bool quoted() const { return quoted_; }

 private:
  std::string_view key_;
  std::string value_;
  bool quoted_;
};

using Fields = std::initializer_list<Field>;

struct Options {
  Level level = Level::info;
  Format format = Format::logfmt;
  std::uint64_t rate_limit_interval_ns = 10'000'000'000ULL;  // 10 s
  std::uint32_t rate_limit_burst = 5;                        // lines per key per interval
  // When set, every formatted line goes here instead of to a spdlog sink (the SDK's
  // Options::log_sink). Called under the log's lock, one line at a time, from any thread.
  std::function<void(Level level, std::string_view line)> line_sink;
};

// Sets level, format and rate limits. Lines go to options.line_sink when set, else to `sink` when
// given (tests), else to stderr.
void configure(const Options& options, spdlog::sink_ptr sink = nullptr);
const Options& options();

bool enabled(Level level) noexcept;
void write(Level level, std::string_view message, Fields fields = {});

inline void debug(std::string_view m, Fields f = {}) { write(Level::debug, m, f); }
inline void info(std::string_view m, Fields f = {}) { write(Level::info, m, f); }
inline void warn(std::string_view m, Fields f = {}) { write(Level::warn, m, f); }
inline void error(std::string_view m, Fields f = {}) { write(Level::error, m, f); }

// Rate-limited line: `kind` names the error (e.g. "template_missing"), `source` who caused it
// (e.g. the exporter address); the line carries both as `kind=` and `source=`. The first `burst`
// lines per (kind, source) and interval pass; the ones after are counted, and the next line that
// passes carries `suppressed=N`.
void limited(Level level, std::string_view kind, std::string_view source, std::string_view message,
             Fields fields = {});

// Reports, as one line each, the (kind, source) pairs whose interval ended with suppressed lines
// that no later line has reported yet. The run loop calls it once a tick.
void flush_suppressed();

// Formats one line without writing it (exposed for tests).
std::string format_line(Level level, std::string_view message, std::span<const Field> fields, Format format,
                        std::uint64_t realtime_ns);

}  // namespace flowpulse::log
