#include "export/pcap_writer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "decode/packet.hpp"

namespace flowpulse::exporting {

namespace {

constexpr std::uint32_t max_keep_files = 100000;

void put32(std::uint8_t* p, std::uint32_t v) { std::memcpy(p, &v, sizeof v); }
void put16(std::uint8_t* p, std::uint16_t v) { std::memcpy(p, &v, sizeof v); }

// Writes all of `data` at `offset` (explicit offsets: a failed write can then be cut back without
// caring where the file position went). False with errno set on failure.
bool pwrite_all(int fd, const std::uint8_t* data, std::size_t size, std::uint64_t offset) {
  while (size > 0) {
    const ssize_t n = ::pwrite(fd, data, size, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (n == 0) {
      errno = EIO;
      return false;
    }
    data += n;
    size -= static_cast<std::size_t>(n);
    offset += static_cast<std::uint64_t>(n);
  }
  return true;
}

bool write_file_header(int fd, std::uint32_t link_type) {
  std::uint8_t h[PcapWriter::file_header_size] = {};
  put32(h, PcapWriter::magic_nanosecond);
  put16(h + 4, 2);  // version 2.4
  put16(h + 6, 4);
  // thiszone and sigfigs stay 0
  put32(h + 16, PcapWriter::snap_length);
  put32(h + 20, link_type);
  return pwrite_all(fd, h, sizeof h, 0);
}

}  // namespace

PcapWriterSettings pcap_writer_settings(const config::Capture& capture) {
  PcapWriterSettings s;
  s.path = capture.store_pcap;
  s.rotate_bytes = capture.store_rotate_bytes;
  return s;
}

std::uint32_t PcapWriter::file_link_type(int link_type) noexcept {
  const auto lt = static_cast<std::uint32_t>(link_type);
  if (lt == static_cast<std::uint32_t>(decode::LinkType::raw_dlt) ||
      lt == static_cast<std::uint32_t>(decode::LinkType::raw_dlt_bsd)) {
    return static_cast<std::uint32_t>(decode::LinkType::raw);
  }
  return lt;
}

core::Result<std::unique_ptr<PcapWriter>> PcapWriter::open(const PcapWriterSettings& settings) {
  if (settings.path.empty()) return core::Error{"pcap store: no file path given"};
  if (settings.keep_files > max_keep_files) {
    return core::Error{settings.path + ": pcap store: keep_files must be at most " +
                       std::to_string(max_keep_files) + ", got " + std::to_string(settings.keep_files)};
  }
  std::unique_ptr<PcapWriter> w(new PcapWriter(settings));
  if (auto st = w->start_file(file_link_type(settings.link_type)); !st) return core::Error{st.error()};
  return w;
}

PcapWriter::PcapWriter(const PcapWriterSettings& settings)
    : settings_(settings),
      // One record of the largest size must fit, so a record is never split across writes.
      buffer_(std::max(settings.buffer_bytes, record_header_size + snap_length)) {}

PcapWriter::~PcapWriter() { (void)close(); }

std::string PcapWriter::file_path(std::uint32_t n) const {
  return n == 0 ? settings_.path : settings_.path + "." + std::to_string(n);
}

core::Error PcapWriter::fail(const std::string& file, const std::string& what, int err) {
  ++stats_.errors;
  return core::Error{file + ": " + what + ": " + std::strerror(err)};
}

core::Status PcapWriter::drop(core::Status status, std::uint64_t frames) {
  stats_.dropped += frames;
  return status;
}

core::Status PcapWriter::rotate_out_live_file() {
  const std::string& live = settings_.path;
  struct stat st {};
  // A missing PATH needs no rotation; any other stat error shows up, with a clearer reason, in open.
  if (::stat(live.c_str(), &st) != 0) return core::Ok{};
  if (!S_ISREG(st.st_mode) || static_cast<std::uint64_t>(st.st_size) <= file_header_size) return core::Ok{};

  if (settings_.keep_files == 0) {
    if (::unlink(live.c_str()) != 0) return fail(live, "cannot delete full pcap store file", errno);
    return core::Ok{};
  }
  const std::string oldest = file_path(settings_.keep_files);
  if (::unlink(oldest.c_str()) != 0 && errno != ENOENT) {
    return fail(oldest, "cannot delete oldest pcap store file", errno);
  }
  // Gaps (a file deleted by hand, a shift cut short by an error) are skipped, not closed up.
  for (std::uint32_t i = settings_.keep_files - 1; i >= 1; --i) {
    const std::string from = file_path(i);
    const std::string to = file_path(i + 1);
    if (::rename(from.c_str(), to.c_str()) != 0 && errno != ENOENT) {
      return fail(from, "cannot rename pcap store file to " + to, errno);
    }
  }
  const std::string newest = file_path(1);
  if (::rename(live.c_str(), newest.c_str()) != 0) {
    return fail(live, "cannot rename pcap store file to " + newest, errno);
  }
  return core::Ok{};
}

core::Status PcapWriter::start_file(std::uint32_t link_type) {
  if (auto st = rotate_out_live_file(); !st) return st;
  const std::string& live = settings_.path;
  const int fd = ::open(live.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return fail(live, "cannot create pcap store file", errno);
  if (!write_file_header(fd, link_type)) {
    const int err = errno;
    // Leave no headerless file behind (it would be rotated out as a capture on the next start);
    // only a regular file: the path might be a device.
    struct stat st {};
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) ::unlink(live.c_str());
    ::close(fd);
    return fail(live, "cannot write pcap file header", err);
  }
  fd_ = fd;
  file_link_type_ = link_type;
  file_bytes_ = file_header_size;
  file_written_ = file_header_size;
  file_frames_ = 0;
  ++stats_.files;
  stats_.bytes += file_header_size;
  return core::Ok{};
}

core::Status PcapWriter::write_buffer() {
  if (used_ == 0 || fd_ < 0) return core::Ok{};
  if (pwrite_all(fd_, buffer_.data(), used_, file_written_)) {
    file_written_ += used_;
    used_ = 0;
    buffered_frames_ = 0;
    return core::Ok{};
  }
  const int err = errno;
  const std::uint64_t lost = buffered_frames_;
  stats_.frames -= lost;
  stats_.bytes -= used_;
  stats_.dropped += lost;
  file_frames_ -= lost;
  file_bytes_ = file_written_;
  used_ = 0;
  buffered_frames_ = 0;
  // A partial write may have left part of a record: cut the file back to its last whole record.
  if (::ftruncate(fd_, static_cast<off_t>(file_written_)) != 0) {
    // It may end in a cut record now: give it up; the next frame starts a new file.
    ++stats_.errors;
    ::close(fd_);
    fd_ = -1;
  }
  return fail(settings_.path, "cannot write pcap store file (" + std::to_string(lost) + " frames lost)", err);
}

core::Status PcapWriter::finish_file() {
  if (fd_ < 0) return core::Ok{};
  core::Status st = write_buffer();
  if (fd_ >= 0) {
    // close() reports delayed write errors on some file systems (NFS).
    if (::close(fd_) != 0 && st) st = fail(settings_.path, "cannot close pcap store file", errno);
    fd_ = -1;
  }
  return st;
}

core::Status PcapWriter::rotate(std::uint32_t link_type) {
  if (auto st = finish_file(); !st) return st;
  return start_file(link_type);
}

core::Status PcapWriter::write(const io::Frame& frame) {
  if (closed_) return drop(core::Error{settings_.path + ": pcap store is closed"}, 1);
  const std::uint32_t link_type = file_link_type(frame.link_type);
  const std::uint32_t caplen = frame.data == nullptr ? 0 : std::min(frame.caplen, snap_length);
  const std::uint32_t wire_len = std::max(frame.wire_len, frame.caplen);
  const std::size_t record = record_header_size + caplen;

  if (fd_ < 0) {
    if (auto st = start_file(link_type); !st) return drop(st, 1);
  } else if (link_type != file_link_type_) {
    if (file_frames_ == 0) {
      // Nothing in this file yet (and so nothing buffered): it takes this frame's link type.
      if (!write_file_header(fd_, link_type)) {
        return drop(fail(settings_.path, "cannot write pcap file header", errno), 1);
      }
      file_link_type_ = link_type;
    } else if (auto st = rotate(link_type); !st) {
      return drop(st, 1);
    }
  } else if (settings_.rotate_bytes != 0 && file_frames_ != 0 &&
             file_bytes_ + record > settings_.rotate_bytes) {
    if (auto st = rotate(link_type); !st) return drop(st, 1);
  }
  if (used_ + record > buffer_.size()) {
    if (auto st = write_buffer(); !st) return drop(st, 1);
  }

  std::uint8_t* p = buffer_.data() + used_;
  put32(p, static_cast<std::uint32_t>(frame.timestamp_ns / 1'000'000'000ULL));
  put32(p + 4, static_cast<std::uint32_t>(frame.timestamp_ns % 1'000'000'000ULL));
  put32(p + 8, caplen);
  put32(p + 12, wire_len);
  if (caplen != 0) std::memcpy(p + record_header_size, frame.data, caplen);
  used_ += record;
  ++buffered_frames_;
  ++file_frames_;
  file_bytes_ += record;
  ++stats_.frames;
  stats_.bytes += record;
  if (frame.caplen > snap_length) ++stats_.snapped;
  return core::Ok{};
}

core::Status PcapWriter::write(std::span<const io::Frame> frames) {
  for (std::size_t i = 0; i < frames.size(); ++i) {
    if (auto st = write(frames[i]); !st) return drop(st, frames.size() - i - 1);
  }
  return core::Ok{};
}

core::Status PcapWriter::flush() { return write_buffer(); }

core::Status PcapWriter::close() {
  if (closed_) return core::Ok{};
  closed_ = true;
  return finish_file();
}

}  // namespace flowpulse::exporting
