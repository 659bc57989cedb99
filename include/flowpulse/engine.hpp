// The flowpulse SDK: capture traffic on this host's interfaces and charge it to local processes,
// from your own program. What go-netflow offers, in C++:
//
//   flowpulse::Options opt;
//   opt.devices = {"eth0"};
//   flowpulse::Engine engine(opt);
//   if (auto st = engine.start(); !st) { std::cerr << st.error << "\n"; return 1; }
//   ...
//   for (const auto& p : engine.process_rank(10, 5)) std::cout << p.name << " " << p.in_rate << "\n";
//   engine.stop();
//
// Link with `pkg-config --cflags --libs flowpulse` (or the meson dependency `flowpulse_dep`).
// Capturing needs CAP_NET_RAW; reading other users' processes and other network namespaces needs
// root (CAP_SYS_PTRACE, CAP_SYS_ADMIN). What is counted: see process.hpp.
//
// Thread safety: every const member may be called from any thread while the engine runs.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "flowpulse/process.hpp"

namespace flowpulse {

// The result of an operation: ok, or why not (a sentence an operator can act on).
struct Status {
  std::string error;
  explicit operator bool() const noexcept { return error.empty(); }
};

enum class LogLevel : std::uint8_t { debug, info, warn, error, off };

enum class CaptureMethod : std::uint8_t {
  afpacket,  // TPACKET_V3 ring, PACKET_FANOUT_HASH across workers (the default)
  pcap,      // libpcap live capture (one worker per device)
};

struct Options {
  // Interfaces to capture on ("any" = all of this network namespace's).
  std::vector<std::string> devices = {"any"};
  CaptureMethod method = CaptureMethod::afpacket;
  std::string bpf_filter;  // tcpdump syntax, e.g. "tcp port 443"; empty = everything
  // How long a partly filled capture block waits before it is handed to the worker: the most a new
  // flow's first packet waits before its socket is looked up. Under traffic the worker wakes once per
  // timeout; each wake-up costs a few microseconds of CPU (~16 us on a small VM: at 100k packets/s
  // 2 ms costs ~0.7% of a core more than 10 ms). Lower it to catch UDP sockets that live only a few
  // milliseconds (TCP closes are traced, whatever the timeout).
  std::chrono::milliseconds capture_timeout{10};
  // How often sockets and processes are re-read and traffic is charged (the engine's tick).
  std::chrono::milliseconds sync_interval{1000};
  unsigned workers = 1;  // capture workers per device (afpacket fanout members)
  // Frames the capture ring of each worker holds; when it is full the kernel drops frames, and
  // drops() counts them.
  std::size_t queue_size = 8192;
  std::string pcap_store;  // when set, every captured frame is also written to this pcap file
  std::size_t history_seconds = 60;
  double ewma_alpha = 0.3;  // weight of the newest second in ProcessTraffic::{in,out}_ewma
  // cgroup v2 limits for this process, written to a cgroup the engine creates (cgroup_parent/
  // flowpulse-<pid>) and moves the whole process into. Empty = no limit. cpu_max takes cpu.max's
  // format ("50000 100000" = half a CPU, "max 100000"); memory_max memory.max's ("512M", "max").
  std::string cpu_max;
  std::string memory_max;
  std::string cgroup_parent;  // empty: where cgroup2 is mounted (/sys/fs/cgroup or .../unified)
  // When stop is requested on this token, the engine stops as if stop() had been called.
  std::stop_token stop_token;
  // The engine's log: lines at log_level and above, one logfmt line each ("ts=... level=warn
  // msg=... key=value ..."; repeated errors of one kind are rate-limited and counted). They go to
  // log_sink when it is set, else to stderr. log_sink is called from the engine's threads, one line
  // at a time: keep it short and do not call the Engine from it. The log is per process: start()
  // sets it, so the engine started last decides.
  LogLevel log_level = LogLevel::warn;
  std::function<void(LogLevel level, std::string_view line)> log_sink;
};

class Engine {
 public:
  explicit Engine(Options options = {});
  ~Engine();  // stops it
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Applies the cgroup limits, opens the capture, starts the workers and attribution. A second
  // start() on a running engine is an error.
  [[nodiscard]] Status start();
  // Stops capturing, charges what was captured so far, and ends wait(). Idempotent.
  void stop();
  // Blocks until the engine has stopped (stop(), or the stop token).
  void wait();
  // Like wait(), at most `timeout`; true when it stopped.
  bool wait_for(std::chrono::milliseconds timeout);
  bool running() const;

  // Blocks until traffic captured before this call has been charged (at most two sync intervals).
  void sync();

  // Frames captured and processed since start.
  std::uint64_t load_counter() const;
  // Frames the capture lost since start (ring full: the queue was too small, or the host too slow).
  std::uint64_t drops() const;

  // The `limit` processes that moved the most bytes (in + out) over the last `recent_seconds`
  // seconds (0 = since start), most first; ties by pid. limit 0 = all.
  std::vector<ProcessTraffic> process_rank(std::size_t limit, std::uint64_t recent_seconds = 0) const;
  // Traffic that no process could be charged with, since start, by protocol.
  std::vector<UnknownTraffic> unknown() const;

 private:
  struct Impl;
  Status start_locked();
  std::unique_ptr<Impl> impl_;
};

}  // namespace flowpulse
