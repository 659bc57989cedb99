#include "proc/socket_table.hpp"

#include <fcntl.h>

#include <algorithm>
#include <bit>
#include <cstring>

#include "core/clock.hpp"

namespace flowpulse::proc {
namespace {

// Key kinds in a slot's ref. `any4` is the IPv4 wildcard key of a dual-stack socket bound to ::.
constexpr std::uint32_t kind_exact = 0;
constexpr std::uint32_t kind_local = 1;
constexpr std::uint32_t kind_any4 = 2;
constexpr std::size_t npos = static_cast<std::size_t>(-1);
// How far ahead the loops over every socket prefetch the hash-table slots they will touch: enough
// to cover a memory access with the work of the sockets in between.
constexpr std::size_t lookahead = 8;

const IpAddress any4 = IpAddress::v4(0);
const IpAddress any6 = [] {
  IpAddress a;
  a.family = 6;
  return a;
}();

struct KeyView {
  const IpAddress* local;
  std::uint16_t local_port;
  const IpAddress* remote;  // exact keys only
  std::uint16_t remote_port;
  std::uint8_t proto;
  bool exact;
};

inline std::uint64_t step(std::uint64_t h, std::uint64_t v) noexcept {
  return (std::rotl(h, 23) ^ v) * 0x9E3779B97F4A7C15ULL;
}
inline std::uint64_t finish(std::uint64_t h) noexcept {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}
inline std::uint64_t step_addr(std::uint64_t h, const IpAddress& a) noexcept {
  std::uint64_t w[2];
  std::memcpy(w, a.bytes.data(), sizeof w);
  return step(step(h, w[0]), w[1]);
}

std::uint64_t hash_key(const KeyView& k) noexcept {
  std::uint64_t h = k.exact ? 0x243F6A8885A308D3ULL : 0x13198A2E03707344ULL;
  h = step_addr(h, *k.local);
  h = step(h, std::uint64_t{k.local->family} << 32 | std::uint64_t{k.proto} << 16 | k.local_port);
  if (k.exact) {
    h = step_addr(h, *k.remote);
    h = step(h, std::uint64_t{k.remote->family} << 32 | k.remote_port);
  }
  return finish(h);
}

std::uint64_t hash_identity(std::uint64_t netns, std::uint64_t inode) noexcept {
  return finish(step(step(0x452821E638D01377ULL, netns), inode));
}

std::size_t capacity_for(std::size_t n) noexcept { return std::bit_ceil(std::max<std::size_t>(64, n * 2)); }

std::uint32_t tag_of(std::uint64_t h) noexcept { return static_cast<std::uint32_t>(h >> 32) | 1U; }

// An IPv4-mapped IPv6 address as the IPv4 address it stands for (how the table stores it).
IpAddress normalized(const IpAddress& a) noexcept {
  static constexpr std::uint8_t mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (a.family == 6 && std::memcmp(a.bytes.data(), mapped_prefix, sizeof mapped_prefix) == 0)
    return IpAddress::v4_bytes(a.bytes.data() + 12);
  return a;
}

}  // namespace

const char* to_string(MatchKind m) noexcept {
  switch (m) {
    case MatchKind::exact: return "exact";
    case MatchKind::local: return "local";
    case MatchKind::wildcard: return "wildcard";
  }
  return "?";
}

SocketTable::SocketTable(SocketTableOptions options)
    : options_(std::move(options)), processes_(options_.processes) {}

core::Result<SocketTable> SocketTable::open(SocketTableOptions options) {
  SocketTable t(std::move(options));
  auto diag = SockDiag::open(t.options_.mode);
  if (!diag) return core::Error{diag.error()};
  t.own_netns_ = diag->netns();
  t.namespaces_.push_back({std::move(*diag), t.own_netns_});
  return t;
}

void SocketTable::sync_namespaces(std::uint64_t now_ns) {
  if (!options_.other_namespaces) return;
  const auto& live = processes_.namespaces();  // sorted by inode
  auto has_live = [&](std::uint64_t inode) {
    return std::binary_search(live.begin(), live.end(), NetnsInfo{inode, 0, 0},
                              [](const NetnsInfo& a, const NetnsInfo& b) { return a.inode < b.inode; });
  };
  // A namespace with no process left: let it go (the open dump would keep it alive).
  for (std::size_t i = namespaces_.size(); i-- > 1;)
    if (!has_live(namespaces_[i].inode))
      namespaces_.erase(namespaces_.begin() + static_cast<std::ptrdiff_t>(i));
  std::erase_if(namespace_failures_,
                [&](const auto& f) { return now_ns - f.second >= options_.namespace_retry_ns; });

  for (const NetnsInfo& ns : live) {
    if (ns.inode == own_netns_) continue;
    if (std::any_of(namespaces_.begin(), namespaces_.end(),
                    [&](const Namespace& n) { return n.inode == ns.inode; }))
      continue;
    if (std::any_of(namespace_failures_.begin(), namespace_failures_.end(),
                    [&](const auto& f) { return f.first == ns.inode; }))
      continue;
    const std::string path = options_.processes.proc_root + "/" + std::to_string(ns.pid) + "/ns/net";
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
      stats_.last_error = "cannot open " + path + ": " + std::strerror(errno);
      ++stats_.namespace_errors;
      namespace_failures_.emplace_back(ns.inode, now_ns);
      continue;
    }
    auto diag = SockDiag::open_in_netns(fd.get(), options_.mode);
    if (!diag) {
      stats_.last_error = "network namespace " + std::to_string(ns.inode) + " (pid " +
                          std::to_string(ns.pid) + "): " + diag.error();
      ++stats_.namespace_errors;
      namespace_failures_.emplace_back(ns.inode, now_ns);
      continue;
    }
    // The pid may have gone, or moved, since the process table read it: try again next refresh.
    if (diag->netns() != ns.inode) continue;
    namespaces_.push_back({std::move(*diag), ns.inode});
    tcp_dump_due_ = true;  // its connected sockets were never dumped
  }
}

SocketTable::Entry SocketTable::entry_of(const SocketEntry& s, std::uint64_t now_ns) noexcept {
  Entry e;
  e.local = s.local;
  e.remote = s.remote;
  e.local_port = s.local_port;
  e.remote_port = s.remote_port;
  e.proto = s.proto;
  e.family = s.family;
  e.v6only = s.v6only;
  e.inode = s.inode;
  e.netns = s.netns;
  e.seen_ns = now_ns;
  return e;
}

core::Status SocketTable::refresh(std::uint64_t now_ns) {
  const std::uint64_t t0 = core::monotonic_ns();
  stats_ = {};
  if (auto st = processes_.refresh(now_ns); !st.ok()) return st;
  const std::uint64_t t1 = core::monotonic_ns();

  sync_namespaces(now_ns);
  // Connected TCP sockets when due; else listeners only (the kernel then skips its established hash).
  const bool tcp_full = tcp_dump_due_ || options_.tcp_connected_dump_every <= 1 ||
                        refreshes_since_tcp_dump_ + 1 >= options_.tcp_connected_dump_every;
  DumpFilter filter = options_.filter;
  if (!tcp_full) filter.tcp_states &= state_bit(SocketState::listen);
  filter.tcp = filter.tcp && filter.tcp_states != 0;
  dumped_.clear();
  for (std::size_t i = 0; i < namespaces_.size(); ++i) {
    const std::size_t before = dumped_.size();
    auto st = namespaces_[i].diag.dump(dumped_, filter);
    if (st.ok()) {
      ++stats_.namespaces;
      continue;
    }
    if (i == 0) return core::Error{"socket table: " + st.error()};
    dumped_.resize(before);
    stats_.last_error = "network namespace " + std::to_string(namespaces_[i].inode) + ": " + st.error();
    ++stats_.namespace_errors;
    namespace_failures_.emplace_back(namespaces_[i].inode, now_ns);
    namespaces_.erase(namespaces_.begin() + static_cast<std::ptrdiff_t>(i));
    --i;
  }
  sockets_.swap(dumped_);
  if (tcp_full) {
    tcp_dump_due_ = false;
    refreshes_since_tcp_dump_ = 0;
  } else {
    ++refreshes_since_tcp_dump_;
  }
  stats_.tcp_connected_dumped = tcp_full;
  const std::uint64_t t2 = core::monotonic_ns();

  // Owners; inodes no known process holds are looked for, each once. The lookups are random
  // accesses into a table of 100k+ inodes: each is asked for `lookahead` sockets ahead.
  owners_.resize(sockets_.size());
  hints_.clear();
  for (std::size_t i = 0; i < sockets_.size(); ++i) {
    if (i + lookahead < sockets_.size()) processes_.prefetch_owner(sockets_[i + lookahead].inode);
    const SocketEntry& s = sockets_[i];
    owners_[i] = s.inode != 0 ? processes_.owner_of(s.inode) : std::nullopt;
    if (s.inode == 0 || owners_[i]) continue;
    if (attempted_.insert(s.inode).second) hints_.push_back({s.inode, s.uid, s.netns});
  }
  if (!hints_.empty()) {
    stats_.resolved = processes_.resolve(hints_, now_ns);
    if (stats_.resolved != 0)
      for (std::size_t i = 0; i < sockets_.size(); ++i)
        if (!owners_[i] && sockets_[i].inode != 0) owners_[i] = processes_.owner_of(sockets_[i].inode);
  }
  const std::uint64_t t3 = core::monotonic_ns();

  // Live sockets, then the gone ones still within their grace period. The entries are in the order
  // of the last dump, and a dump lists the sockets in the same order bar what changed: each socket's
  // entry is looked for right after the previous socket's first, and by hash only if not there.
  seen_.assign(entries_.size(), 0);
  next_entries_.clear();
  next_entries_.reserve(sockets_.size() + entries_.size() / 4);
  std::size_t expected = 0;
  for (std::size_t i = 0; i < sockets_.size(); ++i) {
    const SocketEntry& s = sockets_[i];
    if (s.inode == 0) continue;
    Entry& e = next_entries_.emplace_back(entry_of(s, now_ns));
    std::size_t old = npos;
    if (expected < entries_.size() && entries_[expected].inode == s.inode &&
        entries_[expected].netns == s.netns)
      old = expected;
    else
      old = find_identity(s.netns, s.inode);
    if (old != npos) {
      seen_[old] = 1;
      expected = old + 1;
    }
    if (owners_[i]) {
      e.owner = *owners_[i];
      e.has_owner = true;
    } else if (old != npos && entries_[old].has_owner && processes_.find(entries_[old].owner) != nullptr) {
      // The same socket, whose holder (still known, maybe dead within its grace period) was re-read
      // and no longer lists it: e.g. passed to another process that is not read yet.
      e.owner = entries_[old].owner;
      e.has_owner = true;
    }
    if (e.has_owner)
      ++stats_.owned;
    else
      ++stats_.unknown;
  }
  auto dumped_namespace = [&](std::uint64_t netns) {
    return netns == own_netns_ || std::any_of(namespaces_.begin(), namespaces_.end(),
                                              [&](const Namespace& n) { return n.inode == netns; });
  };
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    if (seen_[i]) continue;
    if (!tcp_full && entries_[i].alive && entries_[i].proto == proto_tcp && entries_[i].remote_port != 0 &&
        dumped_namespace(entries_[i].netns)) {  // not asked for this time: as it was
      next_entries_.push_back(entries_[i]);
      ++stats_.carried;
      ++(entries_[i].has_owner ? stats_.owned : stats_.unknown);
      continue;
    }
    if (!entries_[i].has_owner) continue;
    Entry e = entries_[i];
    if (e.alive) {
      e.alive = false;
      e.closed_ns = now_ns;
    }
    if (now_ns >= e.closed_ns + options_.closed_grace_ns) continue;
    next_entries_.push_back(e);
    ++stats_.closed_kept;
  }
  entries_.swap(next_entries_);
  rebuild_index();
  // Forget looked-for inodes once their socket is gone or placed.
  if (!attempted_.empty())
    std::erase_if(attempted_, [&](std::uint64_t inode) {
      for (const Namespace& ns : namespaces_) {
        const std::size_t i = find_identity(ns.inode, inode);
        if (i != npos) return entries_[i].has_owner || !entries_[i].alive;
      }
      return true;
    });
  const std::uint64_t t4 = core::monotonic_ns();

  stats_.sockets = sockets_.size();
  stats_.index_keys = index_keys_;
  stats_.process_ns = t1 - t0;
  stats_.dump_ns = t2 - t1;
  stats_.resolve_ns = t3 - t2;
  stats_.index_ns = t4 - t3;
  stats_.total_ns = t4 - t0;
  return core::Ok{};
}

std::size_t SocketTable::find_identity(std::uint64_t netns, std::uint64_t inode) const noexcept {
  if (identities_.empty()) return npos;
  const std::uint64_t h = hash_identity(netns, inode);
  const std::uint32_t tag = tag_of(h);
  for (std::uint64_t pos = h & identity_mask_;; pos = (pos + 1) & identity_mask_) {
    const Slot& s = identities_[pos];
    if (s.tag == 0) return npos;
    if (s.tag == tag && entries_[s.ref].inode == inode && entries_[s.ref].netns == netns) return s.ref;
  }
}

namespace {

KeyView key_of(const IpAddress& local, std::uint16_t lport, const IpAddress& remote, std::uint16_t rport,
               std::uint8_t proto, std::uint32_t kind) noexcept {
  if (kind == kind_exact) return {&local, lport, &remote, rport, proto, true};
  if (kind == kind_any4) return {&any4, lport, nullptr, 0, proto, false};
  return {&local, lport, nullptr, 0, proto, false};
}

}  // namespace

// The key an entry is found by: its 5-tuple when connected, else its local address (which may be
// the wildcard).
std::uint32_t SocketTable::main_kind(const Entry& e) noexcept {
  return e.remote_port != 0 ? kind_exact : kind_local;
}

std::uint64_t SocketTable::key_hash(const Entry& e, std::uint32_t kind) noexcept {
  return hash_key(key_of(e.local, e.local_port, e.remote, e.remote_port, e.proto, kind));
}

bool SocketTable::better(const Entry& a, std::uint32_t a_kind, const Entry& b,
                         std::uint32_t b_kind) const noexcept {
  if (a.alive != b.alive) return a.alive;
  const bool a_own = a.netns == own_netns_, b_own = b.netns == own_netns_;
  if (a_own != b_own) return a_own;
  const std::uint64_t a_time = a.alive ? a.seen_ns : a.closed_ns, b_time = b.alive ? b.seen_ns : b.closed_ns;
  if (a_time != b_time) return a_time > b_time;
  return a_kind < b_kind;  // an IPv4 socket on 0.0.0.0 before a dual-stack one on ::
}

void SocketTable::index_insert(std::uint64_t hash, std::uint32_t ref) {
  const Entry& e = entries_[ref >> 2];
  const std::uint32_t kind = ref & 3;
  const KeyView k = key_of(e.local, e.local_port, e.remote, e.remote_port, e.proto, kind);
  const std::uint32_t tag = tag_of(hash);
  for (std::uint64_t pos = hash & index_mask_;; pos = (pos + 1) & index_mask_) {
    Slot& s = index_[pos];
    if (s.tag == 0) {
      s = {tag, ref};
      ++index_keys_;
      return;
    }
    if (s.tag != tag) continue;
    const Entry& o = entries_[s.ref >> 2];
    const std::uint32_t o_kind = s.ref & 3;
    const KeyView ok = key_of(o.local, o.local_port, o.remote, o.remote_port, o.proto, o_kind);
    if (ok.exact != k.exact || ok.proto != k.proto || ok.local_port != k.local_port ||
        !(*ok.local == *k.local))
      continue;
    if (k.exact && (ok.remote_port != k.remote_port || !(*ok.remote == *k.remote))) continue;
    if (better(e, kind, o, o_kind)) s.ref = ref;
    return;
  }
}

void SocketTable::rebuild_index() {
  std::size_t keys = 0;
  for (const Entry& e : entries_) {
    if (!e.has_owner) continue;
    keys += 1;
    if (e.remote_port == 0 && e.family == 6 && !e.v6only && e.local == any6) keys += 1;
  }
  identities_.assign(capacity_for(entries_.size()), Slot{});
  identity_mask_ = identities_.size() - 1;
  index_.assign(capacity_for(keys), Slot{});
  index_mask_ = index_.size() - 1;
  index_keys_ = 0;

  // Both tables are written at random: each entry's slots are asked for `lookahead` entries ahead.
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    if (i + lookahead < entries_.size()) prefetch_slots(entries_[i + lookahead]);
    index_entry(i);
  }
}

void SocketTable::prefetch_slots(const Entry& e) const noexcept {
  __builtin_prefetch(&identities_[hash_identity(e.netns, e.inode) & identity_mask_], 1);
  if (e.has_owner) __builtin_prefetch(&index_[key_hash(e, main_kind(e)) & index_mask_], 1);
}

void SocketTable::index_entry(std::size_t i) {
  const Entry& e = entries_[i];
  const std::uint64_t h = hash_identity(e.netns, e.inode);
  for (std::uint64_t pos = h & identity_mask_;; pos = (pos + 1) & identity_mask_) {
    if (identities_[pos].tag == 0) {
      identities_[pos] = {tag_of(h), static_cast<std::uint32_t>(i)};
      break;
    }
  }
  if (!e.has_owner) return;
  const std::uint32_t ref = static_cast<std::uint32_t>(i) << 2;
  const std::uint32_t kind = main_kind(e);
  index_insert(key_hash(e, kind), ref | kind);
  // Not connected and on ::, taking IPv4 too: also found by the IPv4 wildcard.
  if (kind == kind_local && e.family == 6 && !e.v6only && e.local == any6)
    index_insert(key_hash(e, kind_any4), ref | kind_any4);
}

std::size_t SocketTable::resolve_flow(std::uint8_t proto, const IpAddress& a_in, std::uint16_t a_port,
                                      const IpAddress& b_in, std::uint16_t b_port, std::uint64_t now_ns) {
  ++flow_queries_;
  const IpAddress a = normalized(a_in), b = normalized(b_in);
  std::size_t placed = 0;
  for (int end = 0; end < 2; ++end) {
    const IpAddress& local = end == 0 ? a : b;
    const IpAddress& remote = end == 0 ? b : a;
    const std::uint16_t lport = end == 0 ? a_port : b_port, rport = end == 0 ? b_port : a_port;
    // A live socket already answers (connected, or the listening / unconnected one the kernel would
    // name again): nothing to ask.
    if (auto o = lookup(proto, local, lport, remote, rport, now_ns); o && !o->closed) continue;
    found_.clear();
    for (Namespace& ns : namespaces_) (void)ns.diag.find(proto, local, lport, remote, rport, found_);
    for (const SocketEntry& e : found_) {
      if (e.inode == 0) continue;
      // A connected socket or one bound to this port is what was asked for; the kernel's UDP lookup
      // may answer with a socket on another address only if it is the wildcard, which is right too.
      if (e.local_port != lport) continue;
      std::optional<ProcessKey> owner = processes_.owner_of(e.inode);
      if (!owner) {
        const InodeHint hint{e.inode, e.uid, e.netns};
        if (processes_.resolve({&hint, 1}, now_ns) == 0) {
          if (new_pid_scan_ns_ != now_ns) {  // a process started since the last refresh; once a pass
            new_pid_scan_ns_ = now_ns;
            (void)processes_.refresh(now_ns, false);
          }
          if (processes_.owner_of(e.inode) == std::nullopt) (void)processes_.resolve({&hint, 1}, now_ns);
        }
        owner = processes_.owner_of(e.inode);
      }
      if (!owner) continue;
      add_entry(e, *owner, now_ns);
      ++placed;
      break;
    }
  }
  flow_ends_placed_ += placed;
  return placed;
}

bool SocketTable::record_close(std::int32_t pid, const IpAddress& local, std::uint16_t local_port,
                               const IpAddress& remote, std::uint16_t remote_port, std::uint64_t now_ns) {
  const ProcessInfo* p = processes_.find_pid(pid);
  if (p == nullptr && new_pid_scan_ns_ != now_ns) {  // started since the last refresh; once a pass
    new_pid_scan_ns_ = now_ns;
    (void)processes_.refresh(now_ns, false);
    p = processes_.find_pid(pid);
  }
  if (p == nullptr) return false;
  // The socket the table knows for this connection, if any, is closed now: kept for the grace period
  // like the record below, and a new connection on the same 5-tuple is looked up afresh.
  if (auto o = lookup(proto_tcp, local, local_port, remote, remote_port, now_ns);
      o && o->match == MatchKind::exact && !o->closed) {
    if (const std::size_t i = find_identity(o->netns, o->inode); i != npos) {
      entries_[i].alive = false;
      entries_[i].closed_ns = now_ns;
    }
  }
  SocketEntry e;
  e.local = normalized(local);
  e.remote = normalized(remote);
  e.local_port = local_port;
  e.remote_port = remote_port;
  e.proto = proto_tcp;
  e.family = local.family;
  e.inode = next_synthetic_inode_++;
  e.netns = own_netns_;
  add_entry(e, p->key, now_ns, false);
  ++closes_recorded_;
  return true;
}

void SocketTable::add_entry(const SocketEntry& s, const ProcessKey& owner, std::uint64_t now_ns, bool alive) {
  // Replace what the index holds for the same socket, if anything; else append.
  std::size_t i = find_identity(s.netns, s.inode);
  const bool fresh = i == npos;
  if (!fresh && entries_[i].alive == alive && entries_[i].has_owner && entries_[i].owner == owner &&
      entries_[i].local_port == s.local_port && entries_[i].remote_port == s.remote_port &&
      entries_[i].local == s.local && entries_[i].remote == s.remote)
    return;
  if (fresh) {
    i = entries_.size();
    entries_.emplace_back();
  }
  Entry& e = entries_[i];
  e = entry_of(s, now_ns);
  e.alive = alive;
  e.closed_ns = alive ? 0 : now_ns;
  e.has_owner = true;
  e.owner = owner;
  // Keep both tables under 3/4 full; a rebuild sizes them for twice the entries.
  if (!fresh || (entries_.size() + 2) * 4 > identities_.size() * 3 ||
      (index_keys_ + 2) * 4 > index_.size() * 3) {
    rebuild_index();
    return;
  }
  index_entry(i);
}

std::optional<SocketOwner> SocketTable::lookup(std::uint8_t proto, const IpAddress& local_in,
                                               std::uint16_t local_port, const IpAddress& remote_in,
                                               std::uint16_t remote_port,
                                               std::uint64_t now_ns) const noexcept {
  if (index_.empty()) return std::nullopt;
  const IpAddress local = normalized(local_in);
  const IpAddress remote = normalized(remote_in);

  auto probe = [&](const KeyView& k, MatchKind match) -> std::optional<SocketOwner> {
    const std::uint64_t h = hash_key(k);
    const std::uint32_t tag = tag_of(h);
    for (std::uint64_t pos = h & index_mask_;; pos = (pos + 1) & index_mask_) {
      const Slot& s = index_[pos];
      if (s.tag == 0) return std::nullopt;
      if (s.tag != tag) continue;
      const Entry& e = entries_[s.ref >> 2];
      const std::uint32_t kind = s.ref & 3;
      if (e.proto != k.proto || e.local_port != k.local_port || (kind == kind_exact) != k.exact) continue;
      if (kind == kind_any4 ? !(*k.local == any4) : !(e.local == *k.local)) continue;
      if (k.exact && (e.remote_port != k.remote_port || !(e.remote == *k.remote))) continue;
      if (!e.alive && now_ns >= e.closed_ns + options_.closed_grace_ns) return std::nullopt;
      return SocketOwner{e.owner, e.inode, e.netns, match, !e.alive};
    }
  };

  if (auto o = probe({&local, local_port, &remote, remote_port, proto, true}, MatchKind::exact)) return o;
  if (auto o = probe({&local, local_port, nullptr, 0, proto, false}, MatchKind::local)) return o;
  const IpAddress& any = local.family == 6 ? any6 : any4;
  if (local == any) return std::nullopt;
  return probe({&any, local_port, nullptr, 0, proto, false}, MatchKind::wildcard);
}

}  // namespace flowpulse::proc
