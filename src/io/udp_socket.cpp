#include "io/udp_socket.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/ip_address.hpp"
#include "core/log.hpp"

namespace flowpulse::io {
namespace {

std::string where(const config::Listener& l) {
  return (l.address.find(':') != std::string::npos ? "[" + l.address + "]" : l.address) + ":" +
         std::to_string(l.port);
}

core::Error os_error(const config::Listener& l, const char* what) {
  return core::Error{std::string("listener ") + decode::to_string(l.protocol) + " " + where(l) + ": " + what +
                     ": " + std::strerror(errno)};
}

}  // namespace

UdpSocket& UdpSocket::operator=(UdpSocket&& o) noexcept {
  if (this != &o) {
    close();
    fd_ = o.fd_;
    receive_buffer_ = o.receive_buffer_;
    port_ = o.port_;
    inode_ = o.inode_;
    o.fd_ = -1;
  }
  return *this;
}

UdpSocket::~UdpSocket() { close(); }

void UdpSocket::close() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

core::Result<UdpSocket> UdpSocket::open(const config::Listener& l, bool reuse_port) {
  auto addr = core::parse_ip(l.address);
  if (!addr) return core::Error{"listener " + where(l) + ": not an IP address"};
  const bool v6 = addr->family == 6;
  UdpSocket s;
  s.fd_ = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s.fd_ < 0) return os_error(l, "socket");
  const int one = 1;
  const int zero = 0;
  if (v6 && setsockopt(s.fd_, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero) != 0)
    return os_error(l, "IPV6_V6ONLY");
  if (reuse_port && setsockopt(s.fd_, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    return os_error(l, "SO_REUSEPORT");
  }
  // Kernel drops on this socket are reported with each datagram (cmsg), counted as a metric.
  if (setsockopt(s.fd_, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one) != 0) return os_error(l, "SO_RXQ_OVFL");
  if (!l.interface.empty() && setsockopt(s.fd_, SOL_SOCKET, SO_BINDTODEVICE, l.interface.c_str(),
                                         static_cast<socklen_t>(l.interface.size())) != 0) {
    return os_error(l, ("SO_BINDTODEVICE " + l.interface).c_str());
  }
  const int want = static_cast<int>(std::min<std::uint64_t>(l.receive_buffer, INT32_MAX / 2));
  // SO_RCVBUFFORCE passes net.core.rmem_max when we have CAP_NET_ADMIN; otherwise the kernel caps it.
  if (setsockopt(s.fd_, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof want) != 0) {
    setsockopt(s.fd_, SOL_SOCKET, SO_RCVBUF, &want, sizeof want);
  }
  int got = 0;
  socklen_t len = sizeof got;
  getsockopt(s.fd_, SOL_SOCKET, SO_RCVBUF, &got, &len);
  s.receive_buffer_ =
      static_cast<std::uint64_t>(got) / 2;  // the kernel reports twice what it accounts as data
  if (s.receive_buffer_ < static_cast<std::uint64_t>(want)) {
    log::warn("receive buffer smaller than configured; raise net.core.rmem_max or run as root",
              {{"listener", where(l)}, {"configured", want}, {"granted", s.receive_buffer_}});
  }

  sockaddr_storage ss{};
  socklen_t ss_len;
  if (v6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(l.port);
    std::memcpy(&a->sin6_addr, addr->bytes.data(), 16);
    ss_len = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(l.port);
    std::memcpy(&a->sin_addr, &addr->bytes[12], 4);
    ss_len = sizeof *a;
  }
  if (::bind(s.fd_, reinterpret_cast<sockaddr*>(&ss), ss_len) != 0) return os_error(l, "bind");
  sockaddr_storage bound{};
  socklen_t bound_len = sizeof bound;
  getsockname(s.fd_, reinterpret_cast<sockaddr*>(&bound), &bound_len);
  s.port_ = ntohs(v6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                     : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  struct stat st {};
  if (fstat(s.fd_, &st) == 0) s.inode_ = st.st_ino;
  return s;
}

std::unordered_map<std::uint64_t, UdpSocketState> read_proc_udp() {
  std::unordered_map<std::uint64_t, UdpSocketState> out;
  for (const char* path : {"/proc/net/udp", "/proc/net/udp6"}) {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);  // header
    // sl local rem st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ref pointer drops
    while (std::getline(in, line)) {
      std::istringstream f(line);
      std::string sl, local, rem, st, queues, timer, retr, uid, timeout, inode, ref, pointer, drops;
      f >> sl >> local >> rem >> st >> queues >> timer >> retr >> uid >> timeout >> inode >> ref >> pointer >>
          drops;
      if (!f) continue;
      UdpSocketState s;
      s.rx_queue = std::stoull(queues.substr(queues.find(':') + 1), nullptr, 16);
      s.drops = std::stoull(drops);
      out[std::stoull(inode)] = s;
    }
  }
  return out;
}

}  // namespace flowpulse::io
