#include "proc/sock_diag.hpp"

#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <system_error>
#include <thread>

namespace flowpulse::proc {
namespace {

// recvmmsg slots: one netlink datagram each. The kernel sizes dump datagrams at most 32 KiB, so
// 64 KiB never truncates (checked with MSG_TRUNC anyway).
constexpr std::size_t slot_size = std::size_t{64} * 1024;
constexpr std::size_t slot_count = SockDiag::buffer_size / slot_size;

// /proc/net file index: bit 0 = IPv6, bit 1 = UDP.
constexpr int procfs_index(bool v6, bool udp) { return (v6 ? 1 : 0) | (udp ? 2 : 0); }
constexpr const char* procfs_names[4] = {"tcp", "tcp6", "udp", "udp6"};

core::Error os_error(const std::string& what, int err) { return {what + ": " + std::strerror(err)}; }

// An IPv6 address as a lookup key: IPv4-mapped becomes the IPv4 address.
IpAddress from_v6_bytes(const std::uint8_t* b) noexcept {
  static constexpr std::uint8_t mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(b, mapped_prefix, sizeof mapped_prefix) == 0) return IpAddress::v4_bytes(b + 12);
  return IpAddress::v6_bytes(b);
}

bool read_v6only_default() {
  UniqueFd fd(::open("/proc/sys/net/ipv6/bindv6only", O_RDONLY | O_CLOEXEC));
  char c = '0';
  return fd && ::read(fd.get(), &c, 1) == 1 && c == '1';
}

// --- /proc/net text --------------------------------------------------------------------------

bool hex_value(const char*& p, const char* end, int digits, std::uint32_t& out) noexcept {
  std::uint32_t v = 0;
  for (int i = 0; i < digits; ++i, ++p) {
    if (p >= end) return false;
    const char c = *p;
    std::uint32_t d;
    if (c >= '0' && c <= '9')
      d = static_cast<std::uint32_t>(c - '0');
    else if (c >= 'A' && c <= 'F')
      d = static_cast<std::uint32_t>(c - 'A' + 10);
    else if (c >= 'a' && c <= 'f')
      d = static_cast<std::uint32_t>(c - 'a' + 10);
    else
      return false;
    v = (v << 4) | d;
  }
  out = v;
  return true;
}

bool dec_value(const char*& p, const char* end, std::uint64_t& out) noexcept {
  if (p >= end || *p < '0' || *p > '9') return false;
  std::uint64_t v = 0;
  for (; p < end && *p >= '0' && *p <= '9'; ++p) v = v * 10 + static_cast<std::uint64_t>(*p - '0');
  out = v;
  return true;
}

void skip_spaces(const char*& p, const char* end) noexcept {
  while (p < end && *p == ' ') ++p;
}
void skip_token(const char*& p, const char* end) noexcept {
  while (p < end && *p != ' ') ++p;
}

// "0100007F:1F90": the kernel prints each 32-bit word of the address as the integer it is in memory,
// so copying the parsed value back into memory restores the network-order bytes.
bool parse_endpoint(const char*& p, const char* end, bool v6, IpAddress& addr, std::uint16_t& port) noexcept {
  std::uint8_t bytes[16];
  const int words = v6 ? 4 : 1;
  for (int w = 0; w < words; ++w) {
    std::uint32_t v;
    if (!hex_value(p, end, 8, v)) return false;
    std::memcpy(bytes + std::size_t{4} * static_cast<std::size_t>(w), &v, 4);
  }
  if (p >= end || *p != ':') return false;
  ++p;
  std::uint32_t port_value;
  if (!hex_value(p, end, 4, port_value)) return false;
  port = static_cast<std::uint16_t>(port_value);
  addr = v6 ? from_v6_bytes(bytes) : IpAddress::v4_bytes(bytes);
  return true;
}

// One line of /proc/net/{tcp,udp}{,6}:
//   sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
bool parse_procfs_line(const char* p, const char* end, bool v6, SocketEntry& e) noexcept {
  skip_spaces(p, end);
  skip_token(p, end);  // "12:"
  skip_spaces(p, end);
  if (!parse_endpoint(p, end, v6, e.local, e.local_port)) return false;
  skip_spaces(p, end);
  if (!parse_endpoint(p, end, v6, e.remote, e.remote_port)) return false;
  skip_spaces(p, end);
  std::uint32_t st;
  if (!hex_value(p, end, 2, st)) return false;
  e.state = static_cast<SocketState>(st);
  for (int i = 0; i < 3; ++i) {  // queues, timer, retransmits
    skip_spaces(p, end);
    skip_token(p, end);
  }
  skip_spaces(p, end);
  std::uint64_t uid, timeout, inode;
  if (!dec_value(p, end, uid)) return false;
  skip_spaces(p, end);
  if (!dec_value(p, end, timeout)) return false;
  skip_spaces(p, end);
  if (!dec_value(p, end, inode)) return false;
  e.uid = static_cast<std::uint32_t>(uid);
  e.inode = inode;
  return true;
}

}  // namespace

const char* to_string(SocketState s) noexcept {
  switch (s) {
    case SocketState::established: return "ESTABLISHED";
    case SocketState::syn_sent: return "SYN_SENT";
    case SocketState::syn_recv: return "SYN_RECV";
    case SocketState::fin_wait1: return "FIN_WAIT1";
    case SocketState::fin_wait2: return "FIN_WAIT2";
    case SocketState::time_wait: return "TIME_WAIT";
    case SocketState::close: return "CLOSE";
    case SocketState::close_wait: return "CLOSE_WAIT";
    case SocketState::last_ack: return "LAST_ACK";
    case SocketState::listen: return "LISTEN";
    case SocketState::closing: return "CLOSING";
    case SocketState::new_syn_recv: return "NEW_SYN_RECV";
    case SocketState::unknown: break;
  }
  return "UNKNOWN";
}

const char* to_string(SockDiagBackend b) noexcept {
  return b == SockDiagBackend::netlink ? "netlink" : "procfs";
}

core::Result<std::uint64_t> current_netns() {
  struct stat st {};
  if (::stat("/proc/thread-self/ns/net", &st) != 0) return os_error("stat /proc/thread-self/ns/net", errno);
  return static_cast<std::uint64_t>(st.st_ino);
}

core::Result<std::uint64_t> netns_of_fd(int netns_fd) {
  struct stat st {};
  if (::fstat(netns_fd, &st) != 0) return os_error("fstat of a network namespace fd", errno);
  return static_cast<std::uint64_t>(st.st_ino);
}

SockDiag::SockDiag(SockDiag&&) noexcept = default;
SockDiag& SockDiag::operator=(SockDiag&&) noexcept = default;
SockDiag::~SockDiag() = default;

core::Result<SockDiag> SockDiag::open_here(Mode mode) {
  SockDiag d;
  d.mode_ = mode;
  auto ns = current_netns();
  if (!ns) return core::Error{ns.error()};
  d.netns_ = *ns;
  d.buffer_ = std::make_unique<std::uint8_t[]>(buffer_size);

  if (mode != Mode::procfs_only) {
    d.netlink_.reset(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
    if (!d.netlink_) {
      if (mode == Mode::netlink_only) return os_error("sock_diag: netlink socket (NETLINK_SOCK_DIAG)", errno);
    } else {
      // A dump the kernel never finishes must not hang the caller.
      timeval tv{5, 0};
      ::setsockopt(d.netlink_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
  }
  if (mode != Mode::netlink_only) {
    // thread-self, not self: /proc/self/net follows the main thread's namespace, and this may run
    // on a helper thread that joined another one.
    for (int i = 0; i < 4; ++i) {
      const std::string path = std::string("/proc/thread-self/net/") + procfs_names[i];
      d.procfs_[i].reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
      if (!d.procfs_[i] && errno != ENOENT) return os_error("sock_diag: open " + path, errno);
    }
    if (!d.netlink_ && !d.procfs_[procfs_index(false, false)])
      return core::Error{"sock_diag: neither netlink sock_diag nor /proc/net/tcp is available"};
    d.v6only_default_ = read_v6only_default();
  }
  if (!d.netlink_) d.use_procfs_.fill(true);
  return d;
}

core::Result<SockDiag> SockDiag::open(Mode mode) { return open_here(mode); }

core::Result<SockDiag> SockDiag::open_in_netns(int netns_fd, Mode mode) {
  std::optional<core::Result<SockDiag>> result;
  // setns changes only the calling thread; a thread of its own keeps the caller where it is. The
  // sockets and files it opens stay in the namespace after it ends.
  try {
    std::thread helper([&] {
      if (::setns(netns_fd, CLONE_NEWNET) != 0) {
        result.emplace(os_error("sock_diag: setns into the network namespace", errno));
        return;
      }
      result.emplace(open_here(mode));
    });
    helper.join();
  } catch (const std::system_error& e) {
    return core::Error{std::string("sock_diag: cannot start the namespace helper thread: ") + e.what()};
  }
  if (!result) return core::Error{"sock_diag: namespace helper thread gave no result"};
  return std::move(*result);
}

SockDiagBackend SockDiag::backend() const noexcept {
  if (!netlink_) return SockDiagBackend::procfs;
  for (int i = 0; i < 4; ++i)
    if (!use_procfs_[i]) return SockDiagBackend::netlink;
  return SockDiagBackend::procfs;
}

core::Status SockDiag::dump(std::vector<SocketEntry>& out, const DumpFilter& filter) {
  // TCP of both families in one walk of the kernel's socket tables: the legacy TCPDIAG_GETSOCK
  // request dumps AF_UNSPEC, where two SOCK_DIAG_BY_FAMILY dumps walk every socket twice (the IPv6
  // dump skips each IPv4 socket only after reading it: a cache miss per socket).
  bool tcp_done = false;
  if (filter.tcp && filter.ipv4 && filter.ipv6 && filter.tcp_one_walk && !tcp_compat_refused_ &&
      !use_procfs_[procfs_index(false, false)] && !use_procfs_[procfs_index(true, false)]) {
    const std::size_t before = out.size();
    bool refused = false;
    auto st = dump_netlink(AF_UNSPEC, proto_tcp, filter.tcp_states, out, refused);
    if (st.ok())
      tcp_done = true;
    else if (refused)
      tcp_compat_refused_ = true;  // the kernel has no compat request: one dump per family
    else
      return st;
    if (!tcp_done) out.resize(before);
  }
  for (int udp = 0; udp < 2; ++udp) {
    if (udp ? !filter.udp : !filter.tcp || tcp_done) continue;
    const std::uint32_t states = udp ? filter.udp_states : filter.tcp_states;
    for (int v6 = 0; v6 < 2; ++v6) {
      if (v6 ? !filter.ipv6 : !filter.ipv4) continue;
      const int idx = procfs_index(v6 != 0, udp != 0);
      if (!use_procfs_[idx]) {
        bool refused = false;
        auto st = dump_netlink(v6 ? AF_INET6 : AF_INET, udp ? proto_udp : proto_tcp, states, out, refused);
        if (st.ok()) continue;
        if (!refused || mode_ != Mode::automatic) return st;
        use_procfs_[idx] = true;  // e.g. udp_diag not in this kernel: /proc/net from now on
      }
      if (!procfs_[idx]) {
        if (v6) continue;  // no IPv6 in this kernel or namespace: no such sockets either
        return core::Error{std::string("sock_diag: no source for ") + procfs_names[idx] + " sockets"};
      }
      if (auto st = dump_procfs(idx, states, out); !st.ok()) return st;
    }
  }
  return core::Ok{};
}

core::Status SockDiag::find(std::uint8_t proto, const IpAddress& local, std::uint16_t local_port,
                            const IpAddress& remote, std::uint16_t remote_port,
                            std::vector<SocketEntry>& out) {
  if (!netlink_ || local.family != remote.family || local.family == 0) return core::Ok{};
  const bool v6 = local.family == 6;
  if (use_procfs_[procfs_index(v6, proto == proto_udp)]) return core::Ok{};
  inet_diag_sockid id{};
  id.idiag_cookie[0] = id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
  // The kernel's lookups read the id differently: TCP takes src as the socket's own end; UDP looks
  // up the socket a datagram from src to dst would reach, so dst is the socket's own end.
  const bool udp = proto == proto_udp;
  const IpAddress& src = udp ? remote : local;
  const IpAddress& dst = udp ? local : remote;
  id.idiag_sport = htons(udp ? remote_port : local_port);
  id.idiag_dport = htons(udp ? local_port : remote_port);
  const std::size_t n = v6 ? 16 : 4;
  std::memcpy(id.idiag_src, v6 ? src.bytes.data() : src.bytes.data() + 12, n);
  std::memcpy(id.idiag_dst, v6 ? dst.bytes.data() : dst.bytes.data() + 12, n);
  bool refused = false;
  const std::size_t before = out.size();
  auto st = dump_netlink(v6 ? AF_INET6 : AF_INET, proto, all_states, out, refused, &id);
  if (!st.ok()) {
    out.resize(before);
    return refused ? core::Status{core::Ok{}} : st;
  }
  return core::Ok{};
}

core::Status SockDiag::dump_netlink(int family, std::uint8_t proto, std::uint32_t states,
                                    std::vector<SocketEntry>& out, bool& refused, const void* id) {
  // AF_UNSPEC: the legacy TCP request (inet_diag_req, TCPDIAG_GETSOCK), answered in kind.
  const bool compat = family == AF_UNSPEC;
  struct Request {
    nlmsghdr nlh;
    inet_diag_req_v2 req;
  } request{};
  struct CompatRequest {
    nlmsghdr nlh;
    inet_diag_req req;
  } compat_request{};
  const std::uint32_t seq = ++seq_;
  const std::uint16_t reply_type = compat ? TCPDIAG_GETSOCK : SOCK_DIAG_BY_FAMILY;
  if (compat) {
    compat_request.nlh.nlmsg_len = sizeof compat_request;
    compat_request.nlh.nlmsg_type = TCPDIAG_GETSOCK;
    compat_request.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    compat_request.nlh.nlmsg_seq = seq;
    compat_request.req.idiag_states = states;
  } else {
    request.nlh.nlmsg_len = sizeof request;
    request.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    request.nlh.nlmsg_flags = id != nullptr ? NLM_F_REQUEST : NLM_F_REQUEST | NLM_F_DUMP;
    if (id != nullptr) std::memcpy(&request.req.id, id, sizeof request.req.id);
    request.nlh.nlmsg_seq = seq;
    request.req.sdiag_family = static_cast<std::uint8_t>(family);
    request.req.sdiag_protocol = proto;
    request.req.idiag_states = states;
  }
  const void* message = compat ? static_cast<const void*>(&compat_request) : &request;
  const std::size_t message_size = compat ? sizeof compat_request : sizeof request;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  ssize_t sent;
  do {
    sent = ::sendto(netlink_.get(), message, message_size, 0, reinterpret_cast<sockaddr*>(&kernel),
                    sizeof kernel);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) return os_error("sock_diag: netlink send", errno);

  iovec iov[slot_count];
  mmsghdr msgs[slot_count];
  bool interrupted = false;
  // After an error the rest of this dump is still read (and dropped): the kernel runs one dump per
  // socket at a time and would refuse the next request with EBUSY.
  std::optional<core::Error> failure;
  for (;;) {
    for (std::size_t i = 0; i < slot_count; ++i) {
      iov[i] = {buffer_.get() + i * slot_size, slot_size};
      msgs[i] = {};
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    const int n = ::recvmmsg(netlink_.get(), msgs, slot_count, MSG_WAITFORONE, nullptr);
    if (n < 0) {
      if (errno == EINTR) continue;
      return os_error("sock_diag: netlink receive", errno);
    }
    bool done = false;
    for (int i = 0; i < n && !done; ++i) {
      if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
        if (!failure) failure = core::Error{"sock_diag: netlink datagram larger than the receive slot"};
        continue;
      }
      int len = static_cast<int>(msgs[i].msg_len);
      for (auto* nlh = reinterpret_cast<const nlmsghdr*>(iov[i].iov_base); NLMSG_OK(nlh, len);
           nlh = NLMSG_NEXT(nlh, len)) {
        if (nlh->nlmsg_seq != seq) continue;  // left over from an earlier dump
        if (nlh->nlmsg_flags & NLM_F_DUMP_INTR) interrupted = true;
        if (nlh->nlmsg_type == NLMSG_DONE) {
          done = true;
          break;
        }
        if (nlh->nlmsg_type == NLMSG_ERROR) {
          done = true;
          int err = EPROTO;
          if (nlh->nlmsg_len >= NLMSG_LENGTH(sizeof(nlmsgerr)))
            err = -static_cast<const nlmsgerr*>(NLMSG_DATA(nlh))->error;
          if (err == 0) break;                        // an ack
          if (id != nullptr && err == ENOENT) break;  // no such socket
          refused = err == ENOENT || err == EOPNOTSUPP || err == EPROTONOSUPPORT || err == EINVAL ||
                    err == EAFNOSUPPORT;
          if (!failure) failure = os_error("sock_diag: kernel refused the dump", err);
          break;
        }
        if (nlh->nlmsg_type != reply_type || failure) continue;
        if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg))) {
          failure = core::Error{"sock_diag: short inet_diag message"};
          continue;
        }
        const auto* m = static_cast<const inet_diag_msg*>(NLMSG_DATA(nlh));
        SocketEntry& e = out.emplace_back();
        e.proto = proto;
        e.family = m->idiag_family == AF_INET6 ? 6 : 4;
        e.state = static_cast<SocketState>(m->idiag_state);
        e.local_port = ntohs(m->id.idiag_sport);
        e.remote_port = ntohs(m->id.idiag_dport);
        const auto* src = reinterpret_cast<const std::uint8_t*>(m->id.idiag_src);
        const auto* dst = reinterpret_cast<const std::uint8_t*>(m->id.idiag_dst);
        if (m->idiag_family == AF_INET6) {
          e.local = from_v6_bytes(src);
          e.remote = from_v6_bytes(dst);
        } else {
          e.local = IpAddress::v4_bytes(src);
          e.remote = IpAddress::v4_bytes(dst);
        }
        e.uid = m->idiag_uid;
        e.inode = m->idiag_inode;
        e.netns = netns_;
        // The kernel adds INET_DIAG_SKV6ONLY to every AF_INET6 socket, unrequested.
        int attr_len = static_cast<int>(nlh->nlmsg_len - NLMSG_LENGTH(sizeof(inet_diag_msg)));
        for (auto* rta = reinterpret_cast<const rtattr*>(m + 1); RTA_OK(rta, attr_len);
             rta = RTA_NEXT(rta, attr_len)) {
          if (rta->rta_type == INET_DIAG_SKV6ONLY && RTA_PAYLOAD(rta) >= 1)
            e.v6only = *static_cast<const std::uint8_t*>(RTA_DATA(rta)) != 0;
        }
        if (id != nullptr) done = true;  // a lookup answers with one message and no NLMSG_DONE
      }
    }
    if (done) break;
  }
  if (interrupted) ++interrupted_;
  if (failure) return std::move(*failure);
  return core::Ok{};
}

core::Status SockDiag::dump_procfs(int index, std::uint32_t states, std::vector<SocketEntry>& out) {
  const int fd = procfs_[index].get();
  const bool v6 = (index & 1) != 0;
  const std::uint8_t proto = (index & 2) ? proto_udp : proto_tcp;
  if (::lseek(fd, 0, SEEK_SET) != 0)
    return os_error(std::string("sock_diag: rewind /proc/net/") + procfs_names[index], errno);
  char* buf = reinterpret_cast<char*>(buffer_.get());
  std::size_t have = 0;
  bool header = true;
  bool eof = false;
  while (!eof) {
    const ssize_t n = ::read(fd, buf + have, buffer_size - have);
    if (n < 0) {
      if (errno == EINTR) continue;
      return os_error(std::string("sock_diag: read /proc/net/") + procfs_names[index], errno);
    }
    if (n == 0) {
      eof = true;
      if (have > 0 && have < buffer_size && buf[have - 1] != '\n')
        buf[have++] = '\n';  // last line, no newline
    }
    have += static_cast<std::size_t>(n);
    std::size_t start = 0;
    for (;;) {
      const void* nl = std::memchr(buf + start, '\n', have - start);
      if (nl == nullptr) break;
      const char* line = buf + start;
      const char* line_end = static_cast<const char*>(nl);
      start = static_cast<std::size_t>(line_end - buf) + 1;
      if (header) {  // "  sl  local_address rem_address ..."
        header = false;
        continue;
      }
      SocketEntry e;
      e.proto = proto;
      e.family = v6 ? 6 : 4;
      if (!parse_procfs_line(line, line_end, v6, e))
        return core::Error{std::string("sock_diag: unexpected line in /proc/net/") + procfs_names[index]};
      if (!(states & state_bit(e.state))) continue;
      e.v6only = v6 && v6only_default_;
      e.netns = netns_;
      out.push_back(e);
    }
    std::memmove(buf, buf + start, have - start);
    have -= start;
    if (have == buffer_size)
      return core::Error{std::string("sock_diag: line longer than the buffer in /proc/net/") +
                         procfs_names[index]};
  }
  return core::Ok{};
}

}  // namespace flowpulse::proc
