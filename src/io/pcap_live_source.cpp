#include "io/pcap_live_source.hpp"

#include <pcap/pcap.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

namespace flowpulse::io {
namespace {

// What pcap_activate's status means for a person, with libpcap's own detail when it has one.
std::string activate_error(pcap_t* p, int status, const std::string& device) {
  const std::string detail = pcap_geterr(p);
  std::string why;
  switch (status) {
    case PCAP_ERROR_NO_SUCH_DEVICE: why = "interface '" + device + "' not found (see `ip link`)"; break;
    case PCAP_ERROR_PERM_DENIED: why = "permission denied (needs root or CAP_NET_RAW)"; break;
    case PCAP_ERROR_PROMISC_PERM_DENIED:
      why = "no permission for promiscuous mode (needs root or CAP_NET_RAW)";
      break;
    case PCAP_ERROR_IFACE_NOT_UP: why = "interface is down (ip link set " + device + " up)"; break;
    default: why = pcap_statustostr(status); break;
  }
  if (!detail.empty() && detail != why) why += ": " + detail;
  return "pcap " + device + ": " + why;
}

void bump(std::atomic<std::uint64_t>& c, std::uint64_t by) {
  c.store(c.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
}

}  // namespace

core::Result<std::unique_ptr<PcapLiveSource>> PcapLiveSource::open(const std::string& device,
                                                                   const PcapLiveOptions& o) {
  const std::string where = "pcap " + device;
  if (o.snaplen == 0 || o.burst_frames == 0)
    return core::Error{where + ": snaplen and burst_frames must be > 0"};
  std::unique_ptr<PcapLiveSource> s(new PcapLiveSource());
  s->device_ = device;
  s->snaplen_ = o.snaplen;
  s->burst_frames_ = o.burst_frames;

  char errbuf[PCAP_ERRBUF_SIZE] = {};
  s->handle_ = pcap_create(device.c_str(), errbuf);
  if (s->handle_ == nullptr) return core::Error{where + ": " + errbuf};
  pcap_t* p = s->handle_;
  pcap_set_snaplen(p, static_cast<int>(o.snaplen));
  pcap_set_promisc(p, o.promiscuous ? 1 : 0);
  pcap_set_timeout(p, o.block_timeout_ms);
  pcap_set_buffer_size(p, static_cast<int>(o.buffer_bytes));
  if (pcap_set_tstamp_precision(p, PCAP_TSTAMP_PRECISION_NANO) != 0) {
    return core::Error{where + ": nanosecond timestamps not supported"};
  }
  const int status = pcap_activate(p);
  if (status < 0) return core::Error{activate_error(p, status, device)};
  // status > 0 is a warning (e.g. promiscuous mode not supported): capture works, so go on.

  s->link_type_ = pcap_datalink(p);
  if (!o.filter.empty()) {
    bpf_program program{};
    if (pcap_compile(p, &program, o.filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
      return core::Error{where + ": BPF filter '" + o.filter + "': " + pcap_geterr(p)};
    }
    const int rc = pcap_setfilter(p, &program);
    pcap_freecode(&program);
    if (rc != 0) return core::Error{where + ": cannot set BPF filter '" + o.filter + "': " + pcap_geterr(p)};
  }
  if (pcap_setnonblock(p, 1, errbuf) != 0) return core::Error{where + ": cannot set non-blocking: " + errbuf};
  s->selectable_fd_ = pcap_get_selectable_fd(p);
  if (s->selectable_fd_ < 0) return core::Error{where + ": no selectable fd to poll"};
  s->copies_.resize(static_cast<std::size_t>(o.burst_frames) * o.snaplen);
  return s;
}

PcapLiveSource::~PcapLiveSource() {
  if (handle_ != nullptr) pcap_close(handle_);
}

core::Result<std::size_t> PcapLiveSource::take(std::span<Frame> out) {
  const std::size_t limit = std::min<std::size_t>(out.size(), burst_frames_);
  std::size_t n = 0;
  std::size_t used = 0;
  std::uint64_t bytes = 0;
  // Each slot of the copy buffer can hold a whole frame: stop when the next one might not fit.
  while (n < limit && copies_.size() - used >= snaplen_) {
    pcap_pkthdr* hdr = nullptr;
    const u_char* data = nullptr;
    const int rc = pcap_next_ex(handle_, &hdr, &data);
    if (rc == 0) break;  // nothing more ready
    if (rc != 1) {
      bump(errors_, 1);
      if (n > 0) break;  // hand over what we have; the error comes back on the next call
      return core::Error{"pcap " + device_ + ": " + pcap_geterr(handle_)};
    }
    const std::uint32_t caplen = std::min(hdr->caplen, snaplen_);
    std::memcpy(copies_.data() + used, data, caplen);
    Frame& f = out[n++];
    f.data = copies_.data() + used;
    f.caplen = caplen;
    f.wire_len = hdr->len;
    // Activated with nanosecond precision: tv_usec holds nanoseconds.
    f.timestamp_ns = static_cast<std::uint64_t>(hdr->ts.tv_sec) * 1'000'000'000ULL +
                     static_cast<std::uint64_t>(hdr->ts.tv_usec);
    f.port = 0;
    f.queue = 0;
    f.link_type = link_type_;
    used += caplen;
    bytes += hdr->len;
  }
  bump(frames_, n);
  bump(bytes_, bytes);
  return n;
}

core::Result<std::size_t> PcapLiveSource::receive(std::span<Frame> out, int timeout_ms) {
  if (out.empty()) return std::size_t{0};
  auto got = take(out);
  if (!got || got.value() > 0 || timeout_ms == 0) return got;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::size_t{0};
    pollfd pfd{selectable_fd_, POLLIN, 0};
    const int rc = poll(&pfd, 1, static_cast<int>(left.count()));
    if (rc < 0 && errno != EINTR) {
      bump(errors_, 1);
      return core::Error{"pcap " + device_ + ": poll: " + std::strerror(errno)};
    }
    if (rc > 0) {
      got = take(out);
      if (!got || got.value() > 0) return got;
    }
  }
}

SourceStats PcapLiveSource::stats() const {
  SourceStats s;
  s.frames = frames_.load(std::memory_order_relaxed);
  s.bytes = bytes_.load(std::memory_order_relaxed);
  s.errors = errors_.load(std::memory_order_relaxed);
  pcap_stat ps{};
  if (handle_ != nullptr && pcap_stats(handle_, &ps) == 0)
    s.kernel_drops = std::uint64_t{ps.ps_drop} + ps.ps_ifdrop;
  return s;
}

}  // namespace flowpulse::io
