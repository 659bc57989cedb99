// A small program that embeds flowpulse through its public SDK only (include/flowpulse/engine.hpp),
// as go-netflow's example does for Go: capture on one device, print the busiest processes every
// second, and stop after a while or on Ctrl-C.
//
//   sdk_example --device eth0 --seconds 10 --limit 5 [--filter "tcp port 443"]
//
// Build it against an installed flowpulse with
//   g++ -std=c++20 example.cpp $(pkg-config --cflags --libs flowpulse)
// Capturing needs CAP_NET_RAW; naming other users' processes needs root.
//
// Output: one block per second of "pid name in/s out/s" lines (human readable), then the final rank
// as one JSON object per line, then {"load_counter":N,"drops":N}. Exit 0 on success, 1 when the
// engine cannot start, 2 on bad arguments.
#include <flowpulse/engine.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <stop_token>
#include <string>
#include <string_view>

namespace {

struct Args {
  std::string device;
  long seconds = 0;
  long limit = 0;
  std::string filter;
};

constexpr const char* usage = "usage: sdk_example --device DEV --seconds N --limit K [--filter BPF]\n";

// Positive integer, or -1.
long parse_count(const std::string& s) {
  if (s.empty() || s.size() > 9 || s.find_first_not_of("0123456789") != std::string::npos) return -1;
  return std::stol(s);
}

bool parse_args(int argc, char** argv, Args& args) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (i + 1 >= argc) return false;
    const std::string value = argv[++i];
    if (flag == "--device") {
      args.device = value;
    } else if (flag == "--seconds") {
      args.seconds = parse_count(value);
    } else if (flag == "--limit") {
      args.limit = parse_count(value);
    } else if (flag == "--filter") {
      args.filter = value;
    } else {
      return false;
    }
  }
  return !args.device.empty() && args.seconds > 0 && args.limit > 0;
}

// "1.5 KiB/s", "12.0 MiB/s": rates as a person reads them.
std::string human_rate(double bytes_per_second) {
  constexpr const char* units[] = {"B/s", "KiB/s", "MiB/s", "GiB/s", "TiB/s"};
  std::size_t unit = 0;
  while (bytes_per_second >= 1024 && unit + 1 < std::size(units)) {
    bytes_per_second /= 1024;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, "%.1f %s", bytes_per_second, units[unit]);
  return text;
}

// A process name (comm) can hold any byte but NUL: quote it for JSON.
std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\u%04x", static_cast<unsigned>(c));
      out += esc;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// The signal handler only sets this; the main loop turns it into a stop request (a stop_source is
// not async-signal-safe: requesting a stop runs the engine's callback).
std::atomic<bool> interrupted{false};
static_assert(std::atomic<bool>::is_always_lock_free);

extern "C" void on_sigint(int) { interrupted.store(true, std::memory_order_relaxed); }

void print_top(const flowpulse::Engine& engine, std::size_t limit) {
  std::cout << "--- top " << limit << " processes (last second)\n";
  // recent_seconds = 1: the busiest over the last second, not since start.
  for (const flowpulse::ProcessTraffic& p : engine.process_rank(limit, 1)) {
    std::cout << p.pid << "\t" << p.name << "\tin " << human_rate(p.in_rate) << "\tout "
              << human_rate(p.out_rate) << "\n";
  }
  std::cout.flush();
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (!parse_args(argc, argv, args)) {
    std::cerr << usage;
    return 2;
  }

  std::stop_source stop;  // the deadline and Ctrl-C both stop the engine through its token
  flowpulse::Options options;
  options.devices = {args.device};
  options.bpf_filter = args.filter;
  options.stop_token = stop.get_token();
  flowpulse::Engine engine(options);
  if (flowpulse::Status st = engine.start(); !st) {
    std::cerr << "sdk_example: " << st.error << "\n";
    return 1;
  }
  std::signal(SIGINT, on_sigint);
  std::cout << "capturing on " << args.device << " for " << args.seconds << " s\n";

  using Clock = std::chrono::steady_clock;
  const auto started = Clock::now();
  const auto deadline = started + std::chrono::seconds(args.seconds);
  auto next_print = started + std::chrono::seconds(1);
  while (!engine.wait_for(std::chrono::milliseconds(100))) {
    const auto now = Clock::now();
    if (interrupted.load(std::memory_order_relaxed) || now >= deadline) {
      stop.request_stop();  // the engine's stop callback stops it, and wait_for() returns true
      continue;
    }
    if (now >= next_print) {
      print_top(engine, static_cast<std::size_t>(args.limit));
      next_print += std::chrono::seconds(1);
    }
  }
  std::signal(SIGINT, SIG_DFL);

  // After stop() every frame captured has been charged: this is the final account since start.
  std::cout << "--- final rank\n";
  std::size_t rank = 0;
  for (const flowpulse::ProcessTraffic& p : engine.process_rank(static_cast<std::size_t>(args.limit), 0)) {
    std::cout << "{\"rank\":" << ++rank << ",\"pid\":" << p.pid << ",\"name\":" << json_string(p.name)
              << ",\"in_bytes\":" << p.in_bytes << ",\"out_bytes\":" << p.out_bytes
              << ",\"in_packets\":" << p.in_packets << ",\"out_packets\":" << p.out_packets << "}\n";
  }
  std::cout << "{\"load_counter\":" << engine.load_counter() << ",\"drops\":" << engine.drops() << "}\n";
  return 0;
}
