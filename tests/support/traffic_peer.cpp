// traffic_peer: one end of a TCP or UDP conversation, run by the attribution tests as a process of its
// own, so each end is a distinct local process (pid, comm "traffic_peer") to charge traffic to. It moves
// an exact number of application bytes and says on stdout, one JSON object a line, what it did: its
// pid, every 5-tuple it used with the bytes sent and received on it, and a total. The tests compare
// that with what flowpulse and tshark report.
//
//   traffic_peer tcp-server --listen ADDR:PORT [--echo BYTES] [--connections K]
//       accepts K connections (0 = until idle), one after another; reads each until EOF, then
//       writes BYTES back and closes.
//   traffic_peer tcp-client --to ADDR:PORT --send BYTES [--expect BYTES] [--connections K] [--hold-ms M]
//       K connections one after another: connect, write BYTES, shut down writing, read until EOF
//       (it must get exactly --expect bytes), keep the connection M ms more, close.
//   traffic_peer udp-server --listen ADDR:PORT [--datagrams N]
//       an unconnected socket; answers each datagram with one of the same size, to its sender;
//       stops after N datagrams (0 = until idle).
//   traffic_peer udp-client --to ADDR:PORT (--connected | --unconnected) --datagrams N --size S [--hold-ms M]
//       sends N datagrams of S bytes, one at a time, each after the answer to the previous one; keeps
//       the socket M ms after the last answer, then closes it.
//
// Common options:
//   --go-file PATH        before any traffic, print "ready" and wait until PATH exists (the test
//                         creates it once the capture runs; stdin is /dev/null under the tests)
//   --start-after-ms M    or: wait M ms before any traffic
//   --linger-ms M         after "total", stay alive up to M ms (so the process can still be looked up
//                         while the test reads its figures; the test ends it with SIGTERM)
//   --idle-ms M           a server stops after M ms without traffic; a client gives up on an answer
//                         after M ms (default 10000)
//
// ADDR is IPv4 or IPv6 ("127.0.0.1:80", "[::1]:80"); PORT 0 in --listen picks a free port, which the
// "listening" line gives. Lines printed (always with "event" first):
//   {"event":"listening","pid":P,"proto":6,"addr":"::1","port":40000}
//   {"event":"ready","pid":P}
//   {"event":"flow","pid":P,"proto":6,"local_addr":A,"local_port":N,"remote_addr":A,"remote_port":N,
//    "sent":BYTES,"received":BYTES,"datagrams_sent":N,"datagrams_received":N,"duration_us":US,
//    "retransmits":N}   (TCP: segments the socket sent again, TCP_INFO once all it sent was acked)
//   {"event":"total","pid":P,"flows":N,"sent":BYTES,"received":BYTES,"max_duration_us":US}
//   {"event":"error","pid":P,"message":"..."}       (then exit 1; usage errors exit 2)
// A UDP server prints one "flow" per remote end, when it stops. Addresses are as inet_ntop writes them.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Endpoint {
  sockaddr_storage ss{};
  socklen_t len = 0;
  int family() const { return ss.ss_family; }
  const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&ss); }
  sockaddr* sa() { return reinterpret_cast<sockaddr*>(&ss); }
};

std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

// One line, one write(2): the test reads the file while this process runs and must never see two
// lines interleaved.
void emit(const std::string& line) {
  const std::string s = line + "\n";
  std::size_t off = 0;
  while (off < s.size()) {
    const ssize_t n = ::write(STDOUT_FILENO, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += static_cast<std::size_t>(n);
  }
}

std::string head(const char* event) {
  return std::string("{\"event\":\"") + event + "\",\"pid\":" + std::to_string(getpid());
}

[[noreturn]] void fail(const std::string& message) {
  emit(head("error") + ",\"message\":\"" + json_escape(message) + "\"}");
  std::fprintf(stderr, "traffic_peer: %s\n", message.c_str());
  std::exit(1);
}

[[noreturn]] void usage(const std::string& message) {
  std::fprintf(stderr,
               "traffic_peer: %s\n"
               "usage: traffic_peer tcp-server|tcp-client|udp-server|udp-client [options] (see the source)\n",
               message.c_str());
  std::exit(2);
}

std::string sys_error(const std::string& what) { return what + ": " + std::strerror(errno); }

Endpoint parse_endpoint(const std::string& text) {
  std::string host, port;
  if (!text.empty() && text[0] == '[') {
    const auto close = text.find("]:");
    if (close == std::string::npos) usage("bad address " + text + " (want [V6]:PORT)");
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos) usage("bad address " + text + " (want ADDR:PORT)");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  char* end = nullptr;
  const unsigned long p = std::strtoul(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || p > 65535) usage("bad port in " + text);
  Endpoint e;
  auto* a4 = reinterpret_cast<sockaddr_in*>(&e.ss);
  auto* a6 = reinterpret_cast<sockaddr_in6*>(&e.ss);
  if (inet_pton(AF_INET, host.c_str(), &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons(static_cast<std::uint16_t>(p));
    e.len = sizeof *a4;
  } else if (inet_pton(AF_INET6, host.c_str(), &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(static_cast<std::uint16_t>(p));
    e.len = sizeof *a6;
  } else {
    usage("bad address " + host);
  }
  return e;
}

std::string addr_text(const Endpoint& e) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (e.family() == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&e.ss)->sin_addr, buf, sizeof buf);
  } else {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&e.ss)->sin6_addr, buf, sizeof buf);
  }
  return buf;
}

std::uint16_t port_of(const Endpoint& e) {
  return ntohs(e.family() == AF_INET ? reinterpret_cast<const sockaddr_in*>(&e.ss)->sin_port
                                     : reinterpret_cast<const sockaddr_in6*>(&e.ss)->sin6_port);
}

Endpoint local_of(int fd) {
  Endpoint e;
  e.len = sizeof e.ss;
  if (getsockname(fd, e.sa(), &e.len) != 0) fail(sys_error("getsockname"));
  return e;
}

Endpoint remote_of(int fd) {
  Endpoint e;
  e.len = sizeof e.ss;
  if (getpeername(fd, e.sa(), &e.len) != 0) fail(sys_error("getpeername"));
  return e;
}

// The source address the routing table picks towards `to`: what an unbound, unconnected socket's
// datagrams carry. A connected UDP socket learns it without sending anything.
Endpoint route_source(const Endpoint& to) {
  const int fd = socket(to.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, to.sa(), to.len) != 0) fail(sys_error("route lookup towards " + addr_text(to)));
  Endpoint e = local_of(fd);
  close(fd);
  return e;
}

struct Options {
  std::string mode;
  std::string listen, to;
  std::uint64_t send = 0, expect = 0, echo = 0, size = 0;
  std::uint64_t connections = 1, datagrams = 0;
  int hold_ms = 0, start_after_ms = -1, linger_ms = 0, idle_ms = 10'000;
  bool connected = false, unconnected = false;
  std::string go_file;
};

std::uint64_t to_number(const std::string& flag, const char* v) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long n = std::strtoull(v, &end, 10);
  if (*v == '\0' || *end != '\0' || errno != 0) usage(flag + " wants a number, got " + v);
  return n;
}

Options parse_options(int argc, char** argv) {
  if (argc < 2) usage("no mode");
  Options o;
  o.mode = argv[1];
  for (int i = 2; i < argc; ++i) {
    const std::string flag = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) usage(flag + " wants a value");
      return argv[++i];
    };
    auto number = [&] { return to_number(flag, value()); };
    auto millis = [&] { return static_cast<int>(std::min<std::uint64_t>(number(), 86'400'000)); };
    if (flag == "--listen") {
      o.listen = value();
    } else if (flag == "--to") {
      o.to = value();
    } else if (flag == "--send") {
      o.send = number();
    } else if (flag == "--expect") {
      o.expect = number();
    } else if (flag == "--echo") {
      o.echo = number();
    } else if (flag == "--size") {
      o.size = number();
    } else if (flag == "--connections") {
      o.connections = number();
    } else if (flag == "--datagrams") {
      o.datagrams = number();
    } else if (flag == "--hold-ms") {
      o.hold_ms = millis();
    } else if (flag == "--start-after-ms") {
      o.start_after_ms = millis();
    } else if (flag == "--linger-ms") {
      o.linger_ms = millis();
    } else if (flag == "--idle-ms") {
      o.idle_ms = millis();
    } else if (flag == "--go-file") {
      o.go_file = value();
    } else if (flag == "--connected") {
      o.connected = true;
    } else if (flag == "--unconnected") {
      o.unconnected = true;
    } else {
      usage("unknown option " + flag);
    }
  }
  const bool server = o.mode == "tcp-server" || o.mode == "udp-server";
  const bool client = o.mode == "tcp-client" || o.mode == "udp-client";
  if (!server && !client) usage("unknown mode " + o.mode);
  if (server && o.listen.empty()) usage(o.mode + " needs --listen ADDR:PORT");
  if (client && o.to.empty()) usage(o.mode + " needs --to ADDR:PORT");
  if (o.mode == "udp-client") {
    if (o.connected == o.unconnected) usage("udp-client needs one of --connected, --unconnected");
    if (o.size == 0 || o.size > 65000) usage("udp-client needs --size 1..65000");
  }
  return o;
}

void wait_for_go(const Options& o) {
  if (o.go_file.empty() && o.start_after_ms < 0) return;
  emit(head("ready") + "}");
  if (o.start_after_ms >= 0) std::this_thread::sleep_for(std::chrono::milliseconds(o.start_after_ms));
  if (o.go_file.empty()) return;
  const auto deadline = Clock::now() + std::chrono::seconds(120);
  struct stat st {};
  while (stat(o.go_file.c_str(), &st) != 0) {
    if (Clock::now() > deadline) fail("no go file " + o.go_file + " after 120 s");
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

// Waits until fd is readable (or writable); false after `ms`.
bool wait_fd(int fd, short events, int ms) {
  pollfd p{fd, events, 0};
  for (;;) {
    const int r = poll(&p, 1, ms);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) fail(sys_error("poll"));
    return r > 0;
  }
}

struct Flow {
  int proto = 0;
  Endpoint local, remote;
  std::uint64_t sent = 0, received = 0, datagrams_sent = 0, datagrams_received = 0;
  std::int64_t duration_us = 0;
  std::uint64_t retransmits = 0;
};

struct Totals {
  std::uint64_t flows = 0, sent = 0, received = 0;
  std::int64_t max_duration_us = 0;
};

void report(const Flow& f, Totals& t) {
  emit(head("flow") + ",\"proto\":" + std::to_string(f.proto) + ",\"local_addr\":\"" + addr_text(f.local) +
       "\",\"local_port\":" + std::to_string(port_of(f.local)) + ",\"remote_addr\":\"" + addr_text(f.remote) +
       "\",\"remote_port\":" + std::to_string(port_of(f.remote)) + ",\"sent\":" + std::to_string(f.sent) +
       ",\"received\":" + std::to_string(f.received) + ",\"datagrams_sent\":" +
       std::to_string(f.datagrams_sent) + ",\"datagrams_received\":" + std::to_string(f.datagrams_received) +
       ",\"duration_us\":" + std::to_string(f.duration_us) +
       ",\"retransmits\":" + std::to_string(f.retransmits) + "}");
  ++t.flows;
  t.sent += f.sent;
  t.received += f.received;
  t.max_duration_us = std::max(t.max_duration_us, f.duration_us);
}

void finish(const Options& o, const Totals& t) {
  emit(head("total") + ",\"flows\":" + std::to_string(t.flows) + ",\"sent\":" + std::to_string(t.sent) +
       ",\"received\":" + std::to_string(t.received) +
       ",\"max_duration_us\":" + std::to_string(t.max_duration_us) + "}");
  if (o.linger_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(o.linger_ms));
}

// Segments a TCP socket sent again (TCP_INFO tcpi_total_retrans), read once all it sent, FIN
// included, is acknowledged (SIOCOUTQ 0) or `idle_ms` passed: the tests tell a frame the wire
// carried twice from one the capture took twice by it.
std::uint64_t retransmits_when_acked(int fd, int idle_ms) {
  const auto end = Clock::now() + std::chrono::milliseconds(idle_ms);
  int queued = 0;
  while (ioctl(fd, SIOCOUTQ, &queued) == 0 && queued > 0 && Clock::now() < end)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  tcp_info ti{};
  socklen_t len = sizeof ti;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0) fail(sys_error("getsockopt TCP_INFO"));
  return ti.tcpi_total_retrans;
}

std::int64_t micros_since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count();
}

// Writes `n` bytes of a fixed pattern.
void write_bytes(int fd, std::uint64_t n) {
  static char chunk[65536];
  static bool filled = false;
  if (!filled) {
    for (std::size_t i = 0; i < sizeof chunk; ++i) chunk[i] = static_cast<char>('a' + i % 26);
    filled = true;
  }
  while (n > 0) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(n, sizeof chunk));
    const ssize_t w = send(fd, chunk, want, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) fail(sys_error("send"));
    n -= static_cast<std::uint64_t>(w);
  }
}

// Reads until EOF; the byte count. A read that waits over idle_ms is an error.
std::uint64_t read_to_eof(int fd, int idle_ms) {
  static char buf[65536];
  std::uint64_t total = 0;
  for (;;) {
    if (!wait_fd(fd, POLLIN, idle_ms)) fail("no data nor EOF for " + std::to_string(idle_ms) + " ms");
    const ssize_t r = recv(fd, buf, sizeof buf, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) fail(sys_error("recv"));
    if (r == 0) return total;
    total += static_cast<std::uint64_t>(r);
  }
}

int listening_socket(const Options& o, int type) {
  Endpoint at = parse_endpoint(o.listen);
  const int fd = socket(at.family(), type | SOCK_CLOEXEC, 0);
  if (fd < 0) fail(sys_error("socket"));
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (at.family() == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (bind(fd, at.sa(), at.len) != 0) fail(sys_error("bind " + o.listen));
  if (type == SOCK_STREAM && listen(fd, 1024) != 0) fail(sys_error("listen"));
  const Endpoint bound = local_of(fd);
  emit(head("listening") + ",\"proto\":" + (type == SOCK_STREAM ? "6" : "17") + ",\"addr\":\"" +
       addr_text(bound) + "\",\"port\":" + std::to_string(port_of(bound)) + "}");
  return fd;
}

int tcp_server(const Options& o) {
  const int lfd = listening_socket(o, SOCK_STREAM);
  wait_for_go(o);
  Totals t;
  for (std::uint64_t n = 0; o.connections == 0 || n < o.connections; ++n) {
    if (!wait_fd(lfd, POLLIN, o.idle_ms)) {
      if (o.connections == 0) break;
      fail("only " + std::to_string(n) + " of " + std::to_string(o.connections) + " connections came");
    }
    const int fd = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) fail(sys_error("accept"));
    const auto start = Clock::now();
    Flow f;
    f.proto = IPPROTO_TCP;
    f.local = local_of(fd);
    f.remote = remote_of(fd);
    f.received = read_to_eof(fd, o.idle_ms);
    write_bytes(fd, o.echo);
    f.sent = o.echo;
    if (shutdown(fd, SHUT_WR) != 0) fail(sys_error("shutdown"));
    f.retransmits = retransmits_when_acked(fd, o.idle_ms);
    close(fd);
    f.duration_us = micros_since(start);
    report(f, t);
  }
  close(lfd);
  finish(o, t);
  return 0;
}

int tcp_client(const Options& o) {
  const Endpoint to = parse_endpoint(o.to);
  wait_for_go(o);
  Totals t;
  for (std::uint64_t n = 0; n < o.connections; ++n) {
    const auto start = Clock::now();
    const int fd = socket(to.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) fail(sys_error("socket"));
    if (connect(fd, to.sa(), to.len) != 0) fail(sys_error("connect " + o.to));
    Flow f;
    f.proto = IPPROTO_TCP;
    f.local = local_of(fd);
    f.remote = remote_of(fd);
    write_bytes(fd, o.send);
    f.sent = o.send;
    if (shutdown(fd, SHUT_WR) != 0) fail(sys_error("shutdown"));
    f.received = read_to_eof(fd, o.idle_ms);
    if (f.received != o.expect) {
      fail("connection " + std::to_string(n) + " got " + std::to_string(f.received) +
           " bytes back, expected " + std::to_string(o.expect));
    }
    f.retransmits = retransmits_when_acked(fd, o.idle_ms);
    if (o.hold_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(o.hold_ms));
    close(fd);
    f.duration_us = micros_since(start);
    report(f, t);
  }
  finish(o, t);
  return 0;
}

// The remote ends of an unconnected server, in a stable order.
using RemoteKey = std::tuple<int, std::string, std::uint16_t>;

int udp_server(const Options& o) {
  const int fd = listening_socket(o, SOCK_DGRAM);
  const Endpoint local = local_of(fd);
  wait_for_go(o);
  std::map<RemoteKey, Flow> flows;
  static char buf[65536];
  std::uint64_t seen = 0;
  const auto start = Clock::now();
  while (o.datagrams == 0 || seen < o.datagrams) {
    if (!wait_fd(fd, POLLIN, o.idle_ms)) break;
    Endpoint from;
    from.len = sizeof from.ss;
    const ssize_t r = recvfrom(fd, buf, sizeof buf, 0, from.sa(), &from.len);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) fail(sys_error("recvfrom"));
    ++seen;
    Flow& f = flows[{from.family(), addr_text(from), port_of(from)}];
    f.proto = IPPROTO_UDP;
    f.local = local;
    f.remote = from;
    f.received += static_cast<std::uint64_t>(r);
    ++f.datagrams_received;
    const ssize_t w = sendto(fd, buf, static_cast<std::size_t>(r), 0, from.sa(), from.len);
    if (w != r) fail(sys_error("sendto " + addr_text(from)));
    f.sent += static_cast<std::uint64_t>(w);
    ++f.datagrams_sent;
  }
  Totals t;
  for (auto& [key, f] : flows) {
    f.duration_us = micros_since(start);
    report(f, t);
  }
  close(fd);
  if (o.datagrams != 0 && seen < o.datagrams) {
    fail("only " + std::to_string(seen) + " of " + std::to_string(o.datagrams) + " datagrams came");
  }
  finish(o, t);
  return 0;
}

int udp_client(const Options& o) {
  const Endpoint to = parse_endpoint(o.to);
  wait_for_go(o);
  const auto start = Clock::now();
  const int fd = socket(to.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail(sys_error("socket"));
  if (o.connected && connect(fd, to.sa(), to.len) != 0) fail(sys_error("connect " + o.to));
  std::vector<char> out(static_cast<std::size_t>(o.size), 'u');
  static char in[65536];
  Flow f;
  f.proto = IPPROTO_UDP;
  f.remote = to;
  for (std::uint64_t n = 0; n < o.datagrams; ++n) {
    const ssize_t w = o.connected ? send(fd, out.data(), out.size(), 0)
                                  : sendto(fd, out.data(), out.size(), 0, to.sa(), to.len);
    if (w != static_cast<ssize_t>(out.size())) fail(sys_error("send datagram " + std::to_string(n)));
    f.sent += static_cast<std::uint64_t>(w);
    ++f.datagrams_sent;
    if (!wait_fd(fd, POLLIN, o.idle_ms)) fail("no answer to datagram " + std::to_string(n));
    const ssize_t r = recv(fd, in, sizeof in, 0);
    if (r < 0) fail(sys_error("recv answer " + std::to_string(n)));
    f.received += static_cast<std::uint64_t>(r);
    ++f.datagrams_received;
  }
  if (o.hold_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(o.hold_ms));
  // Unconnected: the port was bound by the first sendto, the address is whatever the route gave.
  f.local = local_of(fd);
  if (o.unconnected) {
    const std::uint16_t port = port_of(f.local);
    f.local = route_source(to);
    if (f.local.family() == AF_INET) {
      reinterpret_cast<sockaddr_in*>(&f.local.ss)->sin_port = htons(port);
    } else {
      reinterpret_cast<sockaddr_in6*>(&f.local.ss)->sin6_port = htons(port);
    }
  }
  close(fd);
  f.duration_us = micros_since(start);
  Totals t;
  report(f, t);
  finish(o, t);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse_options(argc, argv);
  if (o.mode == "tcp-server") return tcp_server(o);
  if (o.mode == "tcp-client") return tcp_client(o);
  if (o.mode == "udp-server") return udp_server(o);
  return udp_client(o);
}
