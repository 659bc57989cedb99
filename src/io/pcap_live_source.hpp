// Live capture through libpcap (`capture.sources[].type: pcap`) on a named interface or `any`: the
// capture-wide BPF filter, snaplen 65535, nanosecond timestamps, and a non-blocking handle waited on
// with poll() on its selectable fd (libpcap's TPACKET_V3 blocking read never returns on an idle link).
// pcap_next_ex reuses its buffer, so each frame of a burst is copied into a buffer this source owns
// and stays valid until release(). Drops come from pcap_stats (ps_drop + ps_ifdrop).
// This header does not include pcap/pcap.h, so a file using it may also include bpf/libbpf.h.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "core/result.hpp"
#include "io/packet_source.hpp"

struct pcap;  // pcap_t, kept opaque here

namespace flowpulse::io {

struct PcapLiveOptions {
  std::string filter;  // tcpdump-style expression; empty = everything
  std::uint32_t snaplen = 65535;
  bool promiscuous = true;
  // libpcap's ring: the kernel buffer size, and how long a partly filled block waits before it is
  // handed over (the latency on a slow link).
  std::uint32_t buffer_bytes = 32U << 20;
  int block_timeout_ms = 10;
  // Frames copied per burst at most (the copy buffer holds this many snaplen-sized frames).
  std::uint32_t burst_frames = 64;
};

class PcapLiveSource final : public PacketSource {
 public:
  // Opens and activates `device` ("any" for all interfaces). Errors name the device and say what to
  // do: no such device, no permission (needs root or CAP_NET_RAW), interface down, a filter that does
  // not compile (libpcap's reason).
  static core::Result<std::unique_ptr<PcapLiveSource>> open(const std::string& device,
                                                            const PcapLiveOptions& options = {});

  ~PcapLiveSource() override;
  PcapLiveSource(const PcapLiveSource&) = delete;
  PcapLiveSource& operator=(const PcapLiveSource&) = delete;

  core::Result<std::size_t> receive(std::span<Frame> out, int timeout_ms) override;
  void release() override {}  // the copies are overwritten by the next receive()
  SourceStats stats() const override;
  std::string name() const override { return "pcap:" + device_; }

  int link_type() const noexcept { return link_type_; }

 private:
  PcapLiveSource() = default;
  // Takes frames that are ready, without waiting.
  core::Result<std::size_t> take(std::span<Frame> out);

  std::string device_;
  ::pcap* handle_ = nullptr;
  int selectable_fd_ = -1;
  int link_type_ = 1;
  std::uint32_t snaplen_ = 65535;
  std::uint32_t burst_frames_ = 64;
  std::vector<std::uint8_t> copies_;  // burst_frames * snaplen bytes, allocated once

  std::atomic<std::uint64_t> frames_{0};
  std::atomic<std::uint64_t> bytes_{0};
  std::atomic<std::uint64_t> errors_{0};
};

}  // namespace flowpulse::io
