// A UDP listener socket for flow exports (RAII over the fd): dual stack on "::", an optional
// interface binding, SO_REUSEPORT so each worker can own a socket on the same port, the configured
// receive buffer (forced when root) with a warning when the kernel grants less, and SO_RXQ_OVFL so
// kernel drops can be read from each batch.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

#include "config/config.hpp"
#include "core/result.hpp"

namespace flowpulse::io {

class UdpSocket {
 public:
  UdpSocket() = default;
  UdpSocket(UdpSocket&& o) noexcept
      : fd_(o.fd_), receive_buffer_(o.receive_buffer_), port_(o.port_), inode_(o.inode_) {
    o.fd_ = -1;
  }
  UdpSocket& operator=(UdpSocket&& o) noexcept;
  UdpSocket(const UdpSocket&) = delete;
  UdpSocket& operator=(const UdpSocket&) = delete;
  ~UdpSocket();

  // Binds per the listener entry. `reuse_port` lets several sockets share the port (one per worker).
  static core::Result<UdpSocket> open(const config::Listener& l, bool reuse_port);

  int fd() const noexcept { return fd_; }
  std::uint64_t receive_buffer() const noexcept { return receive_buffer_; }  // as granted by the kernel
  std::uint16_t port() const noexcept { return port_; }                      // as bound (port 0 picks one)
  std::uint64_t inode() const noexcept { return inode_; }                    // to find it in /proc/net/udp
  void close() noexcept;

 private:
  int fd_ = -1;
  std::uint64_t receive_buffer_ = 0;
  std::uint16_t port_ = 0;
  std::uint64_t inode_ = 0;
};

// Per UDP socket of this network namespace (by inode): bytes queued for reading and datagrams the
// kernel dropped, from /proc/net/udp and /proc/net/udp6.
struct UdpSocketState {
  std::uint64_t rx_queue = 0;
  std::uint64_t drops = 0;
};
std::unordered_map<std::uint64_t, UdpSocketState> read_proc_udp();

}  // namespace flowpulse::io
