// Per-process traffic, as process attribution reports it (flowpulse top, the SDK, /metrics).
//
// What is counted: frame bytes as captured, i.e. the link-layer header (14 bytes of Ethernet on
// lo and on a veth; 16 or 20 of Linux "cooked" on the `any` device) plus the whole IP packet. A
// packet this host sends is `out` for the process owning its source socket; one it receives is
// `in` for the process owning its destination socket. On loopback (or between namespaces of this
// host) both ends are local: one packet is out for the sender and in for the receiver.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace flowpulse {

// One second of a process's traffic.
struct ProcessSample {
  std::uint64_t time_s = 0;  // Unix time, seconds: the second [time_s, time_s + 1) it covers
  std::uint64_t in_bytes = 0;
  std::uint64_t out_bytes = 0;
};

struct ProcessTraffic {
  std::int32_t pid = 0;
  std::uint64_t start_time = 0;  // clock ticks since boot: with pid, what identifies the process
  std::string name;              // comm (at most 15 bytes)
  std::string exe;               // empty when not readable
  std::string cmdline;
  std::string user;
  char state = '?';  // R, S, D, Z, T, ...; X once it has exited
  bool alive = true;
  std::vector<std::uint64_t> inodes;  // socket inodes it holds, as of its last scan

  // Cumulative since the engine started.
  std::uint64_t in_bytes = 0;
  std::uint64_t out_bytes = 0;
  std::uint64_t in_packets = 0;
  std::uint64_t out_packets = 0;
  // Bytes per second over the last complete second, and their EWMA (ProcessOptions::ewma_alpha).
  double in_rate = 0;
  double out_rate = 0;
  double in_ewma = 0;
  double out_ewma = 0;
  std::vector<ProcessSample> history;  // oldest first; at most ProcessOptions::history_seconds

  // Set by a rank: the bytes over the rank's `recent_seconds` (cumulative when that is 0).
  std::uint64_t recent_in_bytes = 0;
  std::uint64_t recent_out_bytes = 0;
};

// Traffic no local socket could be matched to, by IP protocol number. Never dropped from totals.
struct UnknownTraffic {
  std::uint8_t protocol = 0;
  std::uint64_t bytes = 0;
  std::uint64_t packets = 0;
};

}  // namespace flowpulse
