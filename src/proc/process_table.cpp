#include "proc/process_table.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace flowpulse::proc {
namespace {

constexpr unsigned long pf_kthread = 0x00200000;  // PF_KTHREAD in stat field 9 (flags)

// Reads a small file below `dirfd` into `buf`; returns the length, or -1.
ssize_t read_small(int dirfd, const char* path, char* buf, std::size_t cap) {
  UniqueFd fd(::openat(dirfd, path, O_RDONLY | O_CLOEXEC));
  if (!fd) return -1;
  std::size_t have = 0;
  while (have < cap) {
    const ssize_t n = ::read(fd.get(), buf + have, cap - have);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (n == 0) break;
    have += static_cast<std::size_t>(n);
  }
  return static_cast<ssize_t>(have);
}

bool parse_u64(const char*& p, const char* end, std::uint64_t& out) {
  if (p >= end || *p < '0' || *p > '9') return false;
  std::uint64_t v = 0;
  for (; p < end && *p >= '0' && *p <= '9'; ++p) v = v * 10 + static_cast<std::uint64_t>(*p - '0');
  out = v;
  return true;
}

// "socket:[12345]" (or "net:[4026531840]" with prefix "net:[") → 12345.
bool parse_bracketed(const char* s, std::size_t n, const char* prefix, std::size_t prefix_len,
                     std::uint64_t& out) {
  if (n < prefix_len + 2 || std::memcmp(s, prefix, prefix_len) != 0 || s[n - 1] != ']') return false;
  const char* p = s + prefix_len;
  return parse_u64(p, s + n - 1, out) && p == s + n - 1;
}

bool all_digits(const char* s) {
  if (*s == '\0') return false;
  for (; *s; ++s)
    if (*s < '0' || *s > '9') return false;
  return true;
}

}  // namespace

ProcessTable::ProcessTable(ProcessTableOptions options) : options_(std::move(options)) {
  dirents_.resize(std::size_t{64} * 1024);
}

std::optional<ProcessKey> ProcessTable::owner_of(std::uint64_t inode) const noexcept {
  const ProcessKey* key = inode_owner_.find(inode);
  if (key == nullptr) return std::nullopt;
  return *key;
}

const ProcessInfo* ProcessTable::find(const ProcessKey& key) const noexcept {
  const auto it = processes_.find(key);
  return it == processes_.end() ? nullptr : &it->second.info;
}

const ProcessInfo* ProcessTable::find_pid(std::int32_t pid) const noexcept {
  const auto it = live_by_pid_.find(pid);
  return it == live_by_pid_.end() ? nullptr : find(it->second);
}

bool ProcessTable::read_stat(std::int32_t pid, StatLine& out) {
  char path[32];
  std::snprintf(path, sizeof path, "%d/stat", pid);
  char buf[2048];
  const ssize_t n = read_small(proc_dir_.get(), path, buf, sizeof buf);
  if (n <= 0) return false;
  const char* end = buf + n;
  // "pid (comm) S ppid ...": comm may hold spaces and parentheses, so it ends at the last ')'.
  const char* open = static_cast<const char*>(std::memchr(buf, '(', static_cast<std::size_t>(n)));
  const char* close = nullptr;
  for (const char* p = end; p > buf;)
    if (*--p == ')') {
      close = p;
      break;
    }
  if (open == nullptr || close == nullptr || close < open) return false;
  out.comm.assign(open + 1, close);
  const char* p = close + 1;
  // Fields after the comm, counted from 3 (state).
  std::uint64_t flags = 0;
  bool have_start = false;
  for (int field = 3; field <= 22 && p < end; ++field) {
    while (p < end && *p == ' ') ++p;
    if (field == 3) {
      if (p >= end) return false;
      out.state = *p;
    } else if (field == 9) {
      const char* q = p;
      parse_u64(q, end, flags);
    } else if (field == 22) {
      const char* q = p;
      have_start = parse_u64(q, end, out.start_time);
    }
    while (p < end && *p != ' ') ++p;
  }
  out.kernel_thread = (flags & pf_kthread) != 0;
  return have_start;
}

std::uint64_t ProcessTable::read_netns(std::int32_t pid) {
  char path[32];
  std::snprintf(path, sizeof path, "%d/ns/net", pid);
  char link[64];
  const ssize_t n = ::readlinkat(proc_dir_.get(), path, link, sizeof link);
  std::uint64_t ino = 0;
  if (n > 0 && parse_bracketed(link, static_cast<std::size_t>(n), "net:[", 5, ino)) return ino;
  return 0;
}

const std::string& ProcessTable::user_name(std::uint32_t uid) {
  auto it = user_names_.find(uid);
  if (it != user_names_.end()) return it->second;
  passwd pw{};
  passwd* found = nullptr;
  char buf[4096];
  std::string name;
  if (::getpwuid_r(uid, &pw, buf, sizeof buf, &found) == 0 && found != nullptr && found->pw_name != nullptr)
    name = found->pw_name;
  else
    name = std::to_string(uid);
  return user_names_.emplace(uid, std::move(name)).first->second;
}

void ProcessTable::read_details(ProcessInfo& info) {
  const std::int32_t pid = info.key.pid;
  char path[48];
  char buf[8192];

  std::snprintf(path, sizeof path, "%d/status", pid);
  const ssize_t n = read_small(proc_dir_.get(), path, buf, sizeof buf);
  if (n > 0) {
    static constexpr char tag[] = "\nUid:";
    const char* end = buf + n;
    const char* hit = std::search(static_cast<const char*>(buf), end, tag, tag + sizeof tag - 1);
    if (hit != end) {
      const char* p = hit + sizeof tag - 1;
      while (p < end && (*p == '\t' || *p == ' ')) ++p;
      std::uint64_t uid = 0;
      if (parse_u64(p, end, uid)) info.uid = static_cast<std::uint32_t>(uid);
    }
  }
  info.user = user_name(info.uid);
  if (info.kernel_thread) return;

  std::snprintf(path, sizeof path, "%d/exe", pid);
  char link[4096];
  const ssize_t l = ::readlinkat(proc_dir_.get(), path, link, sizeof link);
  if (l > 0) info.exe.assign(link, static_cast<std::size_t>(l));

  std::snprintf(path, sizeof path, "%d/cmdline", pid);
  info.cmdline.resize(options_.max_cmdline);
  const ssize_t c = read_small(proc_dir_.get(), path, info.cmdline.data(), info.cmdline.size());
  info.cmdline.resize(c > 0 ? static_cast<std::size_t>(c) : 0);
  std::replace(info.cmdline.begin(), info.cmdline.end(), '\0', ' ');
  while (!info.cmdline.empty() && info.cmdline.back() == ' ') info.cmdline.pop_back();
}

void ProcessTable::scan_new(std::int32_t pid, const StatLine& stat, std::uint64_t now_ns) {
  const ProcessKey key{pid, stat.start_time};
  Record& r = processes_[key];
  r.info.key = key;
  r.info.name = stat.comm;
  r.info.state = stat.state;
  r.info.kernel_thread = stat.kernel_thread;
  r.info.alive = true;
  r.info.dead_since_ns = 0;
  if (r.info.first_seen_ns == 0) r.info.first_seen_ns = now_ns;
  read_details(r.info);
  r.info.netns = read_netns(pid);
  live_by_pid_[pid] = key;
  ++stats_.new_scanned;
  if (!r.info.kernel_thread) scan_fds(r, now_ns);
}

std::size_t ProcessTable::rescan(Record& r, std::uint64_t now_ns) {
  const std::int32_t pid = r.info.key.pid;
  StatLine stat;
  if (!read_stat(pid, stat)) {
    mark_dead(r, now_ns);
    return 0;
  }
  if (stat.start_time != r.info.key.start_time) {
    ++stats_.reused_pids;
    mark_dead(r, now_ns);
    const std::size_t before = stats_.fds_read;
    scan_new(pid, stat, now_ns);
    return stats_.fds_read - before;
  }
  r.info.state = stat.state;
  if (stat.comm != r.info.name) {  // prctl or exec: exe and cmdline may have changed too
    r.info.name = stat.comm;
    r.info.exe.clear();
    read_details(r.info);
  }
  r.info.netns = read_netns(pid);
  if (r.info.kernel_thread) return 0;
  return scan_fds(r, now_ns);
}

std::size_t ProcessTable::scan_fds(Record& r, std::uint64_t now_ns) {
  ProcessInfo& info = r.info;
  r.scan_generation = generation_;
  char path[32];
  std::snprintf(path, sizeof path, "%d/fd", info.key.pid);
  UniqueFd dir(::openat(proc_dir_.get(), path, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir) {
    if (errno == EACCES || errno == EPERM) info.fds_readable = false;
    return 0;
  }
  info.fds_readable = true;
  inodes_scratch_.clear();
  std::size_t fds = 0;
  for (;;) {
    const ssize_t n = ::getdents64(dir.get(), dirents_.data(), dirents_.size());
    if (n <= 0) break;
    for (ssize_t off = 0; off < n;) {
      const auto* d = reinterpret_cast<const dirent64*>(dirents_.data() + off);
      off += d->d_reclen;
      if (d->d_name[0] == '.') continue;
      ++fds;
      char link[64];
      const ssize_t l = ::readlinkat(dir.get(), d->d_name, link, sizeof link);
      std::uint64_t inode;
      if (l > 0 && parse_bracketed(link, static_cast<std::size_t>(l), "socket:[", 8, inode))
        inodes_scratch_.push_back(inode);
    }
  }
  std::sort(inodes_scratch_.begin(), inodes_scratch_.end());
  inodes_scratch_.erase(std::unique(inodes_scratch_.begin(), inodes_scratch_.end()), inodes_scratch_.end());

  // Apply the difference to the inode index.
  const ProcessKey key = info.key;
  const auto& old = info.socket_inodes;
  const auto& now = inodes_scratch_;
  // An inode shared with another process (fork) stays with its first holder while that one lives;
  // then the next holder re-read takes it over. Only a process that shares some pays for checking
  // the inodes it already held.
  auto claim = [&](std::uint64_t inode) {
    auto [owner, inserted] = inode_owner_.try_emplace(inode, key);
    if (inserted || *owner == key) return;
    const ProcessInfo* holder = find(*owner);
    if (holder == nullptr || !holder->alive)
      *owner = key;
    else
      ++r.shared_inodes;
  };
  const bool recheck = r.shared_inodes != 0;
  r.shared_inodes = 0;
  bool gained = false;
  std::size_t i = 0, j = 0;
  while (i < old.size() || j < now.size()) {
    if (j == now.size() || (i < old.size() && old[i] < now[j])) {
      const ProcessKey* owner = inode_owner_.find(old[i]);
      if (owner != nullptr && *owner == key) inode_owner_.erase(old[i]);
      ++i;
    } else if (i == old.size() || now[j] < old[i]) {
      claim(now[j]);
      gained = true;
      ++j;
    } else {
      if (recheck) claim(now[j]);
      ++i;
      ++j;
    }
  }
  info.socket_inodes.swap(inodes_scratch_);
  if (gained) info.last_socket_gain_ns = now_ns;
  info.last_scan_ns = now_ns;
  stats_.fds_read += fds;
  return fds;
}

void ProcessTable::mark_dead(Record& r, std::uint64_t now_ns) {
  if (!r.info.alive) return;
  r.info.alive = false;
  r.info.state = 'X';
  r.info.dead_since_ns = now_ns;
  const auto it = live_by_pid_.find(r.info.key.pid);
  if (it != live_by_pid_.end() && it->second == r.info.key) live_by_pid_.erase(it);
}

void ProcessTable::drop(const ProcessKey& key) {
  const auto it = processes_.find(key);
  if (it == processes_.end()) return;
  for (const std::uint64_t inode : it->second.info.socket_inodes) {
    const ProcessKey* owner = inode_owner_.find(inode);
    if (owner != nullptr && *owner == key) inode_owner_.erase(inode);
  }
  processes_.erase(it);
}

core::Status ProcessTable::refresh(std::uint64_t now_ns, bool rescan_known) {
  if (!proc_dir_) {
    proc_dir_.reset(::open(options_.proc_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!proc_dir_)
      return core::Error{"process table: cannot open " + options_.proc_root + ": " + std::strerror(errno)};
  }
  ++generation_;
  stats_ = {};

  // List the pids (getdents on the kept directory fd; /proc allows rewinding it).
  pids_.clear();
  if (::lseek(proc_dir_.get(), 0, SEEK_SET) != 0)
    return core::Error{"process table: cannot rewind " + options_.proc_root + ": " + std::strerror(errno)};
  for (;;) {
    const ssize_t n = ::getdents64(proc_dir_.get(), dirents_.data(), dirents_.size());
    if (n < 0)
      return core::Error{"process table: cannot list " + options_.proc_root + ": " + std::strerror(errno)};
    if (n == 0) break;
    for (ssize_t off = 0; off < n;) {
      const auto* d = reinterpret_cast<const dirent64*>(dirents_.data() + off);
      off += d->d_reclen;
      if (all_digits(d->d_name)) pids_.push_back(static_cast<std::int32_t>(std::atoi(d->d_name)));
    }
  }
  std::sort(pids_.begin(), pids_.end());

  // Gone: known live pids no longer listed.
  std::vector<ProcessKey> gone;
  for (const auto& [pid, key] : live_by_pid_)
    if (!std::binary_search(pids_.begin(), pids_.end(), pid)) gone.push_back(key);
  for (const ProcessKey& key : gone) mark_dead(processes_[key], now_ns);

  // New: read fully.
  for (const std::int32_t pid : pids_) {
    if (live_by_pid_.count(pid) != 0) continue;
    StatLine stat;
    if (read_stat(pid, stat)) scan_new(pid, stat, now_ns);
  }

  // Known: a bounded number, round robin from where the last refresh stopped, within the fd budget
  // (a token bucket: a big process may overdraw it, and the next refreshes pay it back).
  const auto budget = static_cast<std::int64_t>(options_.rescan_fd_budget);
  rescan_credit_ = std::min(rescan_credit_ + budget, budget);
  if (rescan_known && !pids_.empty() && options_.rescan_per_refresh > 0) {
    const std::size_t start = static_cast<std::size_t>(
        std::upper_bound(pids_.begin(), pids_.end(), rescan_cursor_) - pids_.begin());
    std::size_t scans = 0;
    for (std::size_t k = 0; k < pids_.size(); ++k) {
      if (scans >= options_.rescan_per_refresh || rescan_credit_ <= 0) break;
      const std::int32_t pid = pids_[(start + k) % pids_.size()];
      const auto live = live_by_pid_.find(pid);
      if (live == live_by_pid_.end()) continue;
      Record& r = processes_[live->second];
      if (r.scan_generation == generation_ || r.info.kernel_thread) continue;
      rescan_cursor_ = pid;
      rescan_credit_ -= static_cast<std::int64_t>(rescan(r, now_ns)) + 1;
      ++scans;
    }
    stats_.rescanned = scans;
  }

  // Dead beyond the grace period.
  std::vector<ProcessKey> expired;
  for (const auto& [key, r] : processes_) {
    if (r.info.alive)
      ++stats_.alive;
    else if (now_ns - r.info.dead_since_ns >= options_.dead_grace_ns)
      expired.push_back(key);
    else
      ++stats_.dead_kept;
  }
  for (const ProcessKey& key : expired) drop(key);
  stats_.removed = expired.size();

  rebuild_namespaces();
  return core::Ok{};
}

std::size_t ProcessTable::resolve(std::span<const InodeHint> unknown, std::uint64_t now_ns) {
  auto unplaced = [&] {
    std::size_t n = 0;
    for (const InodeHint& h : unknown) n += inode_owner_.find(h.inode) == nullptr ? 1 : 0;
    return n;
  };
  const std::size_t initial = unplaced();
  if (initial == 0 || options_.resolve_per_refresh == 0 || !proc_dir_) return 0;

  std::vector<std::uint64_t> netns, uids;
  for (const InodeHint& h : unknown) {
    netns.push_back(h.netns);
    uids.push_back(h.uid);
  }
  std::sort(netns.begin(), netns.end());
  netns.erase(std::unique(netns.begin(), netns.end()), netns.end());
  std::sort(uids.begin(), uids.end());
  uids.erase(std::unique(uids.begin(), uids.end()), uids.end());

  // Most likely holders first: same namespace, same uid, most recently gained a socket.
  struct Candidate {
    int score;
    std::uint64_t gained;
    Record* record;
  };
  std::vector<Candidate> candidates;
  for (auto& [key, r] : processes_) {
    if (!r.info.alive || r.info.kernel_thread || !r.info.fds_readable || r.scan_generation == generation_)
      continue;
    const int score =
        (std::binary_search(netns.begin(), netns.end(), r.info.netns) ? 2 : 0) +
        (std::binary_search(uids.begin(), uids.end(), static_cast<std::uint64_t>(r.info.uid)) ? 1 : 0);
    candidates.push_back({score, r.info.last_socket_gain_ns, &r});
  }
  std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
    if (a.score != b.score) return a.score > b.score;
    if (a.gained != b.gained) return a.gained > b.gained;
    return a.record->info.key.pid < b.record->info.key.pid;
  });

  std::size_t remaining = initial, scans = 0, fds = 0;
  for (const Candidate& c : candidates) {
    if (scans >= options_.resolve_per_refresh || fds >= options_.resolve_fd_budget) break;
    if (!c.record->info.alive || c.record->scan_generation == generation_) continue;
    fds += rescan(*c.record, now_ns);
    ++scans;
    remaining = unplaced();
    if (remaining == 0) break;
  }
  stats_.resolve_scans += scans;
  stats_.resolved += initial - remaining;
  if (scans > 0) rebuild_namespaces();
  return initial - remaining;
}

void ProcessTable::rebuild_namespaces() {
  namespaces_.clear();
  std::unordered_map<std::uint64_t, std::size_t> index;
  for (const auto& [key, r] : processes_) {
    if (!r.info.alive || r.info.netns == 0) continue;
    auto [it, inserted] = index.try_emplace(r.info.netns, namespaces_.size());
    if (inserted) namespaces_.push_back({r.info.netns, key.pid, 0});
    NetnsInfo& ns = namespaces_[it->second];
    ++ns.processes;
    if (key.pid < ns.pid) ns.pid = key.pid;
  }
  std::sort(namespaces_.begin(), namespaces_.end(),
            [](const NetnsInfo& a, const NetnsInfo& b) { return a.inode < b.inode; });
}

}  // namespace flowpulse::proc
