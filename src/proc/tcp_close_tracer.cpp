#include "proc/tcp_close_tracer.hpp"

#include "flowpulse_build_config.hpp"

#if FLOWPULSE_HAVE_LIBBPF
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <string>
#endif

namespace flowpulse::proc {
#if FLOWPULSE_HAVE_LIBBPF
namespace {

// The layout bpf/tcp_close.bpf.c writes.
struct RawEvent {
  std::uint32_t tgid;
  std::uint16_t family;
  std::uint16_t sport;
  std::uint16_t dport;
  std::uint16_t pad;
  std::uint8_t saddr[16];
  std::uint8_t daddr[16];
};
static_assert(sizeof(RawEvent) == 44);

core::Status ensure_tracefs() {
  struct stat st;
  if (::stat("/sys/kernel/tracing/events", &st) == 0 || ::stat("/sys/kernel/debug/tracing/events", &st) == 0)
    return core::Ok{};
  if (::mount("nodev", "/sys/kernel/tracing", "tracefs", 0, nullptr) != 0)
    return core::Error{std::string("tracefs is not mounted and cannot be mounted at /sys/kernel/tracing: ") +
                       std::strerror(errno)};
  return core::Ok{};
}

}  // namespace

core::Result<std::unique_ptr<TcpCloseTracer>> TcpCloseTracer::open() {
  if (auto st = ensure_tracefs(); !st.ok()) return core::Error{"TCP close tracer: " + st.error()};
  std::unique_ptr<TcpCloseTracer> t(new TcpCloseTracer());
  t->object_ = bpf_object__open_file(FLOWPULSE_TCP_CLOSE_OBJECT, nullptr);
  if (t->object_ == nullptr)
    return core::Error{std::string("TCP close tracer: cannot open " FLOWPULSE_TCP_CLOSE_OBJECT ": ") +
                       std::strerror(errno)};
  if (int err = bpf_object__load(t->object_); err != 0)
    return core::Error{std::string("TCP close tracer: the kernel refused the program: ") +
                       std::strerror(-err)};
  bpf_program* prog = bpf_object__find_program_by_name(t->object_, "tcp_close");
  t->link_ = prog != nullptr ? bpf_program__attach(prog) : nullptr;
  if (t->link_ == nullptr)
    return core::Error{std::string("TCP close tracer: cannot attach to sock/inet_sock_set_state: ") +
                       std::strerror(errno)};
  const int events = bpf_object__find_map_fd_by_name(t->object_, "events");
  t->dropped_fd_ = bpf_object__find_map_fd_by_name(t->object_, "dropped");
  t->ring_ = ring_buffer__new(
      events,
      [](void* ctx, void* data, std::size_t size) -> int {
        auto* self = static_cast<TcpCloseTracer*>(ctx);
        if (size < sizeof(RawEvent) || self->sink_ == nullptr) return 0;
        RawEvent r;
        std::memcpy(&r, data, sizeof r);
        TcpCloseEvent e;
        e.pid = static_cast<std::int32_t>(r.tgid);
        e.local_port = r.sport;
        e.remote_port = r.dport;
        if (r.family == 2) {
          e.local = IpAddress::v4_bytes(r.saddr);
          e.remote = IpAddress::v4_bytes(r.daddr);
        } else {
          e.local = IpAddress::v6_bytes(r.saddr);
          e.remote = IpAddress::v6_bytes(r.daddr);
        }
        (*self->sink_)(e);
        return 0;
      },
      t.get(), nullptr);
  if (t->ring_ == nullptr)
    return core::Error{std::string("TCP close tracer: ring buffer: ") + std::strerror(errno)};
  return t;
}

TcpCloseTracer::~TcpCloseTracer() {
  if (ring_ != nullptr) ring_buffer__free(ring_);
  if (link_ != nullptr) bpf_link__destroy(link_);
  if (object_ != nullptr) bpf_object__close(object_);
}

std::size_t TcpCloseTracer::drain(const std::function<void(const TcpCloseEvent&)>& f) {
  sink_ = &f;
  const int n = ring_buffer__consume(ring_);
  sink_ = nullptr;
  return n > 0 ? static_cast<std::size_t>(n) : 0;
}

std::uint64_t TcpCloseTracer::dropped() const {
  std::uint32_t key = 0;
  std::uint64_t value = 0;
  if (dropped_fd_ >= 0) bpf_map_lookup_elem(dropped_fd_, &key, &value);
  return value;
}

#else  // built without libbpf: no tracer, said once by the caller

core::Result<std::unique_ptr<TcpCloseTracer>> TcpCloseTracer::open() {
  return core::Error{"TCP close tracer: this flowpulse was built without libbpf (meson -Dafxdp=enabled)"};
}
TcpCloseTracer::~TcpCloseTracer() = default;
std::size_t TcpCloseTracer::drain(const std::function<void(const TcpCloseEvent&)>&) { return 0; }
std::uint64_t TcpCloseTracer::dropped() const { return 0; }

#endif
}  // namespace flowpulse::proc
