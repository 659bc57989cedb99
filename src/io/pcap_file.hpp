// Reading pcap and pcapng files through libpcap (offline): `PcapFile` owns the pcap_t and yields
// frames with their nanosecond timestamp and link type; `PcapUdpReader` walks a file's frames with the
// L2–L4 packet parser and yields the UDP datagrams in it (a flow-export capture's payloads), counting
// everything it skips. IP fragments are counted, not reassembled (reassembly is a later issue).
// This header does not include pcap/pcap.h, so a file using it may also include bpf/libbpf.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/result.hpp"
#include "flowpulse/flow_record.hpp"

struct pcap;  // pcap_t, kept opaque here

namespace flowpulse::io {

struct PcapFrame {
  const std::uint8_t* data = nullptr;  // valid until the next call to PcapFile::next
  std::size_t captured = 0;            // bytes in the file
  std::size_t wire_length = 0;         // bytes the packet had on the wire
  std::uint64_t time_ns = 0;           // since the Unix epoch
  std::uint32_t link_type = 0;         // DLT_ value, see decode::LinkType
};

class PcapFile {
 public:
  // Opens a pcap or pcapng file; the error names the file and says what is wrong with it.
  static core::Result<PcapFile> open(const std::string& path);

  PcapFile(PcapFile&& other) noexcept;
  PcapFile& operator=(PcapFile&& other) noexcept;
  PcapFile(const PcapFile&) = delete;
  PcapFile& operator=(const PcapFile&) = delete;
  ~PcapFile();

  // The next frame: true and `frame` filled, false at the end of the file, or an error (a file cut
  // short in a record, a corrupt record header).
  core::Result<bool> next(PcapFrame& frame);

  std::uint32_t link_type() const noexcept { return link_type_; }
  const std::string& path() const noexcept { return path_; }
  std::uint64_t frames() const noexcept { return frames_; }
  // Bytes read so far, and the file's size (0 when unknown), for progress reports.
  std::uint64_t position() const noexcept;
  std::uint64_t size() const noexcept { return size_; }

 private:
  PcapFile(::pcap* handle, std::string path) noexcept;

  ::pcap* handle_ = nullptr;
  std::string path_;
  std::uint32_t link_type_ = 0;
  std::uint64_t frames_ = 0;
  std::uint64_t size_ = 0;
};

struct UdpDatagram {
  IpAddress src_addr;
  IpAddress dst_addr;
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
  const std::uint8_t* payload = nullptr;  // valid until the next call to PcapUdpReader::next
  std::size_t size = 0;
  std::uint64_t time_ns = 0;
};

// What PcapUdpReader saw. frames = udp_datagrams + not_udp + fragments + truncated + bad_link.
struct UdpReadStats {
  std::uint64_t frames = 0;
  std::uint64_t udp_datagrams = 0;
  std::uint64_t not_udp = 0;    // not IP, or IP but not UDP
  std::uint64_t fragments = 0;  // IPv4/IPv6 fragments of UDP (not reassembled)
  std::uint64_t truncated = 0;  // IP packets cut short or malformed before a whole UDP datagram
  std::uint64_t bad_link = 0;   // frames of a link type the parser does not know
};

class PcapUdpReader {
 public:
  explicit PcapUdpReader(PcapFile& file) noexcept : file_(file) {}

  // The next complete UDP datagram: true, false at the end, or the file's error.
  core::Result<bool> next(UdpDatagram& datagram);

  const UdpReadStats& stats() const noexcept { return stats_; }

 private:
  PcapFile& file_;
  UdpReadStats stats_;
};

}  // namespace flowpulse::io
