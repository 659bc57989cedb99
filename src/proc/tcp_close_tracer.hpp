// The owners of TCP connections as they close, from the kernel (bpf/tcp_close.bpf.c on the
// tracepoint sock/inet_sock_set_state): close() or shutdown() moves a socket to FIN_WAIT1 or
// LAST_ACK in the context of the process that owns it, so each event is (pid, 5-tuple). Process
// attribution uses it for connections that open and close between two socket-table refreshes,
// which a socket dump never sees.
//
// Needs root (CAP_BPF, CAP_PERFMON) and tracefs: when /sys/kernel/tracing is not mounted it is
// mounted there. Not available when flowpulse is built without libbpf.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "core/result.hpp"
#include "flowpulse/flow_record.hpp"

struct bpf_object;
struct ring_buffer;
struct bpf_link;

namespace flowpulse::proc {

struct TcpCloseEvent {
  std::int32_t pid = 0;  // the process (thread group) that closed it
  IpAddress local;       // the closing socket's own end
  IpAddress remote;
  std::uint16_t local_port = 0;
  std::uint16_t remote_port = 0;
};

class TcpCloseTracer {
 public:
  static core::Result<std::unique_ptr<TcpCloseTracer>> open();
  ~TcpCloseTracer();
  TcpCloseTracer(const TcpCloseTracer&) = delete;
  TcpCloseTracer& operator=(const TcpCloseTracer&) = delete;

  // Hands every event waiting in the ring to `f`, without blocking; returns how many.
  std::size_t drain(const std::function<void(const TcpCloseEvent&)>& f);
  // Events the kernel could not queue (ring full).
  std::uint64_t dropped() const;

 private:
  TcpCloseTracer() = default;
  bpf_object* object_ = nullptr;
  bpf_link* link_ = nullptr;
  ring_buffer* ring_ = nullptr;
  int dropped_fd_ = -1;
  const std::function<void(const TcpCloseEvent&)>* sink_ = nullptr;
};

}  // namespace flowpulse::proc
