// The one interface every raw-frame source implements (DPDK ethdev queue, AF_XDP socket, AF_PACKET
// ring, libpcap live or file): a worker asks for a burst of frames, processes them, and gives them
// back. The virtual call is per burst, never per frame. Each source file lives on its own
// (pcap/pcap.h and bpf/libbpf.h must not meet in one translation unit; DPDK headers stay in io/dpdk).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "core/result.hpp"

namespace flowpulse::io {

struct Frame {
  const std::uint8_t* data = nullptr;
  std::uint32_t caplen = 0;        // bytes at `data`
  std::uint32_t wire_len = 0;      // bytes on the wire (>= caplen when the capture is cut)
  std::uint64_t timestamp_ns = 0;  // capture time (file time for replays), ns since the epoch
  std::uint16_t port = 0;          // source-specific: DPDK port, interface index, ...
  std::uint16_t queue = 0;         // RX queue the frame came from
  int link_type = 1;               // DLT_/LINKTYPE_ value; 1 = Ethernet
};

struct SourceStats {
  std::uint64_t frames = 0;        // handed to the worker
  std::uint64_t bytes = 0;         // wire bytes of those frames
  std::uint64_t kernel_drops = 0;  // dropped before us: ring full, imissed, ps_drop
  std::uint64_t errors = 0;        // ierrors, rx_nombuf, read errors
};

class PacketSource {
 public:
  virtual ~PacketSource() = default;

  // Fills `out` with up to out.size() frames and returns how many. Waits at most `timeout_ms` for
  // the first one (0 = do not wait); returns 0 on timeout. An error (device gone, file unreadable)
  // is a Result error with a message. End of a file: `at_end()` becomes true and 0 is returned.
  virtual core::Result<std::size_t> receive(std::span<Frame> out, int timeout_ms) = 0;
  // Gives back the frames of the last receive(); their memory is not valid after this.
  virtual void release() = 0;
  virtual bool at_end() const { return false; }
  // Called once on the thread that will call receive(), before the first call (DPDK registers the
  // thread as an lcore there, for its mempool cache).
  virtual core::Status attach_thread() { return core::Ok{}; }
  // Called on that thread after its last receive().
  virtual void detach_thread() {}
  virtual SourceStats stats() const = 0;
  virtual std::string name() const = 0;  // "afpacket:eth0/0", "pcap_file:x.pcap", "dpdk:0/1"
};

// Where a worker copies the frames it captured (the pcap store), a burst at a time, before it
// releases them. Each worker has its own: nothing is shared between workers.
class FrameSink {
 public:
  virtual ~FrameSink() = default;
  virtual void write(std::span<const Frame> frames) = 0;
  // Called at each hand-over (once a tick): hand buffered frames to the file.
  virtual void flush() {}
};

}  // namespace flowpulse::io
