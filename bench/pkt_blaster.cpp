// pkt_blaster: the steady UDP load of the process-attribution benchmark (bench/attribution_bench.sh).
// Sender: one connected UDP socket sends fixed-size datagrams at a paced rate for N seconds. Pacing
// follows a monotonic clock: before each sendmmsg it sends what is due by now (at most one batch),
// so a late wake-up is made up at once and the achieved rate holds to the packet count
// rate × seconds, not to how well the sleeps land. One socket means one 5-tuple and one process: the
// attribution tools see one flow of one pid at exactly the offered rate.
// Receiver (--receive PORT): an unconnected socket (IPv6 dual-stack, so it takes both families)
// counts datagrams and bytes with recvmmsg until SIGINT/SIGTERM or --seconds after the first one.
// Both print one JSON line on stdout at the end, for scripts.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bench_args.hpp"
#include "core/json.hpp"

namespace flowpulse::bench {
namespace {

constexpr const char* usage =
    "usage: pkt_blaster --to ADDR:PORT [--rate R] [--seconds S] [--size B] [--batch N]\n"
    "       pkt_blaster --receive [ADDR:]PORT [--seconds S] [--batch N]\n"
    "\n"
    "Sends UDP datagrams from one connected socket at a paced rate (sendmmsg), or receives and\n"
    "counts them (recvmmsg). The last line on stdout is a JSON object: packets, bytes, seconds, rate.\n"
    "\n"
    "  --to ADDR:PORT      send to ADDR (IPv4, or IPv6 in brackets: [::1]:9000)\n"
    "  --rate R            datagrams per second, > 0 (default 100000)\n"
    "  --seconds S         send for S seconds (default 10); with --receive: stop S seconds after the\n"
    "                      first datagram (default: run until SIGINT or SIGTERM)\n"
    "  --size B            UDP payload bytes, 0-65507 (default 100)\n"
    "  --batch N           most datagrams per sendmmsg/recvmmsg call, 1-1024 (default 64)\n"
    "  --receive [ADDR:]PORT\n"
    "                      receive on PORT (default address [::], which also takes IPv4)\n"
    "  -h, --help          this text\n";

constexpr std::size_t max_payload = 65507;  // IPv4's limit; IPv6 allows 20 more, not worth a flag

struct Options {
  std::string to;       // ADDR:PORT, sender
  std::string receive;  // [ADDR:]PORT, receiver
  double rate = 100000;
  double seconds = 10;
  bool seconds_given = false;
  std::size_t size = 100;
  unsigned batch = 64;
};

std::atomic<bool> stop_requested{false};

extern "C" void on_signal(int) { stop_requested.store(true, std::memory_order_relaxed); }

// Parses argv; on error returns the message (an empty optional means fine).
std::optional<std::string> parse_options(int argc, char** argv, Options& o, bool& help) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    std::uint64_t u = 0;
    if (a == "-h" || a == "--help") {
      help = true;
      return std::nullopt;
    } else if (a == "--to") {
      const char* v = value();
      if (v == nullptr) return "--to needs ADDR:PORT";
      o.to = v;
    } else if (a == "--receive") {
      const char* v = value();
      if (v == nullptr) return "--receive needs a PORT";
      o.receive = v;
    } else if (a == "--rate") {
      if (!bench::parse_double(value(), o.rate) || o.rate <= 0 || o.rate > 1e9)
        return "--rate needs datagrams per second > 0";
    } else if (a == "--seconds") {
      if (!bench::parse_double(value(), o.seconds) || o.seconds <= 0 || o.seconds > 1e9)
        return "--seconds needs a number of seconds > 0";
      o.seconds_given = true;
    } else if (a == "--size") {
      if (!bench::parse_u64(value(), u) || u > max_payload)
        return "--size needs payload bytes from 0 to 65507";
      o.size = static_cast<std::size_t>(u);
    } else if (a == "--batch") {
      if (!bench::parse_u64(value(), u) || u == 0 || u > 1024) return "--batch needs a number from 1 to 1024";
      o.batch = static_cast<unsigned>(u);
    } else {
      return "unknown argument '" + std::string(a) + "'";
    }
  }
  if (o.to.empty() == o.receive.empty()) return "give exactly one of --to ADDR:PORT and --receive PORT";
  return std::nullopt;
}

struct Endpoint {
  sockaddr_storage addr{};
  socklen_t len = 0;
};

// "ADDR:PORT", "[V6]:PORT", or with allow_bare_port a bare "PORT" (then [::]).
std::optional<Endpoint> parse_endpoint(std::string_view text, bool allow_bare_port) {
  std::string host;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else if (const auto colon = text.rfind(':'); colon != std::string_view::npos) {
    if (text.find(':') != colon) return std::nullopt;  // a bare IPv6 address: brackets needed
    host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
  } else if (allow_bare_port) {
    host = "::";
    port_text = text;
  } else {
    return std::nullopt;
  }
  std::uint64_t port = 0;
  if (!bench::parse_u64(std::string(port_text).c_str(), port) || port == 0 || port > 65535)
    return std::nullopt;
  Endpoint e;
  auto* a4 = reinterpret_cast<sockaddr_in*>(&e.addr);
  auto* a6 = reinterpret_cast<sockaddr_in6*>(&e.addr);
  if (inet_pton(AF_INET, host.c_str(), &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons(static_cast<std::uint16_t>(port));
    e.len = sizeof(sockaddr_in);
    return e;
  }
  if (inet_pton(AF_INET6, host.c_str(), &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(static_cast<std::uint16_t>(port));
    e.len = sizeof(sockaddr_in6);
    return e;
  }
  return std::nullopt;
}

// Owns a socket fd.
class Socket {
 public:
  explicit Socket(int fd) : fd_(fd) {}
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  int fd() const { return fd_; }

 private:
  int fd_;
};

std::uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<std::uint64_t>(ts.tv_nsec);
}

void sleep_until(std::uint64_t t) {
  const timespec ts{static_cast<time_t>(t / 1'000'000'000ULL), static_cast<long>(t % 1'000'000'000ULL)};
  // EINTR: a signal came; the caller looks at stop_requested.
  clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
}

std::string fmt_double(double v) {
  char b[64];
  std::snprintf(b, sizeof b, "%.3f", v);
  return b;
}

struct Totals {
  std::uint64_t packets = 0;
  std::uint64_t bytes = 0;
  double seconds = 0;
  std::uint64_t refused = 0;  // sender: sends that got ECONNREFUSED (nothing listening)
  std::string error;
};

void print_json(const char* mode, const std::string& endpoint, const Options& o, const Totals& t) {
  const double rate = t.seconds > 0 ? static_cast<double>(t.packets) / t.seconds : 0;
  std::string j = "{\"mode\":";
  core::append_json_string(j, mode);
  j += ",\"endpoint\":";
  core::append_json_string(j, endpoint);
  if (std::string_view(mode) == "send") {
    j += ",\"target_rate\":" + fmt_double(o.rate);
    j += ",\"size\":" + std::to_string(o.size);
    j += ",\"refused\":" + std::to_string(t.refused);
  }
  j += ",\"packets\":" + std::to_string(t.packets);
  j += ",\"bytes\":" + std::to_string(t.bytes);
  j += ",\"seconds\":" + fmt_double(t.seconds);
  j += ",\"packets_per_second\":" + fmt_double(rate);
  j += ",\"error\":";
  core::append_json_string(j, t.error);
  j += "}";
  std::printf("%s\n", j.c_str());
  std::fflush(stdout);
}

Totals send(const Options& o, const Endpoint& dest) {
  Totals t;
  Socket sock(::socket(dest.addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (sock.fd() < 0) {
    t.error = std::string("socket: ") + std::strerror(errno);
    return t;
  }
  const int sndbuf = 4 << 20;
  ::setsockopt(sock.fd(), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  if (::connect(sock.fd(), reinterpret_cast<const sockaddr*>(&dest.addr), dest.len) != 0) {
    t.error = std::string("connect: ") + std::strerror(errno);
    return t;
  }
  // Every datagram is the same bytes: one buffer, one iovec, shared by all messages.
  std::vector<std::uint8_t> payload(std::max<std::size_t>(o.size, 1), 0x5a);
  iovec iov{payload.data(), o.size};
  std::vector<mmsghdr> msgs(o.batch);
  for (auto& m : msgs) {
    m.msg_hdr = msghdr{};
    m.msg_hdr.msg_iov = &iov;
    m.msg_hdr.msg_iovlen = 1;
  }

  const auto total = static_cast<std::uint64_t>(std::llround(o.rate * o.seconds));
  const double ns_per_packet = 1e9 / o.rate;
  const std::uint64_t start = now_ns();
  std::uint64_t sent = 0;
  std::uint64_t last = start;
  while (sent < total && !stop_requested.load(std::memory_order_relaxed)) {
    const std::uint64_t now = now_ns();
    const auto due = std::min<std::uint64_t>(
        total, static_cast<std::uint64_t>(static_cast<double>(now - start) / ns_per_packet) + 1);
    if (due <= sent) {
      // Sleep until a whole batch is due (or the last, smaller one), not for every packet.
      const std::uint64_t next = std::min<std::uint64_t>(sent + o.batch, total);
      sleep_until(start + static_cast<std::uint64_t>(static_cast<double>(next - 1) * ns_per_packet));
      continue;
    }
    const auto k = static_cast<unsigned>(std::min<std::uint64_t>(due - sent, o.batch));
    const int r = ::sendmmsg(sock.fd(), msgs.data(), k, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == ECONNREFUSED) {  // an ICMP error for an earlier datagram; this call sent nothing
        ++t.refused;
        continue;
      }
      if (errno == ENOBUFS || errno == EAGAIN) continue;  // a full queue for a moment
      t.error = std::string("sendmmsg: ") + std::strerror(errno);
      break;
    }
    sent += static_cast<std::uint64_t>(r);
    last = now_ns();
  }
  t.packets = sent;
  t.bytes = sent * o.size;
  t.seconds = static_cast<double>(last - start) / 1e9;
  return t;
}

Totals receive(const Options& o, const Endpoint& local) {
  Totals t;
  Socket sock(::socket(local.addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (sock.fd() < 0) {
    t.error = std::string("socket: ") + std::strerror(errno);
    return t;
  }
  if (local.addr.ss_family == AF_INET6) {
    const int off = 0;
    ::setsockopt(sock.fd(), IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
  }
  const int one = 1;
  ::setsockopt(sock.fd(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  // The most rmem_max allows: the receiver must not be the bottleneck of the load.
  const int rcvbuf = 8 << 20;
  ::setsockopt(sock.fd(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  // A timeout, so a stop signal that lands just before recvmmsg blocks is seen within 200 ms.
  const timeval tv{0, 200'000};
  ::setsockopt(sock.fd(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::bind(sock.fd(), reinterpret_cast<const sockaddr*>(&local.addr), local.len) != 0) {
    t.error = std::string("bind: ") + std::strerror(errno);
    return t;
  }
  std::fprintf(stderr, "pkt_blaster: receiving on %s\n", o.receive.c_str());

  constexpr std::size_t slot = 65536;
  std::vector<std::uint8_t> buf(slot * o.batch);
  std::vector<iovec> iov(o.batch);
  std::vector<mmsghdr> msgs(o.batch);
  for (unsigned i = 0; i < o.batch; ++i) {
    iov[i] = {buf.data() + i * slot, slot};
    msgs[i].msg_hdr = msghdr{};
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  const auto limit = static_cast<std::uint64_t>(o.seconds * 1e9);
  while (!stop_requested.load(std::memory_order_relaxed)) {
    if (o.seconds_given && first != 0 && now_ns() - first >= limit) break;
    const int r = ::recvmmsg(sock.fd(), msgs.data(), o.batch, MSG_WAITFORONE, nullptr);
    if (r < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      t.error = std::string("recvmmsg: ") + std::strerror(errno);
      break;
    }
    last = now_ns();
    if (first == 0) first = last;
    t.packets += static_cast<std::uint64_t>(r);
    for (int i = 0; i < r; ++i) t.bytes += msgs[i].msg_len;
  }
  // From the first datagram to the last: the time the load ran, not how long the receiver waited.
  t.seconds = first == 0 ? 0 : static_cast<double>(last - first) / 1e9;
  return t;
}

int run(int argc, char** argv) {
  Options o;
  bool help = false;
  if (auto err = parse_options(argc, argv, o, help)) {
    std::fprintf(stderr, "pkt_blaster: %s\n\n%s", err->c_str(), usage);
    return 2;
  }
  if (help) {
    std::fputs(usage, stdout);
    return 0;
  }
  const bool receiving = !o.receive.empty();
  const std::string& endpoint_text = receiving ? o.receive : o.to;
  const auto endpoint = parse_endpoint(endpoint_text, receiving);
  if (!endpoint) {
    std::fprintf(stderr, "pkt_blaster: '%s' is not %s (e.g. 127.0.0.1:9000 or [::1]:9000)\n\n%s",
                 endpoint_text.c_str(), receiving ? "[ADDR:]PORT" : "ADDR:PORT", usage);
    return 2;
  }

  struct sigaction sa {};
  sa.sa_handler = on_signal;  // no SA_RESTART: a blocked recvmmsg returns EINTR
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  // Sleeps of a fraction of a millisecond: the default 50 us timer slack would be 5 packets late.
  prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);

  const Totals t = receiving ? receive(o, *endpoint) : send(o, *endpoint);
  print_json(receiving ? "receive" : "send", endpoint_text, o, t);
  if (!t.error.empty()) {
    std::fprintf(stderr, "pkt_blaster: %s\n", t.error.c_str());
    return 1;
  }
  if (t.refused != 0) {
    std::fprintf(stderr, "pkt_blaster: %llu sends refused: is a receiver listening on %s?\n",
                 static_cast<unsigned long long>(t.refused), endpoint_text.c_str());
  }
  return 0;
}

}  // namespace
}  // namespace flowpulse::bench

int main(int argc, char** argv) { return flowpulse::bench::run(argc, argv); }
