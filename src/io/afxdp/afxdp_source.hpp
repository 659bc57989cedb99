// The AF_XDP source: `XdpProgram` owns flowpulse's XDP program on one interface (loaded with libxdp,
// native mode first and generic/SKB mode as the fallback; detached when it goes) and the selection it
// redirects (protocols and an optional port, in a BPF map: the rest goes on to the kernel);
// `AfXdpSource` owns one AF_XDP socket on one (interface, queue) with its own UMEM (4 KiB frames,
// fill and completion rings), zero-copy when the driver offers it and copy mode otherwise. Frames
// point into the UMEM and go back to the fill ring on release(). This header includes neither libbpf
// nor libxdp (they clash with pcap/pcap.h), only forward declarations.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "io/packet_source.hpp"

struct xdp_program;

namespace flowpulse::io::afxdp {

// What the program redirects to the sockets; everything else is XDP_PASS. Bits of `protocols`.
enum : std::uint32_t {
  select_ipv4_udp = 1U << 0,
  select_ipv4_tcp = 1U << 1,
  select_ipv6_udp = 1U << 2,
  select_ipv6_tcp = 1U << 3,
  select_ip_other = 1U << 4,  // any other IPv4/IPv6 protocol (ICMP, ...); `port` does not apply
  select_non_ip = 1U << 5,    // ARP, LLDP, ...
  select_ip_tcp_udp = select_ipv4_udp | select_ipv4_tcp | select_ipv6_udp | select_ipv6_tcp,
  select_all = 0x3f,
};

struct Selection {
  std::uint32_t protocols = select_ip_tcp_udp;
  std::uint16_t port = 0;  // when non-zero, TCP/UDP only with this source or destination port
};

enum class AttachMode : std::uint8_t { native, generic };
const char* to_string(AttachMode mode) noexcept;

class XdpProgram {
 public:
  // Loads `object_path` (empty = the flowpulse_xdp.bpf.o built with the project) on `ifname`, native
  // mode first unless `force_generic`, and writes `selection` into its config map.
  static core::Result<std::shared_ptr<XdpProgram>> attach(const std::string& ifname,
                                                          const Selection& selection,
                                                          const std::string& object_path = {},
                                                          bool force_generic = false);
  ~XdpProgram();  // detaches the program
  XdpProgram(const XdpProgram&) = delete;
  XdpProgram& operator=(const XdpProgram&) = delete;

  const std::string& ifname() const noexcept { return ifname_; }
  int ifindex() const noexcept { return ifindex_; }
  AttachMode mode() const noexcept { return mode_; }
  int xsks_map_fd() const noexcept { return xsks_map_fd_; }
  // Changes the selection while attached (one map write).
  core::Status select(const Selection& selection);

 private:
  XdpProgram() = default;
  std::string ifname_;
  int ifindex_ = 0;
  AttachMode mode_ = AttachMode::native;
  ::xdp_program* program_ = nullptr;
  int xsks_map_fd_ = -1;
  int config_map_fd_ = -1;
};

struct SocketOptions {
  std::uint32_t queue = 0;
  std::uint32_t frames = 16384;  // UMEM frames of 4 KiB; all start on the fill ring
  std::uint32_t rx_size = 8192;  // RX ring entries (a power of two)
  bool try_zero_copy = true;     // fall back to copy mode when the driver says no (veth)
  int busy_retry_ms = 1000;      // a queue just released by another socket is EBUSY for ~0.1 s
};

class AfXdpSource final : public PacketSource {
 public:
  static constexpr std::size_t max_burst = 256;

  // A socket on (program's interface, options.queue), registered in the program's XSKMAP.
  static core::Result<std::unique_ptr<AfXdpSource>> open(std::shared_ptr<XdpProgram> program,
                                                         const SocketOptions& options = {});
  ~AfXdpSource() override;  // deletes the socket, then the UMEM (the program goes with its last owner)
  AfXdpSource(const AfXdpSource&) = delete;
  AfXdpSource& operator=(const AfXdpSource&) = delete;

  core::Result<std::size_t> receive(std::span<Frame> out, int timeout_ms) override;
  void release() override;
  // frames/bytes handed out; kernel_drops = XDP_STATISTICS rx_dropped + rx_ring_full; errors =
  // rx_invalid_descs.
  SourceStats stats() const override;
  std::string name() const override;  // "afxdp:<ifname>/<queue>"

  bool zero_copy() const noexcept { return zero_copy_; }
  // Times the fill ring was empty when the kernel had a frame (XDP_STATISTICS), for diagnostics.
  std::uint64_t fill_ring_empty() const;

 private:
  struct Rings;  // libxdp's ring structs, kept out of this header
  AfXdpSource();

  std::shared_ptr<XdpProgram> program_;
  std::unique_ptr<Rings> rings_;
  std::uint32_t queue_ = 0;
  bool zero_copy_ = false;
  std::size_t held_ = 0;
  std::vector<std::uint64_t> held_addrs_;
  std::uint64_t frames_ = 0;
  std::uint64_t bytes_ = 0;
};

}  // namespace flowpulse::io::afxdp
