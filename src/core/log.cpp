#include "core/log.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <ctime>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/clock.hpp"
#include "core/json.hpp"

namespace flowpulse::log {
namespace {

struct Limit {
  std::uint64_t window_start_ns = 0;
  std::uint32_t passed = 0;
  std::uint64_t suppressed = 0;
  Level level = Level::error;
  std::string kind;
  std::string source;
};

struct State {
  std::mutex mu;
  Options options;
  std::atomic<Level> level{Level::info};
  std::shared_ptr<spdlog::logger> logger;
  std::unordered_map<std::string, Limit> limits;  // key: kind + '\0' + source
};

State& state() {
  static State* s = [] {
    auto* st = new State;  // never destroyed: logging may run during static destruction
    st->logger =
        std::make_shared<spdlog::logger>("flowpulse", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    st->logger->set_pattern("%v");
    st->logger->set_level(spdlog::level::trace);
    return st;
  }();
  return *s;
}

bool needs_logfmt_quotes(std::string_view v) {
  if (v.empty()) return true;
  for (char c : v) {
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20) return true;
  }
  return false;
}

void append_logfmt_value(std::string& out, std::string_view v) {
  if (!needs_logfmt_quotes(v)) {
    out += v;
    return;
  }
  core::append_json_string(out, v);  // logfmt quoting is the same as a JSON string's
}

void append_timestamp(std::string& out, std::uint64_t ns) {
  std::time_t secs = static_cast<std::time_t>(ns / 1'000'000'000ULL);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03uZ", static_cast<unsigned>((ns / 1'000'000ULL) % 1000));
  out += buf;
}

void write_line(Level level, std::string_view message, std::span<const Field> fields) {
  State& s = state();
  std::string line = format_line(level, message, fields, s.options.format, core::realtime_ns());
  if (s.options.line_sink) {
    s.options.line_sink(level, line);
  } else {
    s.logger->log(spdlog::level::info, line);
  }
}

}  // namespace

const char* to_string(Level level) noexcept {
  switch (level) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warn: return "warn";
    case Level::error: return "error";
  }
  return "info";
}

const char* to_string(Format format) noexcept {
  switch (format) {
    case Format::text: return "text";
    case Format::logfmt: return "logfmt";
    case Format::json: return "json";
  }
  return "logfmt";
}

std::string format_line(Level level, std::string_view message, std::span<const Field> fields, Format format,
                        std::uint64_t realtime_ns) {
  std::string out;
  out.reserve(128);
  switch (format) {
    case Format::json:
      out += "{\"ts\":\"";
      append_timestamp(out, realtime_ns);
      out += "\",\"level\":\"";
      out += to_string(level);
      out += "\",\"msg\":";
      core::append_json_string(out, message);
      for (const Field& f : fields) {
        out.push_back(',');
        core::append_json_string(out, f.key());
        out.push_back(':');
        if (f.quoted()) {
          core::append_json_string(out, f.value());
        } else {
          out += f.value();
        }
      }
      out.push_back('}');
      break;
    case Format::logfmt:
      out += "ts=";
      append_timestamp(out, realtime_ns);
      out += " level=";
      out += to_string(level);
      out += " msg=";
      append_logfmt_value(out, message);
      for (const Field& f : fields) {
        out.push_back(' ');
        out += f.key();
        out.push_back('=');
        append_logfmt_value(out, f.value());
      }
      break;
    case Format::text: {
      append_timestamp(out, realtime_ns);
      static constexpr const char* names[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};
      out.push_back(' ');
      out += names[static_cast<int>(level)];
      out.push_back(' ');
      out += message;
      for (const Field& f : fields) {
        out.push_back(' ');
        out += f.key();
        out.push_back('=');
        append_logfmt_value(out, f.value());
      }
      break;
    }
  }
  return out;
}

void configure(const Options& options, spdlog::sink_ptr sink) {
  State& s = state();
  std::lock_guard lock(s.mu);
  s.options = options;
  s.level.store(options.level, std::memory_order_relaxed);
  if (sink) {
    s.logger = std::make_shared<spdlog::logger>("flowpulse", std::move(sink));
  } else {
    s.logger =
        std::make_shared<spdlog::logger>("flowpulse", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  }
  s.logger->set_pattern("%v");
  s.logger->set_level(spdlog::level::trace);
  s.logger->flush_on(spdlog::level::trace);
  s.limits.clear();
}

const Options& options() { return state().options; }

bool enabled(Level level) noexcept {
  return static_cast<int>(level) >= static_cast<int>(state().level.load(std::memory_order_relaxed));
}

void write(Level level, std::string_view message, Fields fields) {
  if (!enabled(level)) return;
  State& s = state();
  std::lock_guard lock(s.mu);
  write_line(level, message, {fields.begin(), fields.size()});
}

void limited(Level level, std::string_view kind, std::string_view source, std::string_view message,
             Fields fields) {
  if (!enabled(level)) return;
  State& s = state();
  std::lock_guard lock(s.mu);
  std::string key;
  key.reserve(kind.size() + source.size() + 1);
  key.append(kind).push_back('\0');
  key.append(source);
  Limit& lim = s.limits[key];
  std::uint64_t now = core::monotonic_ns();
  std::uint64_t reported = 0;
  if (lim.passed == 0 || now - lim.window_start_ns >= s.options.rate_limit_interval_ns) {
    reported = lim.suppressed;
    lim = Limit{now, 0, 0, level, std::string(kind), std::string(source)};
  }
  if (lim.passed >= s.options.rate_limit_burst) {
    ++lim.suppressed;
    return;
  }
  ++lim.passed;
  // The line names what and who (the exporter, the listener) besides its own fields.
  std::vector<Field> all(fields.begin(), fields.end());
  all.emplace_back("kind", kind);
  all.emplace_back("source", source);
  if (reported != 0) all.emplace_back("suppressed", reported);
  write_line(level, message, all);
}

void flush_suppressed() {
  State& s = state();
  std::lock_guard lock(s.mu);
  std::uint64_t now = core::monotonic_ns();
  for (auto& [key, lim] : s.limits) {
    if (lim.suppressed == 0 || now - lim.window_start_ns < s.options.rate_limit_interval_ns) continue;
    const Field f[] = {{"kind", lim.kind}, {"source", lim.source}, {"suppressed", lim.suppressed}};
    write_line(lim.level, "repeated messages suppressed", f);
    lim.suppressed = 0;
  }
}

}  // namespace flowpulse::log
