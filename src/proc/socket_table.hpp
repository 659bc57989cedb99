// Which local process a packet belongs to: the TCP and UDP sockets of every known network namespace
// (proc::SockDiag) joined with the processes that hold them (proc::ProcessTable), indexed by 5-tuple.
//
// "Local" is always this host's end of the socket: the address and port the socket is bound to.
// For a packet this host sends, local = the packet's source and remote = its destination; for a packet
// it receives, local = the destination and remote = the source. When both ends are on this host
// (loopback, or between namespaces), each end is a socket of its own: look up the packet both ways
// and charge each side to its own process.
//
// refresh() runs once per tick on the stats core, never in the packet path: it reads the processes
// (incrementally, see process_table.hpp), dumps the sockets of each network namespace a live process
// is in (the own one first), places socket inodes no known process holds by targeted re-reads (each
// such inode once), and rebuilds the index. A socket that has gone keeps its last owner for
// closed_grace_ns, so a connection that ends between two ticks is still charged to its process.
//
// lookup() is cheap: at most three probes of an open-addressing table, no allocation, no syscall.
// It tries, in order:
//   1. exact: (proto, local addr, local port, remote addr, remote port), for connected sockets
//      (established TCP, connected UDP);
//   2. local: (proto, local addr, local port), for listening TCP and unconnected UDP sockets bound
//      to that address (a connection accepted since the last refresh goes to its listener's owner);
//   3. wildcard: (proto, 0.0.0.0 or ::, local port), for those bound to the any address. A
//      dual-stack IPv6 socket bound to :: (not IPV6_V6ONLY) also answers IPv4 lookups.
// IPv4 on a dual-stack socket is reported by the kernel as ::ffff:a.b.c.d; the table stores it, and
// lookup takes it, as plain IPv4 (IpAddress::v4*), so a lookup with the IPv4 5-tuple finds it.
//
// When several sockets answer one key (SO_REUSEPORT, one 5-tuple in two namespaces, a closed socket
// and a new one), a live socket beats a closed one, then the own namespace beats the others, then the
// most recently seen. Namespaces are not part of the key: a packet carries no namespace.
//
// Not thread-safe: refresh() and lookup() run on one thread (or lookups after refresh returned).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <unordered_set>
#include <vector>

#include "core/result.hpp"
#include "flowpulse/flow_record.hpp"
#include "proc/process_table.hpp"
#include "proc/sock_diag.hpp"

namespace flowpulse::proc {

enum class MatchKind : std::uint8_t { exact, local, wildcard };
const char* to_string(MatchKind m) noexcept;

struct SocketOwner {
  ProcessKey process;  // resolve with SocketTable::processes().find(process) for name, exe, ...
  std::uint64_t inode = 0;
  std::uint64_t netns = 0;
  MatchKind match = MatchKind::exact;
  // The socket had gone at the last refresh: this is its last owner, kept for the grace period.
  bool closed = false;
};

struct SocketTableOptions {
  ProcessTableOptions processes;
  std::uint64_t closed_grace_ns = 5'000'000'000ULL;
  SockDiag::Mode mode = SockDiag::Mode::automatic;
  // Dump the namespaces of other processes too (containers); needs CAP_SYS_ADMIN. A namespace that
  // cannot be opened is retried after namespace_retry_ns.
  bool other_namespaces = true;
  std::uint64_t namespace_retry_ns = 30'000'000'000ULL;
  DumpFilter filter;
  // Connected TCP sockets are dumped every this many refreshes (and on the first refresh, and
  // whenever a namespace is added); the other refreshes dump listeners and UDP only, which the
  // kernel does without walking its table of connections, and keep the connected TCP sockets they
  // knew alive. 1 = every refresh. Only worth more where something else reports TCP closes
  // (proc::CloseTracer, see Attribution) and new connections are looked up by their first packet
  // (resolve_flow): then a socket that closed stays alive in the table for at most this many
  // refreshes, and it is its own process that it keeps answering for.
  std::size_t tcp_connected_dump_every = 1;
};

// What the last refresh did and what it cost (nanoseconds of the clock core::monotonic_ns).
struct SocketTableStats {
  std::size_t sockets = 0;           // dumped, all namespaces
  std::size_t carried = 0;           // connected TCP sockets kept from earlier dumps (not dumped)
  bool tcp_connected_dumped = true;  // whether this refresh dumped the connected TCP sockets
  std::size_t namespaces = 0;        // dumped
  std::size_t namespace_errors = 0;  // namespaces that could not be opened or dumped
  std::size_t owned = 0;             // live sockets with a known process
  std::size_t unknown = 0;           // live sockets (inode != 0) with none
  std::size_t resolved = 0;          // of those first seen, placed by targeted re-reads
  std::size_t closed_kept = 0;       // gone sockets within the grace period
  std::size_t index_keys = 0;
  std::uint64_t process_ns = 0;  // ProcessTable::refresh
  std::uint64_t dump_ns = 0;     // socket dumps (kernel and parsing)
  std::uint64_t resolve_ns = 0;  // owners and ProcessTable::resolve
  std::uint64_t index_ns = 0;    // entries and the lookup index
  std::uint64_t total_ns = 0;
  std::string last_error;  // the latest namespace error, for a log line
};

class SocketTable {
 public:
  // Opens the socket dump of the calling thread's namespace. Reads nothing yet: call refresh().
  static core::Result<SocketTable> open(SocketTableOptions options = {});

  // `now_ns`: any monotonic clock; pass the same clock to lookup(). Fails only when the own
  // namespace cannot be dumped or the processes cannot be listed; the index then stays as it was.
  // Another namespace that fails is counted (last_refresh().namespace_errors) and retried later.
  core::Status refresh(std::uint64_t now_ns);

  // The owner of the socket that a packet with this 5-tuple belongs to, or nullopt (see the top of
  // the file for what local means and the order of the fallbacks). Ports in host byte order.
  std::optional<SocketOwner> lookup(std::uint8_t proto, const IpAddress& local, std::uint16_t local_port,
                                    const IpAddress& remote, std::uint16_t remote_port,
                                    std::uint64_t now_ns) const noexcept;

  // Between refreshes, for a flow whose ends lookup() does not find as exact, live matches (a
  // socket opened since the last refresh, which may be gone by the next): asks the kernel for the
  // socket of each end (SockDiag::find, every open namespace), finds the process holding it
  // (targeted re-reads, new pids if need be), and adds it to the index. It then ages like a dumped
  // socket: kept while the dumps list it, and for the grace period after. Returns the ends placed.
  std::size_t resolve_flow(std::uint8_t proto, const IpAddress& a, std::uint16_t a_port, const IpAddress& b,
                           std::uint16_t b_port, std::uint64_t now_ns);
  // A TCP connection that process `pid` closed (proc::TcpCloseTracer): kept as a closed socket of
  // that process for the grace period, so its last packets are charged to it even when no refresh
  // ever saw the socket. False when the pid is no process known (even after reading new pids).
  bool record_close(std::int32_t pid, const IpAddress& local, std::uint16_t local_port,
                    const IpAddress& remote, std::uint16_t remote_port, std::uint64_t now_ns);
  std::uint64_t closes_recorded() const noexcept { return closes_recorded_; }

  // Flows resolve_flow() was asked about, and the socket ends it placed, since open.
  std::uint64_t flow_queries() const noexcept { return flow_queries_; }
  std::uint64_t flow_ends_placed() const noexcept { return flow_ends_placed_; }

  const ProcessTable& processes() const noexcept { return processes_; }
  // The sockets of the last successful refresh, all namespaces, own first.
  std::span<const SocketEntry> sockets() const noexcept { return sockets_; }
  std::uint64_t own_netns() const noexcept { return own_netns_; }
  // Namespaces with an open dump (the own one included).
  std::size_t namespaces_open() const noexcept { return namespaces_.size(); }
  SockDiagBackend backend() const noexcept { return namespaces_.front().diag.backend(); }
  const SocketTableStats& last_refresh() const noexcept { return stats_; }

 private:
  struct Namespace {
    SockDiag diag;
    std::uint64_t inode = 0;
  };
  struct Entry {
    IpAddress local;
    IpAddress remote;
    std::uint16_t local_port = 0;
    std::uint16_t remote_port = 0;
    std::uint8_t proto = 0;
    std::uint8_t family = 0;
    bool v6only = false;
    bool alive = true;
    bool has_owner = false;
    std::uint64_t inode = 0;
    std::uint64_t netns = 0;
    ProcessKey owner;
    std::uint64_t seen_ns = 0;    // last refresh it was dumped in
    std::uint64_t closed_ns = 0;  // first refresh it was missing from
  };
  // Open addressing: tag 0 = empty; ref = entry index << 2 | key kind.
  struct Slot {
    std::uint32_t tag = 0;
    std::uint32_t ref = 0;
  };

  explicit SocketTable(SocketTableOptions options);
  void sync_namespaces(std::uint64_t now_ns);
  void rebuild_index();
  void index_entry(std::size_t i);
  void prefetch_slots(const Entry& e) const noexcept;
  static std::uint32_t main_kind(const Entry& e) noexcept;
  static std::uint64_t key_hash(const Entry& e,
                                std::uint32_t kind) noexcept;  // its identity and its lookup keys
  void index_insert(std::uint64_t hash, std::uint32_t ref);
  bool better(const Entry& a, std::uint32_t a_kind, const Entry& b, std::uint32_t b_kind) const noexcept;
  std::size_t find_identity(std::uint64_t netns, std::uint64_t inode) const noexcept;
  static Entry entry_of(const SocketEntry& s, std::uint64_t now_ns) noexcept;  // alive, no owner yet
  void add_entry(const SocketEntry& s, const ProcessKey& owner, std::uint64_t now_ns, bool alive = true);

  SocketTableOptions options_;
  ProcessTable processes_;
  std::vector<Namespace> namespaces_;                                        // own first
  std::vector<std::pair<std::uint64_t, std::uint64_t>> namespace_failures_;  // inode, when
  std::uint64_t own_netns_ = 0;

  std::vector<SocketEntry> sockets_;
  std::vector<SocketEntry> dumped_;  // the dump in progress, swapped into sockets_ when complete
  std::vector<std::optional<ProcessKey>> owners_;  // per sockets_ entry
  std::vector<Entry> entries_;
  std::vector<Entry> next_entries_;
  std::vector<std::uint8_t> seen_;
  std::vector<Slot> index_;
  std::vector<Slot> identities_;
  std::uint64_t index_mask_ = 0;
  std::uint64_t identity_mask_ = 0;
  std::vector<InodeHint> hints_;
  std::unordered_set<std::uint64_t> attempted_;  // unknown inodes resolve() has already looked for
  SocketTableStats stats_;
  std::vector<SocketEntry> found_;  // resolve_flow's kernel answers
  std::uint64_t flow_queries_ = 0;
  std::uint64_t flow_ends_placed_ = 0;
  std::uint64_t closes_recorded_ = 0;
  std::size_t index_keys_ = 0;                       // keys in index_ (kept across failed refreshes)
  std::uint64_t new_pid_scan_ns_ = 0;                // the pass (its now_ns) that last read new pids
  std::size_t refreshes_since_tcp_dump_ = 0;         // see tcp_connected_dump_every
  bool tcp_dump_due_ = true;                         // first refresh, new namespace
  std::uint64_t next_synthetic_inode_ = 1ULL << 63;  // identities of recorded closes (no inode)
};

}  // namespace flowpulse::proc
