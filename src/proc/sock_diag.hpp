// Dumps the TCP and UDP sockets (IPv4 and IPv6) of one network namespace: protocol, family, local
// and remote address and port, state, inode and uid of each. The kernel's netlink sock_diag
// (NETLINK_SOCK_DIAG, SOCK_DIAG_BY_FAMILY with inet_diag_req_v2) is the source; /proc/net/{tcp,udp}{,6}
// is the fallback when netlink is unavailable, or when forced (Mode::procfs_only).
//
// One SockDiag owns one netlink socket and one receive buffer (1 MiB, read as up to 16 datagrams per
// recvmmsg) and is reused for every dump: a dump allocates nothing but what it appends to the
// caller's vector (reserve it). A netlink socket, and an open /proc/net file, stay bound to the
// network namespace they were created in, so `open_in_netns` creates them on a short-lived helper
// thread that has joined the target namespace, and the SockDiag is then used from any thread. Holding
// one keeps that namespace alive: drop it when the namespace has no process left.
//
// Addresses are normalized for lookups by a packet's 5-tuple: an IPv4-mapped address (::ffff:a.b.c.d)
// on an IPv6 socket (a dual-stack socket talking IPv4) is reported as the IPv4 address (IpAddress
// family 4, which is itself stored v4-mapped), while `family` keeps the socket's own family.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "flowpulse/flow_record.hpp"
#include "proc/unique_fd.hpp"

namespace flowpulse::proc {

inline constexpr std::uint8_t proto_tcp = 6;   // IPPROTO_TCP
inline constexpr std::uint8_t proto_udp = 17;  // IPPROTO_UDP

// The kernel's socket states (include/net/tcp_states.h). UDP sockets report `established` when
// connected and `close` when not.
enum class SocketState : std::uint8_t {
  unknown = 0,
  established = 1,
  syn_sent = 2,
  syn_recv = 3,
  fin_wait1 = 4,
  fin_wait2 = 5,
  time_wait = 6,
  close = 7,
  close_wait = 8,
  last_ack = 9,
  listen = 10,
  closing = 11,
  new_syn_recv = 12,
};
const char* to_string(SocketState s) noexcept;

// A bit per SocketState, as inet_diag_req_v2.idiag_states takes them.
constexpr std::uint32_t state_bit(SocketState s) noexcept { return 1U << static_cast<unsigned>(s); }
inline constexpr std::uint32_t all_states = 0xffffffffU;
// TCP states worth attributing: TIME_WAIT and SYN_RECV sockets belong to no process (inode 0). The
// bits above `closing` stay clear on purpose: since Linux 6.5 bit 13 (TCP_BOUND_INACTIVE) makes the
// kernel walk the whole bind hash, every bound socket again, which costs a TCP dump ~35% more.
inline constexpr std::uint32_t owned_tcp_states =
    state_bit(SocketState::established) | state_bit(SocketState::syn_sent) |
    state_bit(SocketState::fin_wait1) | state_bit(SocketState::fin_wait2) | state_bit(SocketState::close) |
    state_bit(SocketState::close_wait) | state_bit(SocketState::last_ack) | state_bit(SocketState::listen) |
    state_bit(SocketState::closing);

struct SocketEntry {
  // This host's end: the address and port the socket is bound to (the kernel's "src"). For a packet
  // this host sends, that is the packet's source; for one it receives, the destination.
  IpAddress local;
  // The peer. When not connected (listening TCP, unconnected UDP) it is the zero address of the
  // socket's family and port 0.
  IpAddress remote;
  std::uint16_t local_port = 0;  // host byte order
  std::uint16_t remote_port = 0;
  std::uint8_t proto = 0;   // proto_tcp or proto_udp
  std::uint8_t family = 0;  // the socket's own family: 4 (AF_INET) or 6 (AF_INET6, also dual-stack)
  SocketState state = SocketState::unknown;
  // AF_INET6 only: IPV6_V6ONLY, i.e. the socket takes no IPv4. The procfs backend cannot see the
  // option and reports /proc/sys/net/ipv6/bindv6only (the default) instead.
  bool v6only = false;
  std::uint32_t uid = 0;    // owner of the socket inode (the creator's fsuid)
  std::uint64_t inode = 0;  // 0 for sockets no process holds any more (orphaned, TIME_WAIT)
  std::uint64_t netns = 0;  // inode of the network namespace it was dumped from (0 = unknown)
};

// What a dump returns. Default: TCP and UDP, IPv4 and IPv6, TCP without TIME_WAIT and SYN_RECV.
struct DumpFilter {
  bool tcp = true;
  bool udp = true;
  bool ipv4 = true;
  bool ipv6 = true;
  std::uint32_t tcp_states = owned_tcp_states;
  std::uint32_t udp_states = all_states;
  // TCP of both families in one dump (TCPDIAG_GETSOCK) where the kernel takes it; false: one
  // SOCK_DIAG_BY_FAMILY dump per family (same sockets; kept to compare and test the two).
  bool tcp_one_walk = true;
};

enum class SockDiagBackend : std::uint8_t { netlink, procfs };
const char* to_string(SockDiagBackend b) noexcept;

class SockDiag {
 public:
  enum class Mode : std::uint8_t {
    automatic,     // netlink; /proc/net per protocol and family where netlink refuses the request
    netlink_only,  // fail instead of falling back
    procfs_only,   // /proc/net only (what a kernel without sock_diag gives)
  };
  static constexpr std::size_t buffer_size = 1U << 20;

  // In the calling thread's network namespace.
  static core::Result<SockDiag> open(Mode mode = Mode::automatic);
  // In the namespace `netns_fd` refers to (an fd of /proc/<pid>/ns/net or /run/netns/NAME; not taken
  // over). Needs CAP_SYS_ADMIN. The calling thread's namespace does not change.
  static core::Result<SockDiag> open_in_netns(int netns_fd, Mode mode = Mode::automatic);

  SockDiag(SockDiag&&) noexcept;
  SockDiag& operator=(SockDiag&&) noexcept;
  SockDiag(const SockDiag&) = delete;
  SockDiag& operator=(const SockDiag&) = delete;
  ~SockDiag();

  // Appends every socket that passes `filter` to `out`. On error `out` may hold part of the dump.
  core::Status dump(std::vector<SocketEntry>& out, const DumpFilter& filter = {});

  // The one socket of `proto` whose local end is (local, local_port) and remote end (remote,
  // remote_port), asked of the kernel directly (no dump: microseconds, whatever the number of
  // sockets). For UDP the kernel answers with the socket that would receive such a datagram, which
  // may be an unconnected one bound to the port. Appends it to `out` when there is one. Netlink
  // only: with the procfs backend it finds nothing.
  core::Status find(std::uint8_t proto, const IpAddress& local, std::uint16_t local_port,
                    const IpAddress& remote, std::uint16_t remote_port, std::vector<SocketEntry>& out);

  // netlink unless Mode::procfs_only, or netlink could not be opened, or refused every request.
  SockDiagBackend backend() const noexcept;
  // Inode of the network namespace the sockets are dumped from.
  std::uint64_t netns() const noexcept { return netns_; }
  // Netlink dumps the kernel flagged NLM_F_DUMP_INTR (sockets changed during the dump, so one may be
  // missing or seen twice; the next dump is consistent again).
  std::uint64_t interrupted_dumps() const noexcept { return interrupted_; }

 private:
  SockDiag() = default;
  static core::Result<SockDiag> open_here(Mode mode);
  // `id` set: the one socket it names (not found is no error), else a dump. `family` AF_UNSPEC (TCP,
  // dumps only): both families in one dump.
  core::Status dump_netlink(int family, std::uint8_t proto, std::uint32_t states,
                            std::vector<SocketEntry>& out, bool& refused, const void* id = nullptr);
  core::Status dump_procfs(int index, std::uint32_t states, std::vector<SocketEntry>& out);

  Mode mode_ = Mode::automatic;
  UniqueFd netlink_;
  // /proc/net/{tcp,tcp6,udp,udp6} of the namespace, kept open (and re-read from the start) so they
  // stay bound to it. -1 where the kernel has no such file (IPv6 disabled).
  std::array<UniqueFd, 4> procfs_;
  // Per /proc/net index: netlink refused this protocol and family (e.g. no udp_diag), use procfs.
  std::array<bool, 4> use_procfs_{};
  bool tcp_compat_refused_ = false;  // no TCPDIAG_GETSOCK in this kernel
  bool v6only_default_ = false;
  std::unique_ptr<std::uint8_t[]> buffer_;
  std::uint32_t seq_ = 0;
  std::uint64_t netns_ = 0;
  std::uint64_t interrupted_ = 0;
};

// Inode of the network namespace of the calling thread (/proc/thread-self/ns/net).
core::Result<std::uint64_t> current_netns();
// Inode of the namespace an fd of /proc/<pid>/ns/net (or /run/netns/NAME) refers to.
core::Result<std::uint64_t> netns_of_fd(int netns_fd);

}  // namespace flowpulse::proc
