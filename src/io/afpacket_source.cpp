#include "io/afpacket_source.hpp"

#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "io/bpf_program.hpp"

namespace flowpulse::io {
namespace {

constexpr std::uint32_t max_snaplen = 65535;

std::string errno_text(int err) { return std::strerror(err); }

// The message for a failed socket call: permission problems say how to fix them.
std::string os_error(const std::string& what, int err) {
  if (err == EPERM || err == EACCES) return what + ": " + errno_text(err) + " (needs root or CAP_NET_RAW)";
  return what + ": " + errno_text(err);
}

bool power_of_two(std::uint32_t v) { return v != 0 && (v & (v - 1)) == 0; }

tpacket_block_desc* block_at(std::uint8_t* ring, std::uint32_t block_size, std::uint32_t i) {
  return reinterpret_cast<tpacket_block_desc*>(ring + static_cast<std::size_t>(i) * block_size);
}

}  // namespace

core::Result<std::unique_ptr<AfPacketSource>> AfPacketSource::open(const std::string& device,
                                                                   const AfPacketOptions& o) {
  const std::string where = "afpacket " + device;
  const long page = sysconf(_SC_PAGESIZE);
  if (!power_of_two(o.block_size) || o.block_size % static_cast<std::uint32_t>(page) != 0) {
    return core::Error{where + ": block_size " + std::to_string(o.block_size) +
                       " must be a power of two and a multiple of the page size"};
  }
  if (o.frame_size < TPACKET3_HDRLEN || o.frame_size % TPACKET_ALIGNMENT != 0 ||
      o.frame_size > o.block_size || o.block_count == 0) {
    return core::Error{where + ": frame_size " + std::to_string(o.frame_size) + " must be a multiple of " +
                       std::to_string(TPACKET_ALIGNMENT) + " between " + std::to_string(TPACKET3_HDRLEN) +
                       " and block_size, and block_count at least 1"};
  }

  std::unique_ptr<AfPacketSource> s(new AfPacketSource());
  s->device_ = device;
  s->queue_ = o.queue;

  s->ifindex_ = static_cast<int>(if_nametoindex(device.c_str()));
  if (s->ifindex_ == 0) {
    return core::Error{where + ": interface '" + device + "' not found (see `ip link`)"};
  }

  // Protocol 0: nothing is queued on the socket until bind(), after the ring and filter are set.
  s->fd_ = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (s->fd_ < 0) return core::Error{os_error(where + ": cannot open a packet socket", errno)};

  ifreq ifr{};
  std::strncpy(ifr.ifr_name, device.c_str(), IFNAMSIZ - 1);
  if (ioctl(s->fd_, SIOCGIFHWADDR, &ifr) != 0) return core::Error{os_error(where + ": SIOCGIFHWADDR", errno)};
  switch (ifr.ifr_hwaddr.sa_family) {
    case ARPHRD_LOOPBACK:
      // Loopback hands every packet to packet sockets twice, outgoing and incoming: only the
      // incoming copy is kept (as libpcap does), or each would be counted twice. The socket filter
      // drops the outgoing one in the kernel, so it is never copied into the ring nor read;
      // receive() checks again. (The socket option PACKET_IGNORE_OUTGOING does not reach fanout
      // members before Linux 6.9.)
      s->skip_outgoing_ = true;
      s->link_type_ = 1;
      break;
    case ARPHRD_ETHER: s->link_type_ = 1; break;    // LINKTYPE_ETHERNET
    case ARPHRD_NONE:                               // tun, wireguard: frames start at the IP header
    case ARPHRD_RAWIP: s->link_type_ = 101; break;  // LINKTYPE_RAW
    default:
      return core::Error{where + ": link type ARPHRD " + std::to_string(ifr.ifr_hwaddr.sa_family) +
                         " is not supported (Ethernet and raw IP interfaces are)"};
  }

  int version = TPACKET_V3;
  if (setsockopt(s->fd_, SOL_PACKET, PACKET_VERSION, &version, sizeof version) != 0) {
    return core::Error{os_error(where + ": TPACKET_V3 not available", errno)};
  }

  tpacket_req3 req{};
  req.tp_block_size = o.block_size;
  req.tp_block_nr = o.block_count;
  req.tp_frame_size = o.frame_size;
  req.tp_frame_nr = (o.block_size / o.frame_size) * o.block_count;
  req.tp_retire_blk_tov = o.block_timeout_ms;
  if (setsockopt(s->fd_, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) != 0) {
    return core::Error{os_error(where + ": cannot create a " + std::to_string(o.block_count) + " x " +
                                    std::to_string(o.block_size) + " byte TPACKET_V3 ring",
                                errno)};
  }
  s->block_size_ = o.block_size;
  s->block_count_ = o.block_count;
  s->ring_size_ = static_cast<std::size_t>(o.block_size) * o.block_count;
  void* ring = mmap(nullptr, s->ring_size_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, s->fd_, 0);
  if (ring == MAP_FAILED) {
    s->ring_size_ = 0;
    return core::Error{os_error(where + ": cannot map the receive ring", errno)};
  }
  s->ring_ = static_cast<std::uint8_t*>(ring);

  std::vector<BpfInstruction> program;
  if (s->skip_outgoing_) {
    // if (skb->pkt_type == PACKET_OUTGOING) drop; then the configured filter, or accept. Classic
    // BPF jumps are relative and forward only, so the compiled filter runs unchanged after it.
    program.push_back(
        {BPF_LD | BPF_H | BPF_ABS, 0, 0, static_cast<std::uint32_t>(SKF_AD_OFF + SKF_AD_PKTTYPE)});
    program.push_back({BPF_JMP | BPF_JEQ | BPF_K, 0, 1, PACKET_OUTGOING});
    program.push_back({BPF_RET | BPF_K, 0, 0, 0});
  }
  if (!o.filter.empty()) {
    auto compiled = compile_bpf(o.filter, s->link_type_, max_snaplen);
    if (!compiled) return core::Error{where + ": " + compiled.error()};
    program.insert(program.end(), compiled->begin(), compiled->end());
  } else if (!program.empty()) {
    program.push_back({BPF_RET | BPF_K, 0, 0, 0xFFFFFFFFU});  // the whole frame
  }
  if (!program.empty()) {
    static_assert(sizeof(BpfInstruction) == sizeof(sock_filter));
    sock_fprog fprog{};
    fprog.len = static_cast<unsigned short>(program.size());
    fprog.filter = reinterpret_cast<sock_filter*>(program.data());
    if (setsockopt(s->fd_, SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof fprog) != 0) {
      return core::Error{os_error(
          where + ": cannot attach BPF filter" + (o.filter.empty() ? std::string() : " '" + o.filter + "'"),
          errno)};
    }
  }

  if (o.promiscuous) {
    packet_mreq mr{};
    mr.mr_ifindex = s->ifindex_;
    mr.mr_type = PACKET_MR_PROMISC;  // dropped by the kernel when the socket closes
    if (setsockopt(s->fd_, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) != 0) {
      return core::Error{os_error(where + ": cannot enable promiscuous mode", errno)};
    }
  }

  sockaddr_ll addr{};
  addr.sll_family = AF_PACKET;
  addr.sll_protocol = htons(ETH_P_ALL);
  addr.sll_ifindex = s->ifindex_;
  if (bind(s->fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return core::Error{os_error(where + ": cannot bind to the interface", errno)};
  }

  if (o.fanout_group != 0) {
    // HASH spreads by the (symmetric) flow hash; DEFRAG reassembles IP fragments before hashing so
    // every fragment of a datagram reaches the same member.
    const int fanout =
        static_cast<int>(o.fanout_group) | ((PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_DEFRAG) << 16);
    if (setsockopt(s->fd_, SOL_PACKET, PACKET_FANOUT, &fanout, sizeof fanout) != 0) {
      const int err = errno;
      std::string msg = os_error(where + ": cannot join fanout group " + std::to_string(o.fanout_group), err);
      if (err == EINVAL || err == EALREADY || err == EEXIST) {
        msg += " (the group exists with another interface, mode or flags, or is full; use another id)";
      }
      return core::Error{msg};
    }
  }
  return s;
}

AfPacketSource::~AfPacketSource() {
  if (ring_ != nullptr) munmap(ring_, ring_size_);
  if (fd_ >= 0) ::close(fd_);
}

core::Result<std::size_t> AfPacketSource::receive(std::span<Frame> out, int timeout_ms) {
  if (burst_out_) release();
  if (out.empty()) return std::size_t{0};

  while (!holding_) {
    tpacket_block_desc* block = block_at(ring_, block_size_, block_);
    if ((__atomic_load_n(&block->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) == 0) {
      if (timeout_ms == 0) return std::size_t{0};
      pollfd pfd{fd_, POLLIN | POLLERR, 0};
      const int rc = poll(&pfd, 1, timeout_ms);
      if (rc < 0) {
        if (errno == EINTR) return std::size_t{0};
        errors_.store(errors_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        return core::Error{"afpacket " + device_ + ": poll: " + errno_text(errno)};
      }
      if (rc > 0 && (pfd.revents & POLLERR) != 0) {
        // A pending socket error (the interface went away): read it so it is reported once.
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
          errors_.store(errors_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
          return core::Error{"afpacket " + device_ + ": " + errno_text(err)};
        }
      }
      if ((__atomic_load_n(&block->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) == 0) {
        return std::size_t{0};
      }
    }
    holding_ = true;
    left_in_block_ = block->hdr.bh1.num_pkts;
    next_frame_ = reinterpret_cast<const std::uint8_t*>(block) + block->hdr.bh1.offset_to_first_pkt;
    if (left_in_block_ == 0) {
      burst_out_ = true;
      release();  // an empty block retired by the timer: give it back and look at the next one
      timeout_ms = 0;
    }
  }

  std::size_t n = 0;
  std::uint64_t bytes = 0;
  while (left_in_block_ != 0 && n < out.size()) {
    const auto* h = reinterpret_cast<const tpacket3_hdr*>(next_frame_);
    --left_in_block_;
    // The kernel wrote the next frame: its header and first bytes are a cache miss; start it now.
    if (left_in_block_ != 0) __builtin_prefetch(next_frame_ + h->tp_next_offset + h->tp_mac);
    if (skip_outgoing_ &&
        reinterpret_cast<const sockaddr_ll*>(next_frame_ + TPACKET_ALIGN(sizeof(tpacket3_hdr)))
                ->sll_pkttype == PACKET_OUTGOING) {
      ++outgoing_skipped_;
      next_frame_ += h->tp_next_offset;
      continue;
    }
    Frame& f = out[n++];
    f.data = next_frame_ + h->tp_mac;
    f.caplen = h->tp_snaplen;
    f.wire_len = h->tp_len;
    f.timestamp_ns = static_cast<std::uint64_t>(h->tp_sec) * 1'000'000'000ULL + h->tp_nsec;
    f.port = static_cast<std::uint16_t>(ifindex_);
    f.queue = queue_;
    f.link_type = link_type_;
    bytes += h->tp_len;
    next_frame_ += h->tp_next_offset;
  }
  if (n == 0 && left_in_block_ == 0) {  // a block of skipped frames only: give it back, read on
    burst_out_ = true;
    release();
    return receive(out, 0);
  }
  burst_out_ = true;
  frames_.store(frames_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  bytes_.store(bytes_.load(std::memory_order_relaxed) + bytes, std::memory_order_relaxed);
  return n;
}

void AfPacketSource::release() {
  burst_out_ = false;
  if (!holding_ || left_in_block_ != 0) return;
  tpacket_block_desc* block = block_at(ring_, block_size_, block_);
  __atomic_store_n(&block->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
  holding_ = false;
  next_frame_ = nullptr;
  block_ = (block_ + 1) % block_count_;
}

std::uint64_t take_packet_drops(int fd) noexcept {
  tpacket_stats_v3 st{};  // TPACKET_V1/V2 sockets fill its first two fields, tp_drops among them
  socklen_t len = sizeof st;
  if (fd < 0 || getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) != 0) return 0;
  return st.tp_drops;
}

SourceStats AfPacketSource::stats() const {
  kernel_drops_.fetch_add(take_packet_drops(fd_), std::memory_order_relaxed);
  SourceStats s;
  s.frames = frames_.load(std::memory_order_relaxed);
  s.bytes = bytes_.load(std::memory_order_relaxed);
  s.kernel_drops = kernel_drops_.load(std::memory_order_relaxed);
  s.errors = errors_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace flowpulse::io
