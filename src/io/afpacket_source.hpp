// AF_PACKET capture (`capture.sources[].type: afpacket`): one packet socket bound to a named interface
// with a TPACKET_V3 receive ring mapped into the process, optional PACKET_FANOUT_HASH so N sources in
// one fanout group are N workers that share the interface's traffic (each 5-tuple, and every fragment
// of a datagram, to one worker), and an optional classic BPF filter compiled by libpcap and attached
// in the kernel. A burst is a run of frames from one ring block; release() hands the block back once
// all its frames were taken. Kernel drops come from PACKET_STATISTICS. No pcap.h, no libbpf here.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "config/config.hpp"
#include "core/result.hpp"
#include "io/packet_source.hpp"

namespace flowpulse::io {

struct AfPacketOptions {
  // Ring geometry: block_count blocks of block_size bytes (a multiple of the page size, a power of
  // two). A frame can be as large as a block. frame_size only sizes the kernel's frame accounting.
  std::uint32_t block_size = 1U << 20;
  std::uint32_t block_count = 64;
  std::uint32_t frame_size = 2048;
  // A block that is not full is handed to us after this long, which bounds latency on a slow link.
  std::uint32_t block_timeout_ms = 10;
  // PACKET_FANOUT_HASH (+ FLAG_DEFRAG) group; sources that pass the same id on the same interface
  // share its traffic. 0 = no fanout.
  std::uint16_t fanout_group = 0;
  // Reported in Frame::queue: the worker's index within the fanout group.
  std::uint16_t queue = 0;
  // tcpdump-style filter expression; empty = everything.
  std::string filter;
  bool promiscuous = true;
};

// The frames a packet socket dropped since the last call (PACKET_STATISTICS resets on every read):
// its ring was full. 0 when the socket has none or is not a packet socket.
std::uint64_t take_packet_drops(int fd) noexcept;

class AfPacketSource final : public PacketSource {
 public:
  // Opens the socket and ring on `device`. Errors name the interface and say what to do: an interface
  // that does not exist, a missing CAP_NET_RAW, a filter that does not compile, a ring the kernel
  // refuses (memory), a fanout group whose members were opened with other settings.
  static core::Result<std::unique_ptr<AfPacketSource>> open(const std::string& device,
                                                            const AfPacketOptions& options = {});

  ~AfPacketSource() override;
  AfPacketSource(const AfPacketSource&) = delete;
  AfPacketSource& operator=(const AfPacketSource&) = delete;

  // Frames from the current ring block, at most out.size(). A receive() without release() of the
  // previous burst releases it first.
  core::Result<std::size_t> receive(std::span<Frame> out, int timeout_ms) override;
  void release() override;
  SourceStats stats() const override;
  // "afpacket:<device>/<member>": the members of one fanout group are told apart (their capture
  // metrics would otherwise be series with the same labels).
  std::string name() const override { return "afpacket:" + device_ + "/" + std::to_string(queue_); }

  int fd() const noexcept { return fd_; }
  int ifindex() const noexcept { return ifindex_; }
  // Loopback: outgoing copies that reached the ring all the same and were skipped by receive() (the
  // socket filter drops them in the kernel, so this stays 0).
  std::uint64_t outgoing_skipped() const noexcept { return outgoing_skipped_; }

 private:
  AfPacketSource() = default;

  std::string device_;
  int fd_ = -1;
  int ifindex_ = 0;
  int link_type_ = 1;
  bool skip_outgoing_ = false;  // loopback: each packet is seen twice, keep the incoming copy
  std::uint64_t outgoing_skipped_ = 0;
  std::uint16_t queue_ = 0;
  std::uint8_t* ring_ = nullptr;
  std::size_t ring_size_ = 0;
  std::uint32_t block_size_ = 0;
  std::uint32_t block_count_ = 0;

  // The block being read: its index, how many of its frames remain, and where the next one is.
  std::uint32_t block_ = 0;
  std::uint32_t left_in_block_ = 0;
  const std::uint8_t* next_frame_ = nullptr;
  bool holding_ = false;  // the current block is ours (TP_STATUS_USER seen and not yet returned)
  bool burst_out_ = false;

  // Written by the worker (relaxed stores), read by whoever asks for stats().
  std::atomic<std::uint64_t> frames_{0};
  std::atomic<std::uint64_t> bytes_{0};
  std::atomic<std::uint64_t> errors_{0};
  // PACKET_STATISTICS resets on every read, so the totals are kept here.
  mutable std::atomic<std::uint64_t> kernel_drops_{0};
};

}  // namespace flowpulse::io
