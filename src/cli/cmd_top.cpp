// `flowpulse top`: which local process moves how much, live, like nethogs. Built on the public SDK
// (flowpulse::Engine), so what it shows is what a program embedding flowpulse gets.
//
// Live: a table redrawn every --interval seconds, sorted by rate; keys change the sort column
// (r rate, i in rate, o out rate, s sum, p pid, n name) and q quits. --once waits one interval and
// prints the rank once (--json: as JSON, for scripts).
#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cli/commands.hpp"
#include "core/json.hpp"
#include "flowpulse/engine.hpp"

namespace flowpulse::cli {
namespace {

std::atomic<bool> interrupted{false};
void on_signal(int) { interrupted.store(true); }

struct TopArgs {
  Options options;
  double interval_s = 1.0;
  std::size_t limit = 0;       // 0: all (JSON), the screen's height (table)
  std::uint64_t recent_s = 0;  // 0: the interval, rounded up
  bool once = false;
  bool json = false;
};

void usage() {
  std::printf(
      "usage: flowpulse top [OPTIONS]\n\n"
      "Shows which local processes send and receive how much, refreshed live (like nethogs). Bytes are\n"
      "frame bytes as captured; traffic no local socket matches is listed as unknown by protocol.\n"
      "Needs root (capture, /proc of other users, other network namespaces).\n\n"
      "  -d, --device DEV     interface to capture on; repeat for several (default: any)\n"
      "  -f, --filter EXPR    BPF filter, tcpdump syntax (e.g. 'tcp port 443')\n"
      "  -i, --interval SEC   refresh interval of the table (default 1); sockets are re-read every\n"
      "                       second, or at this interval when shorter\n"
      "  -l, --limit N        show at most N processes (default: all that fit / all in JSON)\n"
      "  -r, --recent SEC     rank by the traffic of the last SEC seconds (default: the interval)\n"
      "      --method M       afpacket (default) or pcap\n"
      "      --capture-timeout MS  most a new flow's first packet waits in the capture ring before\n"
      "                       its socket is looked up (default 10; lower catches UDP sockets that\n"
      "                       live a few ms, at more wake-ups: one per MS under traffic)\n"
      "      --once           wait one interval, print the rank once, exit\n"
      "      --json           with --once: print JSON instead of a table\n\n"
      "keys (live): r sort by rate (default), i in rate, o out rate, s sum, p pid, n name, q quit\n");
}

bool parse(Args args, TopArgs& t) {
  t.options.devices.clear();
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string a = args[i];
    auto value = [&](const char* name) -> const char* {
      if (i + 1 >= args.size()) {
        std::fprintf(stderr, "flowpulse top: %s needs a value\n", name);
        return nullptr;
      }
      return args[++i];
    };
    auto number = [&](const char* name, double min) -> std::optional<double> {
      const char* v = value(name);
      if (v == nullptr) return std::nullopt;
      char* end = nullptr;
      const double d = std::strtod(v, &end);
      if (end == v || *end != '\0' || d < min) {
        std::fprintf(stderr, "flowpulse top: %s takes a number >= %g, not '%s'\n", name, min, v);
        return std::nullopt;
      }
      return d;
    };
    if (a == "-d" || a == "--device") {
      const char* v = value("--device");
      if (v == nullptr) return false;
      t.options.devices.emplace_back(v);
    } else if (a == "-f" || a == "--filter") {
      const char* v = value("--filter");
      if (v == nullptr) return false;
      t.options.bpf_filter = v;
    } else if (a == "-i" || a == "--interval") {
      auto d = number("--interval", 0.05);
      if (!d) return false;
      t.interval_s = *d;
    } else if (a == "-l" || a == "--limit") {
      auto d = number("--limit", 0);
      if (!d) return false;
      t.limit = static_cast<std::size_t>(*d);
    } else if (a == "-r" || a == "--recent") {
      auto d = number("--recent", 0);
      if (!d) return false;
      t.recent_s = static_cast<std::uint64_t>(*d);
    } else if (a == "--method") {
      const char* v = value("--method");
      if (v == nullptr) return false;
      if (std::strcmp(v, "afpacket") == 0) {
        t.options.method = CaptureMethod::afpacket;
      } else if (std::strcmp(v, "pcap") == 0) {
        t.options.method = CaptureMethod::pcap;
      } else {
        std::fprintf(stderr, "flowpulse top: --method is afpacket or pcap, not '%s'\n", v);
        return false;
      }
    } else if (a == "--capture-timeout") {
      auto d = number("--capture-timeout", 1);
      if (!d) return false;
      t.options.capture_timeout = std::chrono::milliseconds(static_cast<std::int64_t>(*d));
    } else if (a == "--once") {
      t.once = true;
    } else if (a == "--json") {
      t.json = true;
    } else {
      std::fprintf(stderr, "flowpulse top: unexpected argument '%s'; see 'flowpulse top --help'\n",
                   a.c_str());
      return false;
    }
  }
  if (t.json && !t.once) {
    std::fprintf(stderr, "flowpulse top: --json needs --once\n");
    return false;
  }
  if (t.options.devices.empty()) t.options.devices = {"any"};
  // Sockets are re-read (and traffic charged) every second, or faster when the display is: a
  // short-lived socket must be seen, whatever the refresh of the table.
  t.options.sync_interval =
      std::chrono::milliseconds(std::min<std::int64_t>(1000, static_cast<std::int64_t>(t.interval_s * 1000)));
  return true;
}

// 1536 -> "1.5 KiB"; rates get "/s" from the caller.
std::string human(double bytes) {
  static constexpr const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) {
    bytes /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", bytes, units[u]);
  return buf;
}

void append_number(std::string& out, const char* key, double v, bool integer) {
  char buf[64];
  if (integer)
    std::snprintf(buf, sizeof buf, "\"%s\":%llu", key, static_cast<unsigned long long>(v));
  else
    std::snprintf(buf, sizeof buf, "\"%s\":%.1f", key, v);
  out += buf;
}

std::string to_json(const std::vector<ProcessTraffic>& rank, const std::vector<UnknownTraffic>& unknown,
                    std::uint64_t frames, std::uint64_t drops) {
  std::string out = "{\"processes\":[";
  for (std::size_t i = 0; i < rank.size(); ++i) {
    const ProcessTraffic& p = rank[i];
    if (i != 0) out += ',';
    out += "{\"pid\":" + std::to_string(p.pid) + ",\"name\":";
    core::append_json_string(out, p.name);
    out += ",\"exe\":";
    core::append_json_string(out, p.exe);
    out += ",\"cmdline\":";
    core::append_json_string(out, p.cmdline);
    out += ",\"user\":";
    core::append_json_string(out, p.user);
    out += ",\"state\":";
    core::append_json_string(out, std::string(1, p.state));
    out += ",\"inodes\":[";
    for (std::size_t k = 0; k < p.inodes.size(); ++k)
      out += (k != 0 ? "," : "") + std::to_string(p.inodes[k]);
    out += "],";
    append_number(out, "in_bytes", static_cast<double>(p.in_bytes), true);
    out += ',';
    append_number(out, "out_bytes", static_cast<double>(p.out_bytes), true);
    out += ',';
    append_number(out, "in_packets", static_cast<double>(p.in_packets), true);
    out += ',';
    append_number(out, "out_packets", static_cast<double>(p.out_packets), true);
    out += ',';
    append_number(out, "in_rate", p.in_rate, false);
    out += ',';
    append_number(out, "out_rate", p.out_rate, false);
    out += ',';
    append_number(out, "in_ewma", p.in_ewma, false);
    out += ',';
    append_number(out, "out_ewma", p.out_ewma, false);
    out += ',';
    append_number(out, "recent_in_bytes", static_cast<double>(p.recent_in_bytes), true);
    out += ',';
    append_number(out, "recent_out_bytes", static_cast<double>(p.recent_out_bytes), true);
    out += '}';
  }
  out += "],\"unknown\":[";
  for (std::size_t i = 0; i < unknown.size(); ++i) {
    if (i != 0) out += ',';
    out += "{\"protocol\":" + std::to_string(unknown[i].protocol) +
           ",\"bytes\":" + std::to_string(unknown[i].bytes) +
           ",\"packets\":" + std::to_string(unknown[i].packets) + "}";
  }
  out += "],\"frames\":" + std::to_string(frames) + ",\"drops\":" + std::to_string(drops) + "}";
  return out;
}

enum class SortBy : char { rate = 'r', in_rate = 'i', out_rate = 'o', sum = 's', pid = 'p', name = 'n' };

void sort_rank(std::vector<ProcessTraffic>& rank, SortBy by) {
  std::stable_sort(rank.begin(), rank.end(), [by](const ProcessTraffic& a, const ProcessTraffic& b) {
    switch (by) {
      case SortBy::in_rate: return a.in_rate > b.in_rate;
      case SortBy::out_rate: return a.out_rate > b.out_rate;
      case SortBy::sum: return a.in_bytes + a.out_bytes > b.in_bytes + b.out_bytes;
      case SortBy::pid: return a.pid < b.pid;
      case SortBy::name: return a.name < b.name;
      case SortBy::rate: break;
    }
    return a.in_rate + a.out_rate > b.in_rate + b.out_rate;
  });
}

void draw(std::vector<ProcessTraffic> rank, const std::vector<UnknownTraffic>& unknown, const Engine& engine,
          SortBy by, std::size_t rows) {
  sort_rank(rank, by);
  std::string s = "\033[H\033[2J";  // home, clear
  char line[512];
  std::snprintf(line, sizeof line,
                "flowpulse top   frames %llu   drops %llu   sort: %c   (r i o s p n, q quits)\n\n",
                static_cast<unsigned long long>(engine.load_counter()),
                static_cast<unsigned long long>(engine.drops()), static_cast<char>(by));
  s += line;
  std::snprintf(line, sizeof line, "%8s  %-15s %-28s %6s %11s %11s %12s %12s\n", "PID", "NAME", "EXE",
                "INODES", "SUM IN", "SUM OUT", "IN RATE", "OUT RATE");
  s += line;
  std::size_t shown = 0;
  for (const ProcessTraffic& p : rank) {
    if (rows != 0 && shown++ >= rows) break;
    std::string exe = p.exe.size() > 28 ? "..." + p.exe.substr(p.exe.size() - 25) : p.exe;
    std::snprintf(line, sizeof line, "%8d  %-15s %-28s %6zu %11s %11s %10s/s %10s/s\n", p.pid, p.name.c_str(),
                  exe.c_str(), p.inodes.size(), human(static_cast<double>(p.in_bytes)).c_str(),
                  human(static_cast<double>(p.out_bytes)).c_str(), human(p.in_rate).c_str(),
                  human(p.out_rate).c_str());
    s += line;
  }
  for (const UnknownTraffic& u : unknown) {
    std::snprintf(line, sizeof line, "%8s  %-15s %-28s %6s %11s\n", "-", "unknown",
                  ("protocol " + std::to_string(u.protocol)).c_str(), "-",
                  human(static_cast<double>(u.bytes)).c_str());
    s += line;
  }
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fflush(stdout);
}

// Raw keys from the terminal while the table is up; restored on every way out.
class RawTerminal {
 public:
  RawTerminal() {
    if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_) != 0) return;
    termios raw = saved_;
    raw.c_lflag &= static_cast<tcflag_t>(~(ICANON | ECHO));
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    active_ = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
  }
  ~RawTerminal() {
    if (active_) tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
  }
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;

 private:
  termios saved_{};
  bool active_ = false;
};

}  // namespace

int cmd_top(Args args) {
  if (wants_help(args)) {
    usage();
    return 0;
  }
  TopArgs t;
  if (!parse(args, t)) return 2;
  const std::uint64_t recent =
      t.recent_s != 0 ? t.recent_s : static_cast<std::uint64_t>(t.interval_s + 0.999);

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  Engine engine(t.options);
  if (Status st = engine.start(); !st) {
    std::fprintf(stderr, "flowpulse top: %s\n", st.error.c_str());
    return 1;
  }
  const auto interval = std::chrono::milliseconds(static_cast<std::int64_t>(t.interval_s * 1000));

  if (t.once) {
    const auto until = std::chrono::steady_clock::now() + interval;
    while (!interrupted.load() && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    engine.sync();
    engine.stop();  // everything captured is charged
    // After stop the rank covers the whole run: `recent` counts back from the last tick.
    const auto rank = engine.process_rank(t.limit, t.recent_s);
    if (t.json) {
      std::printf("%s\n", to_json(rank, engine.unknown(), engine.load_counter(), engine.drops()).c_str());
    } else {
      draw(rank, engine.unknown(), engine, SortBy::rate, t.limit);
    }
    return 0;
  }

  RawTerminal terminal;
  const bool keys = isatty(STDIN_FILENO) != 0;
  SortBy by = SortBy::rate;
  auto next = std::chrono::steady_clock::now();
  while (!interrupted.load()) {
    draw(engine.process_rank(t.limit, recent), engine.unknown(), engine, by, t.limit);
    next += interval;
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(next - std::chrono::steady_clock::now());
      if (left.count() <= 0 || interrupted.load()) break;
      const int wait_ms = static_cast<int>(std::min<std::int64_t>(left.count(), 100));
      if (!keys) {  // not a terminal (a pipe, /dev/null): no keys to read
        std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
        continue;
      }
      pollfd p{STDIN_FILENO, POLLIN, 0};
      if (::poll(&p, 1, wait_ms) != 1) continue;
      char c = 0;
      if (::read(STDIN_FILENO, &c, 1) != 1) continue;
      if (c == 'q') interrupted.store(true);
      if (std::strchr("riospn", c) != nullptr && c != '\0') {
        by = static_cast<SortBy>(c);
        draw(engine.process_rank(t.limit, recent), engine.unknown(), engine, by, t.limit);
      }
    }
  }
  engine.stop();
  return 0;
}

}  // namespace flowpulse::cli
