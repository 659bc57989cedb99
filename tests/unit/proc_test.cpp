// Process attribution's tables on real sockets: sockets the test opens itself and sockets opened by
// child processes it starts (this same binary, re-run as a helper: see helper_main). Each socket's
// inode comes from fstat() in the process that holds it (an independent source), and is compared
// with what sock_diag (netlink and /proc/net), the process table and the socket table report.
// A fake /proc tree (same layout) drives the incremental logic deterministically: bounded re-reads,
// targeted re-reads for unknown inodes, pid reuse, the dead-process grace period.
// The network-namespace test needs root (ip netns): skipped without it, failed under CI=true.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "core/ip_address.hpp"
#include "proc/process_table.hpp"
#include "proc/sock_diag.hpp"
#include "proc/socket_table.hpp"
#include "proc/unique_fd.hpp"
#include "test_support.hpp"

namespace flowpulse {
namespace {

namespace fs = std::filesystem;
using proc::MatchKind;
using proc::ProcessKey;
using proc::ProcessTable;
using proc::SockDiag;
using proc::SocketEntry;
using proc::SocketState;
using proc::SocketTable;
using proc::UniqueFd;

constexpr std::uint64_t second = 1'000'000'000ULL;

// ---- the helper process: this binary, run as `unit_proc --proc-helper ACTION...` ---------------
//
// Actions, run in order, each printing one line "<action> inode=I port=P peer=Q" on stdout:
//   name NAME                 prctl(PR_SET_NAME)
//   tcp-listen ADDR PORT      (ADDR with ':' = IPv6; "::" is dual-stack)
//   accept                    on the last listening socket
//   tcp-connect ADDR PORT
//   udp-bind ADDR PORT
//   udp-v6only PORT           UDP on :: with IPV6_V6ONLY
//   udp-connect ADDR PORT     bound to the any address of ADDR's family, then connected
// then "READY", and it waits to be killed.

using test::inode_of;
using test::local_port;

int peer_port(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
  return ntohs(ss.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                                        : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
}

// Opens a socket of the family of `addr`; dual-stack (V6ONLY off) unless v6only.
int open_socket(const std::string& addr, int type, bool v6only = false) {
  const bool v6 = addr.find(':') != std::string::npos;
  const int fd = ::socket(v6 ? AF_INET6 : AF_INET, type | SOCK_CLOEXEC, 0);
  if (fd >= 0 && v6) {
    const int on = v6only ? 1 : 0;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
  }
  return fd;
}

int helper_main(const std::vector<std::string>& args) {
  int last_listener = -1;
  auto report = [](const std::string& what, int fd) {
    std::printf("%s inode=%llu port=%d peer=%d\n", what.c_str(),
                static_cast<unsigned long long>(inode_of(fd)), local_port(fd), peer_port(fd));
    std::fflush(stdout);
  };
  auto fail = [](const std::string& what) {
    std::printf("FAILED %s: %s\n", what.c_str(), std::strerror(errno));
    std::fflush(stdout);
    return 1;
  };
  for (std::size_t i = 2; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto arg = [&]() -> std::string { return i + 1 < args.size() ? args[++i] : std::string(); };
    if (a == "name") {
      prctl(PR_SET_NAME, arg().c_str());
    } else if (a == "tcp-listen" || a == "udp-bind" || a == "udp-v6only") {
      const std::string addr = a == "udp-v6only" ? "::" : arg();
      const int port = std::atoi(arg().c_str());
      const int fd = open_socket(addr, a == "tcp-listen" ? SOCK_STREAM : SOCK_DGRAM, a == "udp-v6only");
      const int on = 1;
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
      socklen_t len;
      const auto ss = test::make_sockaddr(addr, port, len);
      if (bind(fd, reinterpret_cast<const sockaddr*>(&ss), len) != 0) return fail(a + " bind");
      if (a == "tcp-listen") {
        if (listen(fd, 16) != 0) return fail("listen");
        last_listener = fd;
      }
      report(a, fd);
    } else if (a == "accept") {
      const int fd = ::accept4(last_listener, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return fail("accept");
      report(a, fd);
    } else if (a == "tcp-connect" || a == "udp-connect") {
      const std::string addr = arg();
      const int port = std::atoi(arg().c_str());
      const int fd = open_socket(addr, a == "tcp-connect" ? SOCK_STREAM : SOCK_DGRAM);
      socklen_t len;
      const auto ss = test::make_sockaddr(addr, port, len);
      if (connect(fd, reinterpret_cast<const sockaddr*>(&ss), len) != 0) return fail(a);
      report(a, fd);
    } else {
      errno = EINVAL;
      return fail("unknown action " + a);
    }
  }
  std::printf("READY\n");
  std::fflush(stdout);
  for (;;) pause();
}

// Runs before gtest's main: in a helper invocation, never returns.
const bool helper_hook = [] {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::vector<std::string> args;
  for (std::string a; std::getline(in, a, '\0');) args.push_back(a);
  if (args.size() > 1 && args[1] == "--proc-helper") _exit(helper_main(args));
  return true;
}();

std::string self_exe() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

struct HelperSocket {
  std::uint64_t inode = 0;
  std::uint16_t port = 0;
  std::uint16_t peer = 0;
};

// A helper child process; `prefix` runs it under another command (ip netns exec NAME).
class Helper {
 public:
  explicit Helper(std::vector<std::string> actions, std::vector<std::string> prefix = {}) {
    std::vector<std::string> argv = std::move(prefix);
    argv.push_back(self_exe());
    argv.push_back("--proc-helper");
    argv.insert(argv.end(), actions.begin(), actions.end());
    process_ = std::make_unique<test::Process>(argv, dir_.path(), "helper");
  }
  // Waits for the line of action number `n` (0-based among socket actions) with this name.
  HelperSocket socket(const std::string& action, int nth = 0) {
    for (int tries = 0; tries < 500; ++tries) {
      std::istringstream lines(process_->out());
      int seen = 0;
      for (std::string line; std::getline(lines, line);) {
        if (line.rfind(action + " ", 0) != 0) continue;
        if (seen++ != nth) continue;
        unsigned long long inode = 0;
        int port = 0, peer = 0;
        std::sscanf(line.c_str() + action.size(), " inode=%llu port=%d peer=%d", &inode, &port, &peer);
        return {inode, static_cast<std::uint16_t>(port), static_cast<std::uint16_t>(peer)};
      }
      if (process_->out().find("FAILED") != std::string::npos || !process_->running()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ADD_FAILURE() << "helper gave no '" << action << "' line; out: " << process_->out()
                  << " err: " << process_->err();
    return {};
  }
  bool ready() { return process_->wait_for_output("READY", 10'000); }
  int pid() const { return process_->pid(); }
  std::string output() const { return process_->out() + process_->err(); }

 private:
  test::TempDir dir_;
  std::unique_ptr<test::Process> process_;
};

IpAddress ip(const char* text) { return *core::parse_ip(text); }

const SocketEntry* find_inode(std::span<const SocketEntry> v, std::uint64_t inode) {
  for (const auto& e : v)
    if (e.inode == inode) return &e;
  return nullptr;
}

std::vector<SocketEntry> dump(SockDiag& d) {
  std::vector<SocketEntry> v;
  v.reserve(4096);
  auto st = d.dump(v);
  EXPECT_TRUE(st.ok()) << st.error();
  return v;
}

std::uint64_t own_netns() { return proc::current_netns().value(); }

// Sockets opened by this test process: every kind the table must handle.
struct LocalSockets {
  UniqueFd tcp_listen4, tcp_client4, tcp_server4;
  UniqueFd tcp_listen6, tcp_client6, tcp_server6;
  UniqueFd tcp_dual_listen, tcp_dual_client4, tcp_dual_server;  // :: listener, IPv4 client
  UniqueFd udp_unconnected4, udp_connected4, udp_dual, udp_sender4;

  LocalSockets() {
    auto listen_on = [](UniqueFd& fd, const std::string& addr) {
      fd.reset(open_socket(addr, SOCK_STREAM));
      socklen_t len;
      const auto ss = test::make_sockaddr(addr, 0, len);
      EXPECT_EQ(bind(fd.get(), reinterpret_cast<const sockaddr*>(&ss), len), 0) << std::strerror(errno);
      EXPECT_EQ(listen(fd.get(), 8), 0);
    };
    auto connect_to = [](UniqueFd& client, UniqueFd& server, const UniqueFd& listener,
                         const std::string& addr) {
      client.reset(open_socket(addr, SOCK_STREAM));
      socklen_t len;
      const auto ss = test::make_sockaddr(addr, local_port(listener.get()), len);
      EXPECT_EQ(connect(client.get(), reinterpret_cast<const sockaddr*>(&ss), len), 0)
          << std::strerror(errno);
      server.reset(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
      EXPECT_TRUE(server.valid());
    };
    listen_on(tcp_listen4, "127.0.0.1");
    connect_to(tcp_client4, tcp_server4, tcp_listen4, "127.0.0.1");
    listen_on(tcp_listen6, "::1");
    connect_to(tcp_client6, tcp_server6, tcp_listen6, "::1");
    listen_on(tcp_dual_listen, "::");
    connect_to(tcp_dual_client4, tcp_dual_server, tcp_dual_listen, "127.0.0.1");

    socklen_t len;
    udp_unconnected4.reset(open_socket("127.0.0.1", SOCK_DGRAM));
    auto ss = test::make_sockaddr("127.0.0.1", 0, len);
    EXPECT_EQ(bind(udp_unconnected4.get(), reinterpret_cast<const sockaddr*>(&ss), len), 0);
    udp_connected4.reset(open_socket("127.0.0.1", SOCK_DGRAM));
    ss = test::make_sockaddr("127.0.0.1", local_port(udp_unconnected4.get()), len);
    EXPECT_EQ(connect(udp_connected4.get(), reinterpret_cast<const sockaddr*>(&ss), len), 0);
    // A dual-stack UDP socket on :: that receives an IPv4 datagram.
    udp_dual.reset(open_socket("::", SOCK_DGRAM));
    ss = test::make_sockaddr("::", 0, len);
    EXPECT_EQ(bind(udp_dual.get(), reinterpret_cast<const sockaddr*>(&ss), len), 0);
    udp_sender4.reset(open_socket("127.0.0.1", SOCK_DGRAM));
    ss = test::make_sockaddr("127.0.0.1", local_port(udp_dual.get()), len);
    EXPECT_EQ(sendto(udp_sender4.get(), "x", 1, 0, reinterpret_cast<const sockaddr*>(&ss), len), 1);
    char c;
    EXPECT_EQ(recv(udp_dual.get(), &c, 1, 0), 1);
  }
};

// What the kernel must report for a socket, from getsockname/getpeername of its fd.
struct Expected {
  const char* what;
  int fd;
  std::uint8_t proto;
  std::uint8_t family;
  const char* local;
  const char* remote;  // "" = not connected
  SocketState state;
  int v6only = -1;  // -1: not checked. Binding a specific IPv6 address sets IPV6_V6ONLY.
};

void expect_entry(const SocketEntry* e, const Expected& x, bool check_v6only = true) {
  ASSERT_NE(e, nullptr) << x.what << ": inode " << inode_of(x.fd) << " not in the dump";
  SCOPED_TRACE(x.what);
  EXPECT_EQ(e->proto, x.proto);
  EXPECT_EQ(e->family, x.family);
  EXPECT_EQ(e->local, ip(x.local)) << core::to_string(e->local);
  EXPECT_EQ(e->local_port, local_port(x.fd));
  if (*x.remote) {
    EXPECT_EQ(e->remote, ip(x.remote)) << core::to_string(e->remote);
    EXPECT_EQ(e->remote_port, peer_port(x.fd));
  } else {
    EXPECT_EQ(e->remote_port, 0);
    EXPECT_EQ(e->remote.family, x.family);
  }
  EXPECT_EQ(e->state, x.state) << proc::to_string(e->state);
  EXPECT_EQ(e->uid, getuid());
  EXPECT_EQ(e->netns, own_netns());
  if (check_v6only && x.v6only >= 0) {
    EXPECT_EQ(e->v6only, x.v6only == 1);
  }
}

std::vector<Expected> expected_of(const LocalSockets& s) {
  using S = SocketState;
  return {
      {"tcp listen v4", s.tcp_listen4.get(), proc::proto_tcp, 4, "127.0.0.1", "", S::listen},
      {"tcp client v4", s.tcp_client4.get(), proc::proto_tcp, 4, "127.0.0.1", "127.0.0.1", S::established},
      {"tcp server v4", s.tcp_server4.get(), proc::proto_tcp, 4, "127.0.0.1", "127.0.0.1", S::established},
      {"tcp listen v6", s.tcp_listen6.get(), proc::proto_tcp, 6, "::1", "", S::listen, 1},
      {"tcp client v6", s.tcp_client6.get(), proc::proto_tcp, 6, "::1", "::1", S::established},
      {"tcp server v6", s.tcp_server6.get(), proc::proto_tcp, 6, "::1", "::1", S::established},
      {"tcp dual listen", s.tcp_dual_listen.get(), proc::proto_tcp, 6, "::", "", S::listen, 0},
      // Accepted from an IPv4 client on the :: listener: the kernel says ::ffff:127.0.0.1.
      {"tcp dual server", s.tcp_dual_server.get(), proc::proto_tcp, 6, "127.0.0.1", "127.0.0.1",
       S::established, 0},
      {"udp unconnected v4", s.udp_unconnected4.get(), proc::proto_udp, 4, "127.0.0.1", "", S::close},
      {"udp connected v4", s.udp_connected4.get(), proc::proto_udp, 4, "127.0.0.1", "127.0.0.1",
       S::established},
      {"udp dual", s.udp_dual.get(), proc::proto_udp, 6, "::", "", S::close, 0},
  };
}

// ---- sock_diag --------------------------------------------------------------------------------

TEST(SockDiag, NetlinkDumpFindsEverySocketKindWithItsInode) {
  LocalSockets s;
  auto d = SockDiag::open(SockDiag::Mode::netlink_only);
  ASSERT_TRUE(d.ok()) << d.error();
  EXPECT_EQ(d->backend(), proc::SockDiagBackend::netlink);
  EXPECT_EQ(d->netns(), own_netns());
  const auto all = dump(*d);
  for (const Expected& x : expected_of(s)) expect_entry(find_inode(all, inode_of(x.fd)), x);
  // Filters: UDP only, IPv6 only.
  std::vector<SocketEntry> v;
  ASSERT_TRUE(d->dump(v, {.tcp = false, .udp = true, .ipv4 = false, .ipv6 = true}).ok());
  for (const auto& e : v) {
    EXPECT_EQ(e.proto, proc::proto_udp);
    EXPECT_EQ(e.family, 6);
  }
  EXPECT_NE(find_inode(v, inode_of(s.udp_dual.get())), nullptr);
  EXPECT_EQ(find_inode(v, inode_of(s.udp_unconnected4.get())), nullptr);
}

TEST(SockDiag, V6OnlyIsReported) {
  UniqueFd fd(open_socket("::", SOCK_DGRAM, true));
  socklen_t len;
  const auto ss = test::make_sockaddr("::", 0, len);
  ASSERT_EQ(bind(fd.get(), reinterpret_cast<const sockaddr*>(&ss), len), 0);
  auto d = SockDiag::open(SockDiag::Mode::netlink_only);
  ASSERT_TRUE(d.ok()) << d.error();
  const auto all = dump(*d);
  const SocketEntry* e = find_inode(all, inode_of(fd.get()));
  ASSERT_NE(e, nullptr);
  EXPECT_TRUE(e->v6only);
}

std::set<std::uint64_t> inodes_of(const LocalSockets& s) {
  std::set<std::uint64_t> out;
  for (const Expected& x : expected_of(s)) out.insert(inode_of(x.fd));
  return out;
}

using Row = std::tuple<std::uint8_t, std::uint8_t, std::string, int, std::string, int, int, std::uint32_t>;
std::map<std::uint64_t, Row> rows(const std::vector<SocketEntry>& v) {
  std::map<std::uint64_t, Row> m;
  for (const auto& e : v)
    if (e.inode != 0)
      m[e.inode] = {e.proto,
                    e.family,
                    core::to_string(e.local),
                    e.local_port,
                    core::to_string(e.remote),
                    e.remote_port,
                    static_cast<int>(e.state),
                    e.uid};
  return m;
}

// Sockets of other programs come and go during a test (other test binaries run in parallel), so a
// comparison of two dump methods is bracketed: whatever both reference dumps (before and after) hold
// must be in the other dump, field for field. That the other dump holds nothing more is checked for
// this test's own sockets (`ours`, which live throughout): another program's socket may live only
// between the reference dumps.
std::size_t expect_same_sockets(const std::map<std::uint64_t, Row>& before,
                                const std::map<std::uint64_t, Row>& other,
                                const std::map<std::uint64_t, Row>& after,
                                const std::set<std::uint64_t>& ours) {
  EXPECT_FALSE(other.empty());
  std::size_t compared = 0;
  for (const auto& [inode, row] : before) {
    const auto a = after.find(inode);
    if (a == after.end() || a->second != row) continue;  // changed during the test
    const auto f = other.find(inode);
    EXPECT_NE(f, other.end()) << "inode " << inode << " missing";
    if (f == other.end()) continue;
    EXPECT_EQ(f->second, row) << "inode " << inode;
    ++compared;
  }
  for (const auto& [inode, row] : other) {
    if (ours.count(inode) != 0) {
      EXPECT_TRUE(before.count(inode) && after.count(inode)) << "inode " << inode;
    }
  }
  std::size_t found = 0;
  for (const std::uint64_t inode : ours) found += other.count(inode);
  EXPECT_EQ(found, ours.size()) << "some of this test's sockets are missing";
  return compared;
}

TEST(SockDiag, ProcfsFallbackGivesTheSameSetAsNetlink) {
  LocalSockets s;
  auto nl = SockDiag::open(SockDiag::Mode::netlink_only);
  auto pf = SockDiag::open(SockDiag::Mode::procfs_only);
  ASSERT_TRUE(nl.ok()) << nl.error();
  ASSERT_TRUE(pf.ok()) << pf.error();
  EXPECT_EQ(pf->backend(), proc::SockDiagBackend::procfs);
  EXPECT_EQ(pf->netns(), nl->netns());

  const auto before = rows(dump(*nl));
  const auto fallback = rows(dump(*pf));
  const auto after = rows(dump(*nl));
  const std::size_t compared = expect_same_sockets(before, fallback, after, inodes_of(s));
  // Ours, at least, are stable and must all have been compared.
  for (const Expected& x : expected_of(s)) expect_entry(find_inode(dump(*pf), inode_of(x.fd)), x, false);
  EXPECT_GE(compared, expected_of(s).size());
}

// TCP of both families in one walk (the legacy TCPDIAG_GETSOCK request, AF_UNSPEC) against one
// SOCK_DIAG_BY_FAMILY dump per family: the same sockets, field for field, v6only included.
TEST(SockDiag, OneTcpWalkGivesTheSameSocketsAsADumpPerFamily) {
  LocalSockets s;
  auto d = SockDiag::open(SockDiag::Mode::netlink_only);
  ASSERT_TRUE(d.ok()) << d.error();
  const proc::DumpFilter per_family{.udp = false, .tcp_one_walk = false};
  const proc::DumpFilter one_walk{.udp = false, .tcp_one_walk = true};
  std::vector<SocketEntry> a, b, c;
  ASSERT_TRUE(d->dump(a, per_family).ok());
  ASSERT_TRUE(d->dump(b, one_walk).ok());
  ASSERT_TRUE(d->dump(c, per_family).ok());
  std::set<std::uint64_t> ours_tcp;
  for (const Expected& x : expected_of(s))
    if (x.proto == proc::proto_tcp) ours_tcp.insert(inode_of(x.fd));
  const std::size_t compared = expect_same_sockets(rows(a), rows(b), rows(c), ours_tcp);
  std::size_t ours = 0;
  for (const Expected& x : expected_of(s)) {
    if (x.proto != proc::proto_tcp) continue;
    expect_entry(find_inode(b, inode_of(x.fd)), x);
    ++ours;
  }
  EXPECT_GE(compared, ours);
}

TEST(SockDiag, AutomaticModeUsesNetlink) {
  auto d = SockDiag::open();
  ASSERT_TRUE(d.ok()) << d.error();
  EXPECT_EQ(d->backend(), proc::SockDiagBackend::netlink);
  // Reused for many dumps: the buffer and socket stay.
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(dump(*d).empty());
  EXPECT_LE(d->interrupted_dumps(), 3U);
}

// ---- the process table on real processes ------------------------------------------------------

double uptime_seconds() {
  std::ifstream in("/proc/uptime");
  double up = 0;
  in >> up;
  return up;
}

TEST(ProcessTable, MapsAChildsSocketInodesToTheChild) {
  const double spawned_at = uptime_seconds();
  Helper child({"name", "fp-child-a", "tcp-listen", "127.0.0.1", "0", "udp-bind", "::", "0"});
  ASSERT_TRUE(child.ready()) << child.output();
  const HelperSocket tcp = child.socket("tcp-listen");
  const HelperSocket udp = child.socket("udp-bind");

  ProcessTable table;
  ASSERT_TRUE(table.refresh(1 * second).ok());
  const auto owner = table.owner_of(tcp.inode);
  ASSERT_TRUE(owner.has_value());
  EXPECT_EQ(owner->pid, child.pid());
  EXPECT_EQ(table.owner_of(udp.inode), owner);
  const proc::ProcessInfo* info = table.find(*owner);
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(table.find_pid(child.pid()), info);
  EXPECT_EQ(info->name, "fp-child-a");
  EXPECT_EQ(info->exe, self_exe());
  EXPECT_NE(info->cmdline.find("--proc-helper name fp-child-a tcp-listen 127.0.0.1 0"), std::string::npos)
      << info->cmdline;
  EXPECT_EQ(info->uid, getuid());
  if (getuid() == 0) {
    EXPECT_EQ(info->user, "root");
  }
  EXPECT_EQ(info->state, 'S');
  EXPECT_TRUE(info->alive);
  EXPECT_EQ(info->netns, own_netns());
  EXPECT_TRUE(std::binary_search(info->socket_inodes.begin(), info->socket_inodes.end(), tcp.inode));
  // The start time, against the clock: the child started when the test spawned it.
  const double started = static_cast<double>(owner->start_time) / static_cast<double>(sysconf(_SC_CLK_TCK));
  EXPECT_NEAR(started, spawned_at, 2.0);
  // This process is known too, with its own sockets.
  UniqueFd mine(open_socket("127.0.0.1", SOCK_DGRAM));
  ASSERT_TRUE(table.refresh(2 * second).ok());
  EXPECT_EQ(table.find_pid(getpid())->key.pid, getpid());
  bool own_ns_listed = false;
  for (const auto& ns : table.namespaces()) own_ns_listed |= ns.inode == own_netns() && ns.processes >= 2;
  EXPECT_TRUE(own_ns_listed);
}

// ---- the process table on a fake /proc ---------------------------------------------------------

class FakeProc {
 public:
  explicit FakeProc(std::uint64_t netns = 4026531840ULL) : netns_(netns) {}
  const fs::path& root() const { return dir_.path(); }

  // `fds`: link targets, e.g. "socket:[123]" or "/dev/null".
  void add(int pid, std::uint64_t start, const std::string& comm, const std::vector<std::string>& fds,
           std::uint32_t uid = 0, const std::string& cmdline = std::string("prog\0--flag\0x\0", 14),
           unsigned flags = 0) {
    const fs::path p = dir_ / std::to_string(pid);
    fs::remove_all(p);
    fs::create_directories(p / "fd");
    fs::create_directories(p / "ns");
    std::ostringstream stat;
    stat << pid << " (" << comm << ") S 1 1 1 0 -1 " << flags << " 0 0 0 0 0 0 0 0 20 0 1 0 " << start
         << " 1000 10 0 0\n";
    test::write_file(p / "stat", stat.str());
    test::write_file(p / "status", "Name:\t" + comm + "\nUmask:\t0022\nState:\tS (sleeping)\nUid:\t" +
                                       std::to_string(uid) + "\t" + std::to_string(uid) + "\t0\t0\n");
    test::write_file(p / "cmdline", cmdline);
    fs::create_symlink("/usr/bin/" + comm, p / "exe");
    fs::create_symlink("net:[" + std::to_string(netns_) + "]", p / "ns" / "net");
    set_fds(pid, fds);
  }
  void set_fds(int pid, const std::vector<std::string>& fds) {
    const fs::path d = dir_ / std::to_string(pid) / "fd";
    fs::remove_all(d);
    fs::create_directories(d);
    for (std::size_t i = 0; i < fds.size(); ++i) fs::create_symlink(fds[i], d / std::to_string(i + 3));
  }
  void remove(int pid) { fs::remove_all(dir_ / std::to_string(pid)); }

 private:
  test::TempDir dir_;
  std::uint64_t netns_;
};

std::string sock(std::uint64_t inode) { return "socket:[" + std::to_string(inode) + "]"; }

proc::ProcessTableOptions fake_options(const FakeProc& f) {
  proc::ProcessTableOptions o;
  o.proc_root = f.root().string();
  return o;
}

TEST(ProcessTable, ReadsEveryFieldOfANewProcess) {
  FakeProc f;
  f.add(100, 5000, "my (odd) name", {sock(11), "/dev/null", sock(12), "pipe:[99]", sock(11)}, 0);
  f.add(2, 10, "kthreadd", {}, 0, "", 0x00200000);
  ProcessTable t(fake_options(f));
  ASSERT_TRUE(t.refresh(1 * second).ok());
  EXPECT_EQ(t.last_refresh().new_scanned, 2U);
  const proc::ProcessInfo* p = t.find({100, 5000});
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->name, "my (odd) name");
  EXPECT_EQ(p->exe, "/usr/bin/my (odd) name");
  EXPECT_EQ(p->cmdline, "prog --flag x");
  EXPECT_EQ(p->state, 'S');
  EXPECT_EQ(p->netns, 4026531840ULL);
  EXPECT_EQ(p->socket_inodes, (std::vector<std::uint64_t>{11, 12}));
  EXPECT_EQ(t.owner_of(12), (ProcessKey{100, 5000}));
  const proc::ProcessInfo* k = t.find({2, 10});
  ASSERT_NE(k, nullptr);
  EXPECT_TRUE(k->kernel_thread);
  EXPECT_TRUE(k->exe.empty());
  ASSERT_EQ(t.namespaces().size(), 1U);
  EXPECT_EQ(t.namespaces()[0].processes, 2U);
  EXPECT_EQ(t.namespaces()[0].pid, 2);
}

TEST(ProcessTable, KnownProcessesAreReReadRoundRobinWithinTheBound) {
  FakeProc f;
  for (int pid = 1000; pid < 1010; ++pid) f.add(pid, 1, "p", {sock(static_cast<std::uint64_t>(pid))});
  auto o = fake_options(f);
  o.rescan_per_refresh = 3;
  ProcessTable t(o);
  ASSERT_TRUE(t.refresh(1 * second).ok());
  EXPECT_EQ(t.last_refresh().new_scanned, 10U);
  EXPECT_EQ(t.last_refresh().rescanned, 0U);  // all were read in full this time
  // Each process opens a new socket: the round robin finds them 3 per refresh.
  for (int pid = 1000; pid < 1010; ++pid) {
    const auto n = static_cast<std::uint64_t>(pid - 1000);
    f.set_fds(pid, {sock(1000 + n), sock(6000 + n)});
  }
  std::size_t found_after[4];
  for (std::uint64_t r = 0; r < 4; ++r) {
    ASSERT_TRUE(t.refresh((2 + r) * second).ok());
    EXPECT_EQ(t.last_refresh().rescanned, 3U);
    std::size_t found = 0;
    for (std::uint64_t inode = 6000; inode < 6010; ++inode) found += t.owner_of(inode) ? 1 : 0;
    found_after[r] = found;
  }
  EXPECT_EQ(found_after[0], 3U);
  EXPECT_EQ(found_after[1], 6U);
  EXPECT_EQ(found_after[2], 9U);
  EXPECT_EQ(found_after[3], 10U);
}

TEST(ProcessTable, TheRoundRobinKeepsToItsFdBudgetOnAverage) {
  FakeProc f;
  std::vector<std::string> ten;
  for (std::uint64_t inode = 100; inode < 110; ++inode) ten.push_back(sock(inode));
  for (int pid = 1; pid <= 30; ++pid) f.add(pid, 1, "p", ten);
  auto o = fake_options(f);
  o.rescan_per_refresh = 100;
  o.rescan_fd_budget = 15;  // a re-read costs its 10 fds + 1
  ProcessTable t(o);
  ASSERT_TRUE(t.refresh(1 * second).ok());
  std::size_t total = 0;
  for (int r = 0; r < 10; ++r) {
    ASSERT_TRUE(t.refresh((2 + static_cast<std::uint64_t>(r)) * second).ok());
    const std::size_t n = t.last_refresh().rescanned;
    EXPECT_GE(n, 1U);  // a process is read whole even when it overdraws the budget
    EXPECT_LE(n, 2U);
    EXPECT_LE(t.last_refresh().fds_read, 20U);
    total += n;
  }
  EXPECT_EQ(total, 14U);  // 10 refreshes x 15 / 11 per re-read, the overdraft paid back
}

TEST(ProcessTable, ResolveReReadsTheLikelyHolderOfAnUnknownInode) {
  FakeProc f;
  f.add(10, 1, "a", {sock(1)}, 1000);
  f.add(20, 1, "b", {sock(2)}, 2000);
  f.add(30, 1, "c", {sock(3)}, 3000);
  auto o = fake_options(f);
  o.rescan_per_refresh = 0;
  o.resolve_per_refresh = 1;
  ProcessTable t(o);
  ASSERT_TRUE(t.refresh(1 * second).ok());
  f.set_fds(20, {sock(2), sock(77)});
  ASSERT_TRUE(t.refresh(2 * second).ok());
  EXPECT_FALSE(t.owner_of(77).has_value());  // no re-read without a reason
  // The hint's uid points at pid 20: one re-read is enough.
  const proc::InodeHint hint{77, 2000, 4026531840ULL};
  EXPECT_EQ(t.resolve({&hint, 1}, 2 * second), 1U);
  EXPECT_EQ(t.last_refresh().resolve_scans, 1U);
  EXPECT_EQ(t.owner_of(77), (ProcessKey{20, 1}));
  // Budget 0: nothing is read.
  o.resolve_per_refresh = 0;
  ProcessTable t0(o);
  ASSERT_TRUE(t0.refresh(1 * second).ok());
  f.set_fds(30, {sock(3), sock(88)});
  ASSERT_TRUE(t0.refresh(2 * second).ok());
  const proc::InodeHint hint2{88, 3000, 4026531840ULL};
  EXPECT_EQ(t0.resolve({&hint2, 1}, 2 * second), 0U);
}

TEST(ProcessTable, AReusedPidIsANewProcessAndDeadOnesStayForTheGracePeriod) {
  FakeProc f;
  f.add(4242, 100, "old", {sock(501), sock(502)});
  auto o = fake_options(f);
  o.dead_grace_ns = 5 * second;
  ProcessTable t(o);
  ASSERT_TRUE(t.refresh(10 * second).ok());
  EXPECT_EQ(t.owner_of(501), (ProcessKey{4242, 100}));

  // Same pid, another start time (the pid was reused between two refreshes).
  f.add(4242, 200, "new", {sock(601)});
  ASSERT_TRUE(t.refresh(11 * second).ok());  // the round robin re-reads it
  EXPECT_EQ(t.last_refresh().reused_pids, 1U);
  const proc::ProcessInfo* fresh = t.find({4242, 200});
  ASSERT_NE(fresh, nullptr);
  EXPECT_TRUE(fresh->alive);
  EXPECT_EQ(fresh->name, "new");
  EXPECT_EQ(t.find_pid(4242), fresh);
  EXPECT_EQ(t.owner_of(601), (ProcessKey{4242, 200}));
  // The old process: dead, kept, still owning its inodes; never confused with the new one.
  const proc::ProcessInfo* old = t.find({4242, 100});
  ASSERT_NE(old, nullptr);
  EXPECT_FALSE(old->alive);
  EXPECT_EQ(old->dead_since_ns, 11 * second);
  EXPECT_EQ(t.owner_of(501), (ProcessKey{4242, 100}));
  ASSERT_TRUE(t.refresh(15 * second).ok());
  EXPECT_NE(t.find({4242, 100}), nullptr);
  ASSERT_TRUE(t.refresh(16 * second).ok());
  EXPECT_EQ(t.find({4242, 100}), nullptr);
  EXPECT_FALSE(t.owner_of(501).has_value());
  EXPECT_EQ(t.owner_of(601), (ProcessKey{4242, 200}));

  // Gone from /proc: dead, kept 5 s, then dropped with its inodes.
  f.remove(4242);
  ASSERT_TRUE(t.refresh(20 * second).ok());
  ASSERT_NE(t.find({4242, 200}), nullptr);
  EXPECT_FALSE(t.find({4242, 200})->alive);
  EXPECT_EQ(t.find_pid(4242), nullptr);
  EXPECT_EQ(t.owner_of(601), (ProcessKey{4242, 200}));
  EXPECT_EQ(t.last_refresh().dead_kept, 1U);
  ASSERT_TRUE(t.refresh(24 * second).ok());
  EXPECT_NE(t.find({4242, 200}), nullptr);
  ASSERT_TRUE(t.refresh(25 * second).ok());
  EXPECT_EQ(t.find({4242, 200}), nullptr);
  EXPECT_FALSE(t.owner_of(601).has_value());
  EXPECT_EQ(t.last_refresh().removed, 1U);
}

TEST(ProcessTable, ASharedInodeStaysWithItsFirstHolder) {
  FakeProc f;
  f.add(50, 1, "parent", {sock(9)});
  ProcessTable t(fake_options(f));
  ASSERT_TRUE(t.refresh(1 * second).ok());
  f.add(51, 2, "child", {sock(9)});  // inherited by fork
  ASSERT_TRUE(t.refresh(2 * second).ok());
  EXPECT_EQ(t.owner_of(9), (ProcessKey{50, 1}));
  f.remove(50);  // the parent exits: the child, re-read, takes it over
  ASSERT_TRUE(t.refresh(3 * second).ok());
  ASSERT_TRUE(t.refresh(4 * second).ok());
  EXPECT_EQ(t.owner_of(9), (ProcessKey{51, 2}));
}

// ---- the socket table ---------------------------------------------------------------------------

TEST(SocketTable, LookupsFindTheOwnerExactlyThenByLocalAddressThenByWildcard) {
  Helper child({"name",       "fp-child-b", "tcp-listen", "127.0.0.1", "0",        "tcp-listen", "0.0.0.0",
                "0",          "udp-bind",   "127.0.0.1",  "0",         "udp-bind", "::",         "0",
                "udp-v6only", "0",          "tcp-listen", "::",        "0",        "accept"});
  // The child waits in accept on its :: listener: connect to it over IPv4.
  const HelperSocket dual_listen = child.socket("tcp-listen", 2);
  UniqueFd to_dual(open_socket("127.0.0.1", SOCK_STREAM));
  {
    socklen_t len;
    const auto ss = test::make_sockaddr("127.0.0.1", dual_listen.port, len);
    ASSERT_EQ(connect(to_dual.get(), reinterpret_cast<const sockaddr*>(&ss), len), 0);
  }
  ASSERT_TRUE(child.ready()) << child.output();
  const HelperSocket listen4 = child.socket("tcp-listen", 0);
  const HelperSocket listen_any = child.socket("tcp-listen", 1);
  const HelperSocket udp4 = child.socket("udp-bind", 0);
  const HelperSocket udp_dual = child.socket("udp-bind", 1);
  const HelperSocket udp_v6only = child.socket("udp-v6only");
  const HelperSocket accepted = child.socket("accept");
  EXPECT_EQ(accepted.peer, local_port(to_dual.get()));
  auto table = SocketTable::open();
  ASSERT_TRUE(table.ok()) << table.error();
  SocketTable& t = *table;
  const std::uint64_t now = 100 * second;
  ASSERT_TRUE(t.refresh(now).ok());
  EXPECT_GT(t.last_refresh().sockets, 0U);
  EXPECT_EQ(t.last_refresh().namespaces, t.namespaces_open());
  const auto lo = ip("127.0.0.1");
  const std::uint8_t tcp = proc::proto_tcp, udp = proc::proto_udp;

  auto expect_owner = [&](std::optional<proc::SocketOwner> o, const HelperSocket& s, MatchKind m, int pid) {
    ASSERT_TRUE(o.has_value());
    EXPECT_EQ(o->inode, s.inode);
    EXPECT_EQ(o->match, m) << proc::to_string(o->match);
    EXPECT_EQ(o->process.pid, pid);
    EXPECT_FALSE(o->closed);
    EXPECT_EQ(o->netns, own_netns());
  };
  // Exact, both ends of the loopback connection, each to its own process: the child's side came
  // from a :: listener, so the kernel reports it IPv4-mapped; the lookup is by the IPv4 5-tuple.
  const std::uint16_t client_port = static_cast<std::uint16_t>(local_port(to_dual.get()));
  expect_owner(t.lookup(tcp, lo, dual_listen.port, lo, client_port, now), accepted, MatchKind::exact,
               child.pid());
  const HelperSocket mine{inode_of(to_dual.get()), client_port, dual_listen.port};
  expect_owner(t.lookup(tcp, lo, client_port, lo, dual_listen.port, now), mine, MatchKind::exact, getpid());
  // The same, asked with IPv4-mapped IPv6 addresses.
  const auto mapped = ip("::ffff:127.0.0.1");
  ASSERT_EQ(mapped.family, 6);
  expect_owner(t.lookup(tcp, mapped, dual_listen.port, mapped, client_port, now), accepted, MatchKind::exact,
               child.pid());
  // A connection not in the table yet: its listener's owner, by local address, then by wildcard.
  expect_owner(t.lookup(tcp, lo, listen4.port, lo, 40000, now), listen4, MatchKind::local, child.pid());
  expect_owner(t.lookup(tcp, ip("10.9.8.7"), listen_any.port, ip("10.1.1.1"), 40000, now), listen_any,
               MatchKind::wildcard, child.pid());
  // Dual-stack :: listener: IPv4 and IPv6 by wildcard.
  expect_owner(t.lookup(tcp, lo, dual_listen.port, ip("127.0.0.2"), 41000, now), dual_listen,
               MatchKind::wildcard, child.pid());
  expect_owner(t.lookup(tcp, ip("::1"), dual_listen.port, ip("::1"), 41000, now), dual_listen,
               MatchKind::wildcard, child.pid());
  // UDP: unconnected by local address; dual-stack :: answers IPv4 and IPv6; V6ONLY answers only IPv6.
  expect_owner(t.lookup(udp, lo, udp4.port, ip("127.0.0.9"), 5353, now), udp4, MatchKind::local, child.pid());
  expect_owner(t.lookup(udp, lo, udp_dual.port, lo, 5353, now), udp_dual, MatchKind::wildcard, child.pid());
  expect_owner(t.lookup(udp, ip("fe80::1"), udp_dual.port, ip("fe80::2"), 5353, now), udp_dual,
               MatchKind::wildcard, child.pid());
  expect_owner(t.lookup(udp, ip("::1"), udp_v6only.port, ip("::1"), 5353, now), udp_v6only,
               MatchKind::wildcard, child.pid());
  EXPECT_FALSE(t.lookup(udp, lo, udp_v6only.port, lo, 5353, now).has_value());
  // Wrong protocol, unused port.
  const auto other_proto = t.lookup(udp, lo, listen4.port, lo, 40000, now);
  EXPECT_TRUE(!other_proto || other_proto->inode != listen4.inode);
  const std::uint16_t unused = test::free_port(SOCK_STREAM);
  EXPECT_FALSE(t.lookup(tcp, ip("127.0.0.1"), unused, lo, 40000, now).has_value());

  // The owner's details through the process table.
  const auto o = t.lookup(tcp, lo, listen4.port, lo, 40000, now);
  const proc::ProcessInfo* info = t.processes().find(o->process);
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->name, "fp-child-b");
  EXPECT_EQ(info->exe, self_exe());
}

TEST(SocketTable, LocalSocketsOfEveryKindAreOwnedByThisProcess) {
  LocalSockets s;
  auto table = SocketTable::open();
  ASSERT_TRUE(table.ok()) << table.error();
  ASSERT_TRUE(table->refresh(1 * second).ok());
  const auto sockets = table->sockets();
  for (const Expected& x : expected_of(s)) {
    SCOPED_TRACE(x.what);
    const SocketEntry* e = find_inode(sockets, inode_of(x.fd));
    ASSERT_NE(e, nullptr);
    const auto o = table->lookup(e->proto, e->local, e->local_port, e->remote, e->remote_port, 1 * second);
    ASSERT_TRUE(o.has_value());
    EXPECT_EQ(o->inode, e->inode);
    EXPECT_EQ(o->process.pid, getpid());
    EXPECT_EQ(o->match, e->remote_port != 0 ? MatchKind::exact : MatchKind::local);
  }
}

TEST(SocketTable, AClosedSocketKeepsItsOwnerForTheGracePeriodOnly) {
  UniqueFd fd(open_socket("127.0.0.1", SOCK_DGRAM));
  socklen_t len;
  const auto ss = test::make_sockaddr("127.0.0.1", 0, len);
  ASSERT_EQ(bind(fd.get(), reinterpret_cast<const sockaddr*>(&ss), len), 0);
  const std::uint16_t port = static_cast<std::uint16_t>(local_port(fd.get()));
  const std::uint64_t inode = inode_of(fd.get());
  const auto lo = ip("127.0.0.1");

  proc::SocketTableOptions opts;
  opts.closed_grace_ns = 5 * second;
  auto table = SocketTable::open(opts);
  ASSERT_TRUE(table.ok()) << table.error();
  SocketTable& t = *table;
  const std::uint64_t t0 = 1000 * second;
  ASSERT_TRUE(t.refresh(t0).ok());
  auto o = t.lookup(proc::proto_udp, lo, port, lo, 9, t0);
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->inode, inode);
  EXPECT_FALSE(o->closed);

  fd.reset();  // closed between two refreshes
  const std::uint64_t t1 = t0 + 1 * second;
  ASSERT_TRUE(t.refresh(t1).ok());
  EXPECT_EQ(find_inode(t.sockets(), inode), nullptr);
  EXPECT_GE(t.last_refresh().closed_kept, 1U);
  o = t.lookup(proc::proto_udp, lo, port, lo, 9, t1);
  ASSERT_TRUE(o.has_value());
  EXPECT_TRUE(o->closed);
  EXPECT_EQ(o->inode, inode);
  EXPECT_EQ(o->process.pid, getpid());
  // Within the grace period (counted from the refresh that found it gone), between refreshes too.
  EXPECT_TRUE(t.lookup(proc::proto_udp, lo, port, lo, 9, t1 + 5 * second - 1).has_value());
  EXPECT_FALSE(t.lookup(proc::proto_udp, lo, port, lo, 9, t1 + 5 * second).has_value());
  ASSERT_TRUE(t.refresh(t1 + 4 * second).ok());
  EXPECT_TRUE(t.lookup(proc::proto_udp, lo, port, lo, 9, t1 + 4 * second).has_value());
  ASSERT_TRUE(t.refresh(t1 + 5 * second).ok());
  EXPECT_FALSE(t.lookup(proc::proto_udp, lo, port, lo, 9, t1 + 5 * second).has_value());
}

TEST(SocketTable, AShortLivedConnectionIsAttributedAfterItCloses) {
  // Connection opened and seen by one refresh, closed before the next: still charged, by 5-tuple.
  UniqueFd listener(open_socket("127.0.0.1", SOCK_STREAM));
  socklen_t len;
  auto ss = test::make_sockaddr("127.0.0.1", 0, len);
  ASSERT_EQ(bind(listener.get(), reinterpret_cast<const sockaddr*>(&ss), len), 0);
  ASSERT_EQ(listen(listener.get(), 4), 0);
  auto table = SocketTable::open();
  ASSERT_TRUE(table.ok()) << table.error();
  UniqueFd client(open_socket("127.0.0.1", SOCK_STREAM));
  ss = test::make_sockaddr("127.0.0.1", local_port(listener.get()), len);
  ASSERT_EQ(connect(client.get(), reinterpret_cast<const sockaddr*>(&ss), len), 0);
  UniqueFd server(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  const std::uint16_t cport = static_cast<std::uint16_t>(local_port(client.get()));
  const std::uint16_t sport = static_cast<std::uint16_t>(local_port(listener.get()));
  const std::uint64_t client_inode = inode_of(client.get());
  const auto lo = ip("127.0.0.1");
  ASSERT_TRUE(table->refresh(1 * second).ok());
  client.reset();
  server.reset();
  ASSERT_TRUE(table->refresh(2 * second).ok());
  const auto o = table->lookup(proc::proto_tcp, lo, cport, lo, sport, 2 * second);
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->inode, client_inode);
  EXPECT_EQ(o->match, MatchKind::exact);
  EXPECT_TRUE(o->closed);
  EXPECT_EQ(o->process.pid, getpid());
}

// A TCP connection in this process: listener, client and the accepted end.
struct Connection {
  UniqueFd listener, client, server;
  std::uint16_t lport = 0, cport = 0;
  explicit Connection(const char* addr = "127.0.0.1") {
    listener.reset(open_socket(addr, SOCK_STREAM));
    socklen_t len;
    auto ss = test::make_sockaddr(addr, 0, len);
    EXPECT_EQ(bind(listener.get(), reinterpret_cast<const sockaddr*>(&ss), len), 0);
    EXPECT_EQ(listen(listener.get(), 4), 0);
    lport = static_cast<std::uint16_t>(local_port(listener.get()));
    client.reset(open_socket(addr, SOCK_STREAM));
    ss = test::make_sockaddr(addr, lport, len);
    EXPECT_EQ(connect(client.get(), reinterpret_cast<const sockaddr*>(&ss), len), 0);
    server.reset(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    cport = static_cast<std::uint16_t>(local_port(client.get()));
  }
};

TEST(SocketTable, ConnectedTcpIsDumpedEveryNthRefreshAndKeptAsItWasInBetween) {
  proc::SocketTableOptions opts;
  opts.tcp_connected_dump_every = 3;  // refreshes 1, 4, 7, ... dump connected TCP sockets
  auto table = SocketTable::open(opts);
  ASSERT_TRUE(table.ok()) << table.error();
  SocketTable& t = *table;
  const auto lo = ip("127.0.0.1");
  auto first = std::make_unique<Connection>();
  const std::uint16_t lport = first->lport, cport = first->cport;
  const std::uint64_t client_inode = inode_of(first->client.get());

  ASSERT_TRUE(t.refresh(1 * second).ok());
  EXPECT_TRUE(t.last_refresh().tcp_connected_dumped);
  ASSERT_NE(find_inode(t.sockets(), client_inode), nullptr);

  // Closed before refresh 2, which dumps listeners and UDP only: the connection is kept as it was,
  // alive, and still answers for this process.
  first->client.reset();
  first->server.reset();
  auto second_conn = std::make_unique<Connection>();
  ASSERT_TRUE(t.refresh(2 * second).ok());
  EXPECT_FALSE(t.last_refresh().tcp_connected_dumped);
  EXPECT_GE(t.last_refresh().carried, 2U);
  EXPECT_EQ(find_inode(t.sockets(), client_inode), nullptr);                           // not dumped
  EXPECT_NE(find_inode(t.sockets(), inode_of(second_conn->listener.get())), nullptr);  // listeners are
  auto o = t.lookup(proc::proto_tcp, lo, cport, lo, lport, 2 * second);
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->inode, client_inode);
  EXPECT_FALSE(o->closed);
  EXPECT_EQ(o->process.pid, getpid());
  // A connection opened since the last full dump is not in the table (its first packet would look
  // it up: resolve_flow); its client end matches nothing, its accepted end its listener (a live
  // answer: resolve_flow places the client end only).
  EXPECT_FALSE(t.lookup(proc::proto_tcp, lo, second_conn->cport, lo, second_conn->lport, 2 * second));
  EXPECT_EQ(t.lookup(proc::proto_tcp, lo, second_conn->lport, lo, second_conn->cport, 2 * second)->match,
            MatchKind::local);
  EXPECT_EQ(t.resolve_flow(proc::proto_tcp, lo, second_conn->cport, lo, second_conn->lport, 2 * second), 1U);
  ASSERT_TRUE(t.refresh(3 * second).ok());
  EXPECT_FALSE(t.last_refresh().tcp_connected_dumped);
  o = t.lookup(proc::proto_tcp, lo, second_conn->cport, lo, second_conn->lport, 3 * second);
  ASSERT_TRUE(o.has_value());  // what resolve_flow placed is kept too
  EXPECT_EQ(o->inode, inode_of(second_conn->client.get()));
  EXPECT_FALSE(o->closed);

  // Refresh 4 dumps them again: the first connection is found gone, the second is there.
  ASSERT_TRUE(t.refresh(4 * second).ok());
  EXPECT_TRUE(t.last_refresh().tcp_connected_dumped);
  EXPECT_EQ(t.last_refresh().carried, 0U);
  o = t.lookup(proc::proto_tcp, lo, cport, lo, lport, 4 * second);
  ASSERT_TRUE(o.has_value());
  EXPECT_TRUE(o->closed);
  EXPECT_NE(find_inode(t.sockets(), inode_of(second_conn->client.get())), nullptr);
}

TEST(SocketTable, ARecordedCloseClosesTheKnownSocketOfThatConnection) {
  auto table = SocketTable::open();
  ASSERT_TRUE(table.ok()) << table.error();
  const auto lo = ip("127.0.0.1");
  Connection c;
  ASSERT_TRUE(table->refresh(1 * second).ok());
  auto o = table->lookup(proc::proto_tcp, lo, c.cport, lo, c.lport, 1 * second);
  ASSERT_TRUE(o.has_value());
  EXPECT_FALSE(o->closed);
  // As the close tracer reports it (the socket itself is still open: only the table's view changes).
  ASSERT_TRUE(table->record_close(getpid(), lo, c.cport, lo, c.lport, 1 * second + 1));
  o = table->lookup(proc::proto_tcp, lo, c.cport, lo, c.lport, 1 * second + 1);
  ASSERT_TRUE(o.has_value());
  EXPECT_TRUE(o->closed);
  EXPECT_EQ(o->process.pid, getpid());
  // So the first packet of a new connection on this 5-tuple is looked up in the kernel again (the
  // client end: the accepted end's close is not recorded, it still answers).
  EXPECT_EQ(table->resolve_flow(proc::proto_tcp, lo, c.cport, lo, c.lport, 1 * second + 2), 1U);
  o = table->lookup(proc::proto_tcp, lo, c.cport, lo, c.lport, 1 * second + 2);
  ASSERT_TRUE(o.has_value());
  EXPECT_FALSE(o->closed);
  EXPECT_EQ(o->inode, inode_of(c.client.get()));
}

TEST(SocketTable, ASocketOfAKnownProcessIsPlacedByATargetedReRead) {
  proc::SocketTableOptions opts;
  opts.processes.rescan_per_refresh = 0;  // only the targeted re-reads can find it
  auto table = SocketTable::open(opts);
  ASSERT_TRUE(table.ok()) << table.error();
  ASSERT_TRUE(table->refresh(1 * second).ok());
  UniqueFd fd(open_socket("127.0.0.1", SOCK_DGRAM));
  socklen_t len;
  const auto ss = test::make_sockaddr("127.0.0.1", 0, len);
  ASSERT_EQ(bind(fd.get(), reinterpret_cast<const sockaddr*>(&ss), len), 0);
  ASSERT_TRUE(table->refresh(2 * second).ok());
  EXPECT_GE(table->last_refresh().resolved, 1U);
  const auto o =
      table->lookup(proc::proto_udp, ip("127.0.0.1"), static_cast<std::uint16_t>(local_port(fd.get())),
                    ip("127.0.0.1"), 9, 2 * second);
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->process.pid, getpid());
  EXPECT_EQ(o->inode, inode_of(fd.get()));

  // Without targeted re-reads either, a new socket of a known process stays unknown.
  opts.processes.resolve_per_refresh = 0;
  auto blind = SocketTable::open(opts);
  ASSERT_TRUE(blind.ok());
  ASSERT_TRUE(blind->refresh(1 * second).ok());
  UniqueFd fd2(open_socket("127.0.0.1", SOCK_DGRAM));
  ASSERT_EQ(bind(fd2.get(), reinterpret_cast<const sockaddr*>(&ss), len), 0);
  ASSERT_TRUE(blind->refresh(2 * second).ok());
  EXPECT_FALSE(blind
                   ->lookup(proc::proto_udp, ip("127.0.0.1"),
                            static_cast<std::uint16_t>(local_port(fd2.get())), ip("127.0.0.1"), 9, 2 * second)
                   .has_value());
  EXPECT_GE(blind->last_refresh().unknown, 1U);
}

TEST(SocketTable, AReusedPidNeverInheritsTheOldProcesssSockets) {
  // Real sockets, charged through a fake /proc in which pid 4242 holds them.
  UniqueFd a(open_socket("127.0.0.1", SOCK_DGRAM)), b(open_socket("127.0.0.1", SOCK_DGRAM));
  socklen_t len;
  const auto ss = test::make_sockaddr("127.0.0.1", 0, len);
  ASSERT_EQ(bind(a.get(), reinterpret_cast<const sockaddr*>(&ss), len), 0);
  ASSERT_EQ(bind(b.get(), reinterpret_cast<const sockaddr*>(&ss), len), 0);
  const auto lo = ip("127.0.0.1");
  const auto pa = static_cast<std::uint16_t>(local_port(a.get()));
  const auto pb = static_cast<std::uint16_t>(local_port(b.get()));
  FakeProc f(own_netns());
  f.add(4242, 100, "first", {sock(inode_of(a.get()))});
  proc::SocketTableOptions opts;
  opts.processes = fake_options(f);
  opts.processes.dead_grace_ns = 5 * second;
  auto table = SocketTable::open(opts);
  ASSERT_TRUE(table.ok()) << table.error();
  SocketTable& t = *table;
  ASSERT_TRUE(t.refresh(10 * second).ok());
  EXPECT_EQ(t.lookup(proc::proto_udp, lo, pa, lo, 9, 10 * second)->process, (ProcessKey{4242, 100}));
  EXPECT_FALSE(t.lookup(proc::proto_udp, lo, pb, lo, 9, 10 * second).has_value());

  // pid 4242 is now another process (start time 200) that holds b, not a.
  f.add(4242, 200, "second", {sock(inode_of(b.get()))});
  ASSERT_TRUE(t.refresh(11 * second).ok());
  EXPECT_EQ(t.lookup(proc::proto_udp, lo, pb, lo, 9, 11 * second)->process, (ProcessKey{4242, 200}));
  // a: still the first process (dead, within its grace period), never the second.
  EXPECT_EQ(t.lookup(proc::proto_udp, lo, pa, lo, 9, 11 * second)->process, (ProcessKey{4242, 100}));
  // After the grace period the first process is gone, and a has no owner.
  ASSERT_TRUE(t.refresh(17 * second).ok());
  EXPECT_FALSE(t.lookup(proc::proto_udp, lo, pa, lo, 9, 17 * second).has_value());
  EXPECT_EQ(t.lookup(proc::proto_udp, lo, pb, lo, 9, 17 * second)->process, (ProcessKey{4242, 200}));
}

// ---- network namespaces (root) -----------------------------------------------------------------

#define REQUIRE_ROOT()                                                                         \
  if (geteuid() != 0) {                                                                        \
    if (test::in_ci()) FAIL() << "network-namespace tests need root (ip netns) under CI=true"; \
    GTEST_SKIP() << "network-namespace tests need root (ip netns)";                            \
  }

// A named network namespace (ip netns add), deleted when the object goes, also on failure.
class NetnsGuard {
 public:
  explicit NetnsGuard(std::string ip_tool) : ip_(std::move(ip_tool)) {
    name_ = "fpproc" + std::to_string(getpid());
    test::run({ip_, "netns", "del", name_});  // left over by a killed run with the same pid
    const auto r = test::run({ip_, "netns", "add", name_});
    ok_ = r.code == 0;
    error_ = r.out + r.err;
    if (ok_) {
      const auto up = test::run({ip_, "-n", name_, "link", "set", "lo", "up"});
      ok_ = up.code == 0;
      error_ += up.out + up.err;
    }
  }
  ~NetnsGuard() {
    const auto r = test::run({ip_, "netns", "del", name_});
    if (r.code != 0) std::fprintf(stderr, "ip netns del %s failed: %s\n", name_.c_str(), r.err.c_str());
  }
  NetnsGuard(const NetnsGuard&) = delete;
  NetnsGuard& operator=(const NetnsGuard&) = delete;
  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  const std::string& name() const { return name_; }
  std::string path() const { return "/run/netns/" + name_; }

 private:
  std::string ip_, name_, error_;
  bool ok_ = false;
};

TEST(Netns, SocketsOfAProcessInAnotherNamespaceAreFoundAndNamed) {
  REQUIRE_ROOT();
  REQUIRE_TOOL(ip_tool, "ip");
  NetnsGuard ns(ip_tool);
  ASSERT_TRUE(ns.ok()) << "ip netns add failed: " << ns.error();
  struct stat st {};
  ASSERT_EQ(stat(ns.path().c_str(), &st), 0);
  const std::uint64_t ns_inode = st.st_ino;
  ASSERT_NE(ns_inode, own_netns());

  // Ports free here too, so the lookup (which has no namespace) cannot hit a socket of this one.
  const std::uint16_t tport = test::free_port(SOCK_STREAM);
  const std::uint16_t uport = test::free_port(SOCK_DGRAM);
  proc::SocketTableOptions opts;
  opts.processes.dead_grace_ns = 5 * second;
  auto table = SocketTable::open(opts);
  ASSERT_TRUE(table.ok()) << table.error();
  SocketTable& t = *table;
  std::uint64_t tcp_inode = 0;
  {
    Helper child({"name", "fp-nshelper", "tcp-listen", "127.0.0.1", std::to_string(tport), "udp-bind",
                  "::", std::to_string(uport)},
                 {ip_tool, "netns", "exec", ns.name()});
    ASSERT_TRUE(child.ready()) << child.output();
    const HelperSocket tcp = child.socket("tcp-listen");
    const HelperSocket udp = child.socket("udp-bind");
    tcp_inode = tcp.inode;

    // sock_diag straight into the namespace, both backends.
    UniqueFd nsfd(::open(ns.path().c_str(), O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(nsfd.valid());
    EXPECT_EQ(proc::netns_of_fd(nsfd.get()).value(), ns_inode);
    for (auto mode : {SockDiag::Mode::netlink_only, SockDiag::Mode::procfs_only}) {
      auto d = SockDiag::open_in_netns(nsfd.get(), mode);
      ASSERT_TRUE(d.ok()) << d.error();
      EXPECT_EQ(d->netns(), ns_inode);
      EXPECT_EQ(own_netns(), proc::current_netns().value());  // this thread did not move
      const auto v = dump(*d);
      const SocketEntry* e = find_inode(v, tcp.inode);
      ASSERT_NE(e, nullptr) << "mode " << static_cast<int>(mode);
      EXPECT_EQ(e->netns, ns_inode);
      EXPECT_EQ(e->local_port, tport);
      EXPECT_EQ(e->state, SocketState::listen);
      EXPECT_NE(find_inode(v, udp.inode), nullptr);
      EXPECT_EQ(v.size(), 2U);  // a fresh namespace holds nothing else
    }

    // The socket table finds the namespace through the child's /proc/<pid>/ns/net.
    ASSERT_TRUE(t.refresh(1 * second).ok());
    EXPECT_EQ(t.last_refresh().namespace_errors, 0U) << t.last_refresh().last_error;
    bool listed = false;
    for (const auto& n : t.processes().namespaces()) listed |= n.inode == ns_inode && n.pid == child.pid();
    EXPECT_TRUE(listed);
    EXPECT_GE(t.namespaces_open(), 2U);
    const SocketEntry* e = find_inode(t.sockets(), tcp.inode);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->netns, ns_inode);
    const auto o = t.lookup(proc::proto_tcp, ip("127.0.0.1"), tport, ip("127.0.0.1"), 40000, 1 * second);
    ASSERT_TRUE(o.has_value());
    EXPECT_EQ(o->inode, tcp.inode);
    EXPECT_EQ(o->netns, ns_inode);
    EXPECT_EQ(o->process.pid, child.pid());
    const proc::ProcessInfo* info = t.processes().find(o->process);
    ASSERT_NE(info, nullptr);
    EXPECT_EQ(info->name, "fp-nshelper");
    EXPECT_EQ(info->netns, ns_inode);
    const auto u = t.lookup(proc::proto_udp, ip("127.0.0.1"), uport, ip("127.0.0.1"), 5353, 1 * second);
    ASSERT_TRUE(u.has_value());
    EXPECT_EQ(u->inode, udp.inode);
    EXPECT_EQ(u->match, MatchKind::wildcard);
  }
  // The child is gone: the table lets the namespace go (an open dump would keep it alive), and the
  // child's sockets keep their owner for the grace period.
  ASSERT_TRUE(t.refresh(2 * second).ok());
  EXPECT_EQ(t.namespaces_open(), 1U);
  EXPECT_EQ(find_inode(t.sockets(), tcp_inode), nullptr);
  const auto o = t.lookup(proc::proto_tcp, ip("127.0.0.1"), tport, ip("127.0.0.1"), 40000, 2 * second);
  ASSERT_TRUE(o.has_value());
  EXPECT_TRUE(o->closed);
  EXPECT_EQ(o->inode, tcp_inode);
  const proc::ProcessInfo* info = t.processes().find(o->process);
  ASSERT_NE(info, nullptr);
  EXPECT_FALSE(info->alive);
  EXPECT_EQ(info->name, "fp-nshelper");
}

}  // namespace
}  // namespace flowpulse
