#include "io/pcap_file_source.hpp"

#include <algorithm>
#include <cstring>
#include <thread>

#include "core/clock.hpp"

namespace flowpulse::io {

core::Result<std::unique_ptr<PcapFileSource>> PcapFileSource::open(const std::string& path,
                                                                   const PcapFileOptions& options) {
  if (options.speed < 0) return core::Error{"pcap_file: speed must be 0 (as fast as possible) or positive"};
  auto file = PcapFile::open(path);
  if (!file) return core::Error{file.error()};
  return std::unique_ptr<PcapFileSource>(new PcapFileSource(std::move(file).value(), options));
}

PcapFileSource::PcapFileSource(PcapFile file, const PcapFileOptions& options)
    : file_(std::move(file)), options_(options), copies_(options.burst_bytes) {}

std::uint64_t PcapFileSource::due_ns(std::uint64_t time_ns) {
  if (start_wall_ns_ == 0) {
    start_wall_ns_ = core::monotonic_ns();
    first_time_ns_ = time_ns;
  }
  const std::uint64_t offset = time_ns > first_time_ns_ ? time_ns - first_time_ns_ : 0;
  return start_wall_ns_ + static_cast<std::uint64_t>(static_cast<double>(offset) / options_.speed);
}

core::Result<std::size_t> PcapFileSource::receive(std::span<Frame> out, int timeout_ms) {
  const std::uint64_t deadline =
      core::monotonic_ns() + static_cast<std::uint64_t>(std::max(timeout_ms, 0)) * 1'000'000;
  std::size_t n = 0;
  std::size_t used = 0;
  while (n < out.size() && !at_end_) {
    if (!has_pending_) {
      auto more = file_.next(pending_);
      if (!more) return core::Error{more.error()};
      if (!*more) {
        at_end_ = true;
        break;
      }
      has_pending_ = true;
    }
    if (options_.speed > 0) {
      const std::uint64_t due = due_ns(pending_.time_ns);
      const std::uint64_t now = core::monotonic_ns();
      if (due > now) {
        if (n != 0) break;  // hand out what is due now
        if (due > deadline) {
          std::this_thread::sleep_for(std::chrono::nanoseconds(deadline > now ? deadline - now : 0));
          return std::size_t{0};
        }
        std::this_thread::sleep_for(std::chrono::nanoseconds(due - now));
      }
    }
    if (used + pending_.captured > copies_.size()) {
      if (n != 0) break;                  // the next burst starts with it
      copies_.resize(pending_.captured);  // one frame larger than the buffer: once, rarely
    }
    std::memcpy(copies_.data() + used, pending_.data, pending_.captured);
    out[n] = Frame{copies_.data() + used,
                   static_cast<std::uint32_t>(pending_.captured),
                   static_cast<std::uint32_t>(pending_.wire_length),
                   pending_.time_ns,
                   0,
                   0,
                   static_cast<int>(pending_.link_type)};
    used += pending_.captured;
    bytes_.fetch_add(pending_.wire_length, std::memory_order_relaxed);
    ++n;
    has_pending_ = false;
  }
  frames_.fetch_add(n, std::memory_order_relaxed);
  return n;
}

SourceStats PcapFileSource::stats() const {
  SourceStats s;
  s.frames = frames_.load(std::memory_order_relaxed);
  s.bytes = bytes_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace flowpulse::io
