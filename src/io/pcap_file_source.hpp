// A capture file as a packet source (`capture.sources[].type: pcap_file`): frames of a pcap or pcapng
// file (read through PcapFile, libpcap offline) in bursts, as fast as the worker takes them or paced
// by their timestamps (speed 1.0 = as captured, 2.0 = twice as fast). libpcap reuses its buffer for
// each frame, so a burst's frames are copied into a buffer this source owns, valid until release().
// At the end of the file at_end() turns true and receive() returns 0.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "io/packet_source.hpp"
#include "io/pcap_file.hpp"

namespace flowpulse::io {

struct PcapFileOptions {
  double speed = 0;                      // 0 = as fast as possible
  std::uint32_t burst_bytes = 4U << 20;  // copy buffer; a larger frame gets a burst of its own
};

class PcapFileSource final : public PacketSource {
 public:
  static core::Result<std::unique_ptr<PcapFileSource>> open(const std::string& path,
                                                            const PcapFileOptions& options = {});

  core::Result<std::size_t> receive(std::span<Frame> out, int timeout_ms) override;
  void release() override {}  // the copies are overwritten by the next receive()
  bool at_end() const override { return at_end_; }
  SourceStats stats() const override;
  std::string name() const override { return "pcap_file:" + file_.path(); }

 private:
  PcapFileSource(PcapFile file, const PcapFileOptions& options);
  // Wall time (monotonic ns) at which a frame captured at `time_ns` is due.
  std::uint64_t due_ns(std::uint64_t time_ns);

  PcapFile file_;
  PcapFileOptions options_;
  std::vector<std::uint8_t> copies_;
  PcapFrame pending_;  // read from the file, not handed out yet (libpcap's buffer holds it until next())
  bool has_pending_ = false;
  bool at_end_ = false;
  std::uint64_t first_time_ns_ = 0;
  std::uint64_t start_wall_ns_ = 0;

  std::atomic<std::uint64_t> frames_{0};
  std::atomic<std::uint64_t> bytes_{0};
};

}  // namespace flowpulse::io
