// The pcap store (`capture.store_pcap`): captured frames written to classic pcap files that tcpdump,
// tshark and libpcap read (nanosecond magic 0xa1b23c4d, version 2.4, snap length 262144, host byte
// order), rotated by size. Records collect in a user-space buffer and reach the file in whole-buffer
// write(2) calls, so write() makes no system call until the buffer is full. One writer per owner:
// it is not thread-safe, and it is meant for the thread that stores frames, not for a worker's hot
// path (rotation renames files and a full buffer blocks on the disk).
//
// Files, with PATH = settings.path:
//  - PATH is the file being written. A reader sees its frames up to the last flush.
//  - Rotation: PATH.K is deleted (K = keep_files), PATH.i is renamed to PATH.i+1 for i = K-1 .. 1,
//    PATH is renamed to PATH.1 and a new PATH is started. PATH.1 is thus the newest complete file
//    and PATH.K the oldest; the frames in PATH.K, ..., PATH.1, PATH are in the order written. With
//    keep_files 0 a full file is deleted. Files PATH.N with N > keep_files are never touched.
//  - A file is rotated before a frame whose record would take it past rotate_bytes (file header
//    included), unless the file holds no frame yet: every file takes at least one frame, so a frame
//    larger than the limit gets a file of its own instead of being dropped. rotate_bytes 0 = never.
//  - One pcap file has one link type. A frame whose link type differs from the file's rotates to a
//    new file (the same rotation as above); a file with no frame yet simply takes the link type of
//    its first frame (its header is rewritten), so no empty file is left behind. DLT_RAW (12, what
//    libpcap reports for raw IP on Linux; 14 on OpenBSD) is written as LINKTYPE_RAW (101).
//  - At open, an existing PATH that holds frames (is longer than a file header) is rotated out
//    first, so a restart never overwrites a capture; an empty or header-only PATH is overwritten.
// Frames longer than the snap length are cut to it (the wire length is kept); a wire length below
// the captured length is raised to it. Timestamps keep their nanoseconds; seconds are 32-bit in the
// format (good until 2106).
//
// Errors (a directory that cannot be written, a full disk, a failed rename) return a message with
// the path and strerror and are counted in stats(). A frame the writer could not take is dropped
// and counted. A failed buffer write loses the frames in the buffer (counted as dropped) and cuts
// the file back to its last complete record, so the file stays readable; the next write tries
// again, starting a new file if the old one had to be given up. In a burst, the frames after a
// failed one are dropped with it and the first error is returned.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "core/result.hpp"
#include "io/packet_source.hpp"

namespace flowpulse::exporting {

struct PcapWriterSettings {
  std::string path;                         // the live file; rotated files are PATH.1 ... PATH.N
  std::uint64_t rotate_bytes = 1ULL << 30;  // largest file size (see above); 0 = no rotation
  std::uint32_t keep_files = 10;            // rotated files kept besides PATH (0-100000)
  std::size_t buffer_bytes = 1 << 20;       // raised to one largest record if smaller
  int link_type = 1;                        // of the first file until its first frame
};

// capture.store_pcap and capture.store_rotate_bytes, with the defaults above for the rest.
PcapWriterSettings pcap_writer_settings(const config::Capture& capture);

struct PcapWriterStats {
  // Stored frames: written to a file or waiting in the buffer (files deleted by rotation do not
  // subtract), and their bytes: file headers, record headers and captured data.
  std::uint64_t frames = 0;
  std::uint64_t bytes = 0;
  std::uint64_t files = 0;    // files started (1 + rotations, plus restarts after errors)
  std::uint64_t snapped = 0;  // frames cut to the snap length
  std::uint64_t errors = 0;   // failed operations: create, write, rename, delete, close
  std::uint64_t dropped = 0;  // frames not stored because of an error (offered = frames + dropped)
};

class PcapWriter {
 public:
  static constexpr std::uint32_t magic_nanosecond = 0xa1b23c4d;
  static constexpr std::uint32_t snap_length = 262144;
  static constexpr std::size_t file_header_size = 24;
  static constexpr std::size_t record_header_size = 16;

  // Starts PATH (rotating out a PATH with frames in it, see above). Fails with the path and the
  // reason when it cannot be created or written, or when the settings are invalid.
  static core::Result<std::unique_ptr<PcapWriter>> open(const PcapWriterSettings& settings);

  ~PcapWriter();  // flushes and closes; errors are counted, not reported
  PcapWriter(const PcapWriter&) = delete;
  PcapWriter& operator=(const PcapWriter&) = delete;

  // Stores one frame, or a burst (stopping at the first error, whose frame and those after it are
  // dropped). The frame's bytes are copied; they need not outlive the call.
  core::Status write(const io::Frame& frame);
  core::Status write(std::span<const io::Frame> frames);
  // Hands the buffered records to the kernel (write(2), no fsync).
  core::Status flush();
  // Flushes and closes PATH; later writes fail. The destructor does this when not done before.
  core::Status close();

  const PcapWriterStats& stats() const noexcept { return stats_; }
  const std::string& path() const noexcept { return settings_.path; }
  // PATH for n = 0, PATH.n for the n-th newest rotated file.
  std::string file_path(std::uint32_t n) const;

  // The LINKTYPE_ value written in a file for a frame's DLT_/LINKTYPE_ value.
  static std::uint32_t file_link_type(int link_type) noexcept;

 private:
  explicit PcapWriter(const PcapWriterSettings& settings);

  core::Status start_file(std::uint32_t link_type);
  core::Status finish_file();
  core::Status rotate(std::uint32_t link_type);
  core::Status rotate_out_live_file();
  core::Status write_buffer();
  // Counts the error; the message names `file`, says what failed and why (strerror of `err`).
  core::Error fail(const std::string& file, const std::string& what, int err);
  core::Status drop(core::Status status, std::uint64_t frames);

  PcapWriterSettings settings_;
  std::vector<std::uint8_t> buffer_;
  std::size_t used_ = 0;               // bytes in buffer_
  std::uint64_t buffered_frames_ = 0;  // frames in buffer_
  int fd_ = -1;                        // PATH, or -1 when no file is open
  bool closed_ = false;
  std::uint32_t file_link_type_ = 0;
  std::uint64_t file_bytes_ = 0;    // size of PATH once the buffer is written
  std::uint64_t file_written_ = 0;  // of which already in the file
  std::uint64_t file_frames_ = 0;   // frames in PATH, written or buffered
  PcapWriterStats stats_;
};

}  // namespace flowpulse::exporting
