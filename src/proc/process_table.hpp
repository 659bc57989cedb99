// The processes of this host and the socket inodes each holds, read from /proc, so that a socket
// inode (from proc::SockDiag) can be charged to a process.
//
// A process is keyed by its pid AND its start time (/proc/<pid>/stat field 22): when a pid is reused,
// the new process is a new entry and never inherits the old one's sockets or traffic.
//
// /proc/<pid>/fd is read incrementally, since reading every fd of every process each tick costs far
// more than the socket dump itself:
//   - a pid not seen before is read fully (stat, status, exe, cmdline, ns/net, fd);
//   - a bounded number of known processes is re-read per refresh, round robin (rescan_per_refresh),
//     within a budget of fds per refresh (rescan_fd_budget, on average: a process with more fds is
//     still read whole, and the excess is paid back by the next refreshes);
//   - `resolve` re-reads, again bounded (resolve_per_refresh, resolve_fd_budget), the processes most
//     likely to hold socket inodes that no known process holds (same network namespace, same uid,
//     most recently gained a socket first).
// Reading fds is what costs (~3.5 us per fd, nearly all of it in the kernel: getdents makes a dentry
// per fd, readlink resolves it), hence the budgets. The round robin is the only thing that sees a
// socket handed to another process (fd passing, fork then close in the parent): what is new is found
// by `resolve`. At the default 1024 fds per refresh (~4 ms) a host with 100k sockets is re-read whole
// in about 100 refreshes.
// A process that is gone stays, marked dead, for dead_grace_ns so that traffic of its last moments
// is still charged to it; then it and its inodes are dropped.
//
// Not thread-safe: one thread (the stats core) refreshes and reads it. Pointers it returns stay valid
// until the next refresh() or resolve().
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/result.hpp"
#include "proc/inode_map.hpp"
#include "proc/unique_fd.hpp"

namespace flowpulse::proc {

struct ProcessKey {
  std::int32_t pid = 0;
  std::uint64_t start_time = 0;  // clock ticks since boot (sysconf(_SC_CLK_TCK) per second)
  friend bool operator==(const ProcessKey&, const ProcessKey&) = default;
};

struct ProcessKeyHash {
  std::size_t operator()(const ProcessKey& k) const noexcept {
    return static_cast<std::size_t>(
        (static_cast<std::uint64_t>(static_cast<std::uint32_t>(k.pid)) << 32 ^ k.start_time) *
        0x9E3779B97F4A7C15ULL);
  }
};

struct ProcessInfo {
  ProcessKey key;
  std::string name;         // comm: at most 15 bytes, as the kernel keeps it (changed by prctl or exec)
  std::string exe;          // target of /proc/<pid>/exe; empty for kernel threads or when not permitted
  std::string cmdline;      // arguments joined by spaces; at most ProcessTableOptions::max_cmdline bytes
  std::uint32_t uid = 0;    // real uid
  std::string user;         // its passwd name, or the number when it has none
  char state = '?';         // stat field 3 at the last read: R, S, D, Z, T, I, ...; X once found gone
  std::uint64_t netns = 0;  // inode of its network namespace; 0 when not readable
  bool kernel_thread = false;
  bool fds_readable = true;                  // false: /proc/<pid>/fd could not be listed (permissions)
  std::vector<std::uint64_t> socket_inodes;  // sorted, unique, as of the last read of its fds
  bool alive = true;
  std::uint64_t first_seen_ns = 0;
  std::uint64_t last_scan_ns = 0;         // last read of its fds
  std::uint64_t last_socket_gain_ns = 0;  // last read that found a socket inode it did not hold
  std::uint64_t dead_since_ns = 0;        // when it was found gone (alive == false)
};

// A socket inode that no known process holds, with what the socket dump says about it.
struct InodeHint {
  std::uint64_t inode = 0;
  std::uint32_t uid = 0;    // socket owner uid: usually the process's uid
  std::uint64_t netns = 0;  // namespace the socket lives in: usually the process's
};

// A network namespace some live process is in, and one such process (to open /proc/<pid>/ns/net).
struct NetnsInfo {
  std::uint64_t inode = 0;
  std::int32_t pid = 0;
  std::size_t processes = 0;
};

struct ProcessTableOptions {
  std::string proc_root = "/proc";  // another root serves tests (a fake tree of the same layout)
  std::size_t rescan_per_refresh = 16;
  std::size_t rescan_fd_budget = 1024;
  std::size_t resolve_per_refresh = 64;
  std::size_t resolve_fd_budget = 65536;
  std::uint64_t dead_grace_ns = 5'000'000'000ULL;
  std::size_t max_cmdline = 4096;
};

// What the last refresh() and resolve() did.
struct ProcessTableStats {
  std::size_t alive = 0;
  std::size_t dead_kept = 0;    // gone, within the grace period
  std::size_t new_scanned = 0;  // pids read for the first time
  std::size_t rescanned = 0;    // known processes re-read, round robin
  std::size_t resolve_scans = 0;
  std::size_t resolved = 0;     // hinted inodes placed by resolve()
  std::size_t reused_pids = 0;  // a known pid found with another start time
  std::size_t removed = 0;      // dropped after the grace period
  std::size_t fds_read = 0;
};

class ProcessTable {
 public:
  explicit ProcessTable(ProcessTableOptions options = {});

  // Lists the pids, reads new ones, re-reads a bounded number of known ones, marks vanished ones
  // dead and drops those dead for longer than the grace period. `now_ns` is any monotonic clock,
  // the same the caller passes everywhere. Errors only when the proc root cannot be listed.
  // With `rescan_known` false only new pids are read (and gone ones marked): what a lookup between
  // two refreshes does when a socket's owner is no process known yet.
  core::Status refresh(std::uint64_t now_ns, bool rescan_known = true);

  // Re-reads processes likely to hold `unknown` inodes until all are placed or the budget is spent;
  // returns how many were placed. Call it after refresh(), once per refresh.
  std::size_t resolve(std::span<const InodeHint> unknown, std::uint64_t now_ns);

  // The process holding a socket inode (a live one, or a dead one within its grace period). When
  // several processes share the inode (fork), the first one found keeps it while it holds it.
  std::optional<ProcessKey> owner_of(std::uint64_t inode) const noexcept;
  void prefetch_owner(std::uint64_t inode) const noexcept { inode_owner_.prefetch(inode); }
  const ProcessInfo* find(const ProcessKey& key) const noexcept;
  const ProcessInfo* find_pid(std::int32_t pid) const noexcept;  // the live process with this pid

  template <typename F>
  void for_each(F&& f) const {
    for (const auto& [key, record] : processes_) f(record.info);
  }
  std::size_t size() const noexcept { return processes_.size(); }
  std::size_t inode_count() const noexcept { return inode_owner_.size(); }

  // Distinct network namespaces of live processes (as of the last refresh).
  const std::vector<NetnsInfo>& namespaces() const noexcept { return namespaces_; }
  const ProcessTableStats& last_refresh() const noexcept { return stats_; }
  const ProcessTableOptions& options() const noexcept { return options_; }

 private:
  struct Record {
    ProcessInfo info;
    std::uint64_t scan_generation = 0;  // refresh in which its fds were last read
    std::size_t shared_inodes = 0;      // inodes it holds that another live process owns
  };
  struct StatLine {
    std::uint64_t start_time = 0;
    std::string comm;
    char state = '?';
    bool kernel_thread = false;
  };

  bool read_stat(std::int32_t pid, StatLine& out);
  void scan_new(std::int32_t pid, const StatLine& stat, std::uint64_t now_ns);
  // Re-reads a known live process; handles pid reuse and death. Returns the fds read.
  std::size_t rescan(Record& r, std::uint64_t now_ns);
  std::size_t scan_fds(Record& r, std::uint64_t now_ns);
  void read_details(ProcessInfo& info);
  std::uint64_t read_netns(std::int32_t pid);
  void mark_dead(Record& r, std::uint64_t now_ns);
  void drop(const ProcessKey& key);
  const std::string& user_name(std::uint32_t uid);
  void rebuild_namespaces();

  ProcessTableOptions options_;
  UniqueFd proc_dir_;
  std::unordered_map<ProcessKey, Record, ProcessKeyHash> processes_;
  std::unordered_map<std::int32_t, ProcessKey> live_by_pid_;
  InodeMap<ProcessKey> inode_owner_;
  std::unordered_map<std::uint32_t, std::string> user_names_;
  std::vector<NetnsInfo> namespaces_;
  ProcessTableStats stats_;
  std::uint64_t generation_ = 0;
  std::int32_t rescan_cursor_ = 0;  // round robin: the last pid re-read
  std::int64_t rescan_credit_ = 0;  // fds the round robin may still read (negative: in debt)
  // Reused between scans.
  std::vector<std::int32_t> pids_;
  std::vector<std::uint64_t> inodes_scratch_;
  std::vector<char> dirents_;
};

}  // namespace flowpulse::proc
