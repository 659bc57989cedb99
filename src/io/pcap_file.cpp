#include "io/pcap_file.hpp"

#include <sys/stat.h>

#include <cstdio>

#include <pcap/pcap.h>

#include <string_view>
#include <utility>

#include "decode/packet.hpp"

namespace flowpulse::io {

core::Result<PcapFile> PcapFile::open(const std::string& path) {
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  // Nanosecond precision: libpcap scales microsecond files up, so times are exact for both.
  pcap_t* p = pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf);
  if (p == nullptr) {
    // libpcap's message may already start with the path; say it once.
    std::string_view why = errbuf;
    if (why.substr(0, path.size() + 2) == path + ": ") why.remove_prefix(path.size() + 2);
    return core::Error{path + ": cannot read as pcap: " + std::string(why)};
  }
  PcapFile f(p, path);
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) f.size_ = static_cast<std::uint64_t>(st.st_size);
  return f;
}

std::uint64_t PcapFile::position() const noexcept {
  if (handle_ == nullptr) return 0;
  const long at = std::ftell(pcap_file(handle_));
  return at > 0 ? static_cast<std::uint64_t>(at) : 0;
}

PcapFile::PcapFile(::pcap* handle, std::string path) noexcept
    : handle_(handle),
      path_(std::move(path)),
      link_type_(static_cast<std::uint32_t>(pcap_datalink(handle))) {}

PcapFile::PcapFile(PcapFile&& other) noexcept
    : handle_(std::exchange(other.handle_, nullptr)),
      path_(std::move(other.path_)),
      link_type_(other.link_type_),
      frames_(other.frames_),
      size_(other.size_) {}

PcapFile& PcapFile::operator=(PcapFile&& other) noexcept {
  if (this != &other) {
    if (handle_ != nullptr) pcap_close(handle_);
    handle_ = std::exchange(other.handle_, nullptr);
    path_ = std::move(other.path_);
    link_type_ = other.link_type_;
    frames_ = other.frames_;
    size_ = other.size_;
  }
  return *this;
}

PcapFile::~PcapFile() {
  if (handle_ != nullptr) pcap_close(handle_);
}

core::Result<bool> PcapFile::next(PcapFrame& frame) {
  if (handle_ == nullptr) return core::Error{path_ + ": file is not open"};
  pcap_pkthdr* hdr = nullptr;
  const u_char* data = nullptr;
  const int rc = pcap_next_ex(handle_, &hdr, &data);
  if (rc == PCAP_ERROR_BREAK) return false;  // end of file
  if (rc != 1) {
    return core::Error{path_ + ": frame " + std::to_string(frames_ + 1) + ": " + pcap_geterr(handle_)};
  }
  ++frames_;
  frame.data = data;
  frame.captured = hdr->caplen;
  frame.wire_length = hdr->len;
  // Opened with nanosecond precision: tv_usec holds nanoseconds.
  frame.time_ns = static_cast<std::uint64_t>(hdr->ts.tv_sec) * 1'000'000'000ULL +
                  static_cast<std::uint64_t>(hdr->ts.tv_usec);
  // pcapng files may mix interfaces of different link types; libpcap reports the current one.
  frame.link_type = static_cast<std::uint32_t>(pcap_datalink(handle_));
  return true;
}

core::Result<bool> PcapUdpReader::next(UdpDatagram& d) {
  PcapFrame frame;
  for (;;) {
    auto more = file_.next(frame);
    if (!more) return more;
    if (!more.value()) return false;
    ++stats_.frames;
    if (!decode::link_type_supported(frame.link_type)) {
      ++stats_.bad_link;
      continue;
    }
    const decode::PacketInfo p = decode::parse_link(frame.link_type, frame.data, frame.captured);
    const bool ip = p.etype == decode::ethertype_ipv4 || p.etype == decode::ethertype_ipv6;
    // proto 0 means the headers ended before the upper-layer protocol was known.
    if (!ip || (p.proto != 0 && p.proto != decode::ip_proto_udp)) {
      ++stats_.not_udp;
      continue;
    }
    if (p.is_fragment) {
      ++stats_.fragments;
      continue;
    }
    if (p.truncated || p.malformed || !p.payload_complete()) {
      ++stats_.truncated;
      continue;
    }
    ++stats_.udp_datagrams;
    d.src_addr = p.src_addr;
    d.dst_addr = p.dst_addr;
    d.src_port = p.src_port;
    d.dst_port = p.dst_port;
    d.payload = p.payload;
    d.size = p.payload_len;
    d.time_ns = frame.time_ns;
    return true;
  }
}

}  // namespace flowpulse::io
