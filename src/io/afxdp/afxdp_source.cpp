// XDP program attach/detach through libxdp and the AF_XDP socket with its UMEM. The only file of the
// project with libxdp/libbpf includes (they must not meet pcap/pcap.h).
#include "io/afxdp/afxdp_source.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <net/if.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <xdp/libxdp.h>
#include <xdp/xsk.h>

#include <cerrno>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <mutex>
#include <thread>

#include "core/log.hpp"

#ifndef FLOWPULSE_XDP_OBJECT
#error "FLOWPULSE_XDP_OBJECT (the built flowpulse_xdp.bpf.o) must be defined by the build"
#endif

namespace flowpulse::io::afxdp {
namespace {

constexpr std::uint32_t frame_size = XSK_UMEM__DEFAULT_FRAME_SIZE;  // 4096

// Must match struct fp_selection in flowpulse_xdp.bpf.c.
struct FpSelection {
  std::uint32_t protocols;
  std::uint16_t port;
  std::uint16_t pad;
};

std::string errno_text(int err) { return std::strerror(err < 0 ? -err : err); }

// libxdp and libbpf talk on stderr by default; their lines go to the debug log instead (a failed
// native attach or a missing dispatcher is expected and reported once by us).
int library_print(const char* prefix, const char* format, va_list args) {
  if (!log::enabled(log::Level::debug)) return 0;
  char line[512];
  const int n = std::vsnprintf(line, sizeof line, format, args);
  std::string_view text(line,
                        n < 0 ? 0 : std::min<std::size_t>(static_cast<std::size_t>(n), sizeof line - 1));
  while (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  log::debug(text, {{"lib", prefix}});
  return n;
}
int libxdp_print(enum libxdp_print_level, const char* format, va_list args) {
  return library_print("libxdp", format, args);
}
int libbpf_print(enum libbpf_print_level, const char* format, va_list args) {
  return library_print("libbpf", format, args);
}

void quiet_libraries() {
  static std::once_flag once;
  std::call_once(once, [] {
    libxdp_set_print(libxdp_print);
    libbpf_set_print(libbpf_print);
  });
}

void report_single_program_mode_once(const std::string& ifname) {
  static std::once_flag once;
  std::call_once(once, [&] {
    log::info(
        "libxdp dispatcher unavailable (it needs kernel BTF): flowpulse's XDP program runs alone on each "
        "interface, so no other XDP program can share it",
        {{"interface", ifname}});
  });
}

std::uint64_t realtime_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<std::uint64_t>(ts.tv_nsec);
}

}  // namespace

const char* to_string(AttachMode mode) noexcept { return mode == AttachMode::native ? "native" : "generic"; }

core::Result<std::shared_ptr<XdpProgram>> XdpProgram::attach(const std::string& ifname,
                                                             const Selection& selection,
                                                             const std::string& object_path,
                                                             bool force_generic) {
  quiet_libraries();
  const std::string what = "xdp on " + ifname;
  const unsigned index = if_nametoindex(ifname.c_str());
  if (index == 0) return core::Error{what + ": no such interface (" + errno_text(errno) + ")"};
  const std::string path = object_path.empty() ? std::string(FLOWPULSE_XDP_OBJECT) : object_path;

  std::shared_ptr<XdpProgram> p(new XdpProgram());
  p->ifname_ = ifname;
  p->ifindex_ = static_cast<int>(index);

  // A program attaches once: each mode needs a freshly opened one after a failed attempt.
  int last_err = 0;
  for (AttachMode mode : {AttachMode::native, AttachMode::generic}) {
    if (mode == AttachMode::native && force_generic) continue;
    ::xdp_program* prog = xdp_program__open_file(path.c_str(), nullptr, nullptr);
    if (const long err = libxdp_get_error(prog); err != 0 || prog == nullptr) {
      return core::Error{what + ": cannot open the XDP object " + path + ": " +
                         errno_text(static_cast<int>(err)) +
                         " (build it with the project: ninja builds src/io/afxdp/flowpulse_xdp.bpf.o)"};
    }
    const int rc = xdp_program__attach(prog, p->ifindex_,
                                       mode == AttachMode::native ? XDP_MODE_NATIVE : XDP_MODE_SKB, 0);
    if (rc == 0) {
      p->program_ = prog;
      p->mode_ = mode;
      break;
    }
    last_err = rc;
    xdp_program__close(prog);
    if (mode == AttachMode::native) {
      log::info("native XDP attach failed, trying generic (SKB) mode",
                {{"interface", ifname}, {"error", errno_text(rc)}});
    }
  }
  if (p->program_ == nullptr) {
    return core::Error{what + ": cannot attach the XDP program: " + errno_text(last_err) +
                       (last_err == -EEXIST || last_err == -EBUSY
                            ? " (another XDP program is attached: `xdp-loader status " + ifname + "`)"
                            : " (needs root or CAP_NET_ADMIN + CAP_BPF)")};
  }
  if (::xdp_multiprog* mp = xdp_multiprog__get_from_ifindex(p->ifindex_);
      libxdp_get_error(mp) == 0 && mp != nullptr) {
    if (xdp_multiprog__is_legacy(mp)) report_single_program_mode_once(ifname);
    xdp_multiprog__close(mp);
  }

  bpf_object* obj = xdp_program__bpf_obj(p->program_);
  p->xsks_map_fd_ = bpf_object__find_map_fd_by_name(obj, "xsks_map");
  p->config_map_fd_ = bpf_object__find_map_fd_by_name(obj, "fp_config");
  if (p->xsks_map_fd_ < 0 || p->config_map_fd_ < 0) {
    return core::Error{what + ": " + path + " has no xsks_map/fp_config map: not flowpulse's XDP program"};
  }
  if (auto st = p->select(selection); !st) return core::Error{st.error()};
  log::info("xdp program attached", {{"interface", ifname},
                                     {"mode", to_string(p->mode_)},
                                     {"protocols", selection.protocols},
                                     {"port", static_cast<unsigned>(selection.port)}});
  return p;
}

XdpProgram::~XdpProgram() {
  if (program_ == nullptr) return;
  const int rc = xdp_program__detach(program_, ifindex_,
                                     mode_ == AttachMode::native ? XDP_MODE_NATIVE : XDP_MODE_SKB, 0);
  if (rc != 0) {
    log::warn("cannot detach the XDP program; remove it with `xdp-loader unload`",
              {{"interface", ifname_}, {"error", errno_text(rc)}});
  }
  xdp_program__close(program_);
}

core::Status XdpProgram::select(const Selection& selection) {
  const FpSelection value{selection.protocols, selection.port, 0};
  const std::uint32_t key = 0;
  if (bpf_map_update_elem(config_map_fd_, &key, &value, BPF_ANY) != 0) {
    return core::Error{"xdp on " + ifname_ + ": cannot write the selection map: " + errno_text(errno)};
  }
  return core::Ok{};
}

struct AfXdpSource::Rings {
  void* umem_area = nullptr;
  std::size_t umem_bytes = 0;
  xsk_umem* umem = nullptr;
  xsk_socket* xsk = nullptr;
  xsk_ring_prod fill{};
  xsk_ring_cons comp{};
  xsk_ring_cons rx{};
  int fd = -1;

  ~Rings() {
    if (xsk != nullptr) xsk_socket__delete(xsk);
    if (umem != nullptr) (void)xsk_umem__delete(umem);
    if (umem_area != nullptr) munmap(umem_area, umem_bytes);
  }
};

AfXdpSource::AfXdpSource() : rings_(std::make_unique<Rings>()) {}

AfXdpSource::~AfXdpSource() = default;  // Rings deletes socket, UMEM, mapping in that order

core::Result<std::unique_ptr<AfXdpSource>> AfXdpSource::open(std::shared_ptr<XdpProgram> program,
                                                             const SocketOptions& options) {
  if (!program) return core::Error{"afxdp: no XDP program"};
  const std::string what = "afxdp " + program->ifname() + " queue " + std::to_string(options.queue);
  if (options.frames == 0 || (options.frames & (options.frames - 1)) != 0 || options.rx_size == 0 ||
      (options.rx_size & (options.rx_size - 1)) != 0) {
    return core::Error{what + ": frames and rx_size must be powers of two"};
  }
  std::unique_ptr<AfXdpSource> s(new AfXdpSource());
  s->program_ = std::move(program);
  s->queue_ = options.queue;
  Rings& r = *s->rings_;

  r.umem_bytes = static_cast<std::size_t>(options.frames) * frame_size;
  void* area =
      mmap(nullptr, r.umem_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (area == MAP_FAILED) return core::Error{what + ": cannot map the UMEM: " + errno_text(errno)};
  r.umem_area = area;
  xsk_umem_config ucfg{};
  ucfg.fill_size = options.frames;  // every frame fits on the fill ring: release() never waits
  ucfg.comp_size = XSK_RING_CONS__DEFAULT_NUM_DESCS;
  ucfg.frame_size = frame_size;
  ucfg.frame_headroom = 0;
  ucfg.flags = 0;
  if (int rc = xsk_umem__create(&r.umem, r.umem_area, r.umem_bytes, &r.fill, &r.comp, &ucfg); rc != 0) {
    r.umem = nullptr;
    return core::Error{what + ": cannot register the UMEM: " + errno_text(rc) +
                       (rc == -EPERM || rc == -ENOMEM ? " (needs root, or a higher RLIMIT_MEMLOCK)" : "")};
  }
  std::uint32_t idx = 0;
  if (xsk_ring_prod__reserve(&r.fill, options.frames, &idx) != options.frames) {
    return core::Error{what + ": cannot fill the fill ring"};
  }
  for (std::uint32_t i = 0; i < options.frames; ++i) {
    *xsk_ring_prod__fill_addr(&r.fill, idx + i) = static_cast<std::uint64_t>(i) * frame_size;
  }
  xsk_ring_prod__submit(&r.fill, options.frames);

  xsk_socket_config cfg{};
  cfg.rx_size = options.rx_size;
  cfg.tx_size = 0;
  cfg.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD;  // our program, attached by XdpProgram
  int rc = -EOPNOTSUPP;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(options.busy_retry_ms);
  for (bool zc : {true, false}) {
    if (zc && !options.try_zero_copy) continue;
    cfg.bind_flags = static_cast<std::uint16_t>(XDP_USE_NEED_WAKEUP | (zc ? XDP_ZEROCOPY : XDP_COPY));
    for (;;) {
      rc = xsk_socket__create(&r.xsk, s->program_->ifname().c_str(), options.queue, r.umem, &r.rx, nullptr,
                              &cfg);
      if (rc != -EBUSY || std::chrono::steady_clock::now() >= deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the queue's last socket is going away
    }
    if (rc == 0) {
      s->zero_copy_ = zc;
      break;
    }
    r.xsk = nullptr;
    if (zc)
      log::debug("afxdp zero-copy refused, using copy mode",
                 {{"interface", s->program_->ifname()}, {"error", errno_text(rc)}});
  }
  if (rc != 0) {
    return core::Error{what + ": cannot create the AF_XDP socket: " + errno_text(rc) +
                       (rc == -EBUSY ? " (another socket holds this queue)"
                        : rc == -EINVAL
                            ? " (is the queue number below the interface's channel count? `ethtool -l`)"
                            : "")};
  }
  r.fd = xsk_socket__fd(r.xsk);
  if (int urc = xsk_socket__update_xskmap(r.xsk, s->program_->xsks_map_fd()); urc != 0) {
    return core::Error{what + ": cannot register the socket in the XSKMAP: " + errno_text(urc)};
  }
  s->held_addrs_.resize(max_burst);
  log::info("afxdp socket open", {{"interface", s->program_->ifname()},
                                  {"queue", options.queue},
                                  {"zero_copy", s->zero_copy_},
                                  {"xdp_mode", to_string(s->program_->mode())}});
  return s;
}

core::Result<std::size_t> AfXdpSource::receive(std::span<Frame> out, int timeout_ms) {
  if (held_ != 0) release();
  Rings& r = *rings_;
  const auto want = static_cast<std::uint32_t>(std::min(out.size(), max_burst));
  std::uint32_t idx = 0;
  std::uint32_t n = xsk_ring_cons__peek(&r.rx, want, &idx);
  if (n == 0) {
    // need_wakeup: the kernel stops looking at the fill ring until told; poll() tells it.
    if (timeout_ms > 0 || xsk_ring_prod__needs_wakeup(&r.fill)) {
      pollfd pfd{r.fd, POLLIN, 0};
      const int prc = poll(&pfd, 1, timeout_ms > 0 ? timeout_ms : 0);
      if (prc < 0 && errno != EINTR) {
        return core::Error{"afxdp " + program_->ifname() + ": poll failed: " + errno_text(errno)};
      }
    }
    n = xsk_ring_cons__peek(&r.rx, want, &idx);
    if (n == 0) return std::size_t{0};
  }
  const std::uint64_t now = realtime_ns();
  const auto port = static_cast<std::uint16_t>(program_->ifindex());
  std::uint64_t bytes = 0;
  for (std::uint32_t i = 0; i < n; ++i) {
    const xdp_desc* d = xsk_ring_cons__rx_desc(&r.rx, idx + i);
    held_addrs_[i] = xsk_umem__extract_addr(d->addr);
    Frame& f = out[i];
    f.data = static_cast<const std::uint8_t*>(
        xsk_umem__get_data(r.umem_area, xsk_umem__add_offset_to_addr(d->addr)));
    f.caplen = d->len;
    f.wire_len = d->len;
    f.timestamp_ns = now;
    f.port = port;
    f.queue = static_cast<std::uint16_t>(queue_);
    f.link_type = 1;
    bytes += d->len;
  }
  // The descriptors are copied out; the frames themselves stay ours until release().
  xsk_ring_cons__release(&r.rx, n);
  held_ = n;
  frames_ += n;
  bytes_ += bytes;
  return std::size_t{n};
}

void AfXdpSource::release() {
  if (held_ == 0) return;
  Rings& r = *rings_;
  std::uint32_t idx = 0;
  // The fill ring holds every UMEM frame, so there is always room for the ones we give back.
  const std::uint32_t got = xsk_ring_prod__reserve(&r.fill, static_cast<std::uint32_t>(held_), &idx);
  for (std::uint32_t i = 0; i < got; ++i) *xsk_ring_prod__fill_addr(&r.fill, idx + i) = held_addrs_[i];
  xsk_ring_prod__submit(&r.fill, got);
  if (xsk_ring_prod__needs_wakeup(&r.fill)) {
    (void)recvfrom(r.fd, nullptr, 0, MSG_DONTWAIT, nullptr, nullptr);
  }
  held_ = 0;
}

SourceStats AfXdpSource::stats() const {
  SourceStats s;
  s.frames = frames_;
  s.bytes = bytes_;
  xdp_statistics st{};
  socklen_t len = sizeof st;
  if (getsockopt(rings_->fd, SOL_XDP, XDP_STATISTICS, &st, &len) == 0) {
    s.kernel_drops = st.rx_dropped + st.rx_ring_full;
    s.errors = st.rx_invalid_descs;
  }
  return s;
}

std::uint64_t AfXdpSource::fill_ring_empty() const {
  xdp_statistics st{};
  socklen_t len = sizeof st;
  if (getsockopt(rings_->fd, SOL_XDP, XDP_STATISTICS, &st, &len) != 0) return 0;
  return st.rx_fill_ring_empty_descs;
}

std::string AfXdpSource::name() const { return "afxdp:" + program_->ifname() + "/" + std::to_string(queue_); }

}  // namespace flowpulse::io::afxdp
