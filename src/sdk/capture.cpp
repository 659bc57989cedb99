#include "sdk/capture.hpp"

#include <unistd.h>

#include <algorithm>

#include "core/log.hpp"
#include "export/pcap_writer.hpp"
#include "flowpulse_build_config.hpp"
#include "io/afpacket_source.hpp"
#include "io/pcap_file_source.hpp"
#include "io/pcap_live_source.hpp"
#if FLOWPULSE_HAVE_DPDK
#include "io/dpdk/dpdk_source.hpp"
#endif
#if FLOWPULSE_HAVE_AFXDP
#include "io/afxdp/afxdp_source.hpp"
#endif

namespace flowpulse::sdk {
namespace {

using Inputs = std::vector<engine::CaptureInput>;

// A capture worker's pcap store: its own PcapWriter (one file series per worker, no sharing).
// A failed write is logged (rate-limited) and counted by the writer; capture goes on.
class PcapStore final : public io::FrameSink {
 public:
  explicit PcapStore(std::unique_ptr<exporting::PcapWriter> writer) : writer_(std::move(writer)) {}
  void write(std::span<const io::Frame> frames) override { report(writer_->write(frames)); }
  void flush() override { report(writer_->flush()); }

 private:
  void report(const core::Status& st) {
    if (!st) {
      log::limited(log::Level::error, "store_error", writer_->path(), "pcap store write failed",
                   {{"error", st.error()}, {"dropped_frames", writer_->stats().dropped}});
    }
  }
  std::unique_ptr<exporting::PcapWriter> writer_;
};

// capture.store_pcap for worker `i` of `n`: the path itself for one worker, else "-w<i>" before
// the extension ("store.pcap" -> "store-w0.pcap").
std::string store_path(const std::string& path, std::size_t i, std::size_t n) {
  if (n == 1) return path;
  const std::size_t slash = path.rfind('/');
  const std::size_t dot = path.rfind('.');
  const std::size_t at =
      dot != std::string::npos && (slash == std::string::npos || dot > slash) ? dot : path.size();
  return path.substr(0, at) + "-w" + std::to_string(i) + path.substr(at);
}

core::Status open_stores(const config::Capture& capture, Inputs& inputs) {
  if (capture.store_pcap.empty()) return core::Ok{};
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    exporting::PcapWriterSettings ws = exporting::pcap_writer_settings(capture);
    ws.path = store_path(capture.store_pcap, i, inputs.size());
    auto w = exporting::PcapWriter::open(ws);
    if (!w) return core::Error{"capture.store_pcap: " + w.error()};
    log::info("storing captured frames", {{"source", inputs[i].source->name()}, {"file", ws.path}});
    inputs[i].store = std::make_unique<PcapStore>(std::move(w).value());
  }
  return core::Ok{};
}

core::Status add_dpdk(const config::CaptureSource& s, unsigned workers, Inputs& out) {
#if FLOWPULSE_HAVE_DPDK
  auto eal = io::dpdk::Eal::init(s.eal_args);
  if (!eal) return core::Error{eal.error()};
  io::dpdk::PortOptions po;
  po.rx_queues = static_cast<std::uint16_t>(s.queues.empty() ? workers : s.queues.size());
  // net_af_xdp refuses a configuration whose RX and TX queue counts differ (its queues are pairs);
  // the TX queues are set up and never used (DpdkPort caps them at what the device has).
  po.tx_queues = po.rx_queues;
  auto port = io::dpdk::DpdkPort::open(*eal, s.device.empty() ? "0" : s.device, po);
  if (!port) return core::Error{port.error()};
  for (std::uint16_t q = 0; q < (*port)->rx_queues(); ++q) {
    out.push_back({std::make_unique<io::dpdk::DpdkSource>(*port, q), nullptr});
  }
  return core::Ok{};
#else
  (void)s;
  (void)workers;
  (void)out;
  return core::Error{"capture source dpdk: this flowpulse was built without DPDK (meson -Ddpdk=enabled)"};
#endif
}

core::Status add_afxdp(const config::CaptureSource& s, const config::Capture& capture, Inputs& out) {
#if FLOWPULSE_HAVE_AFXDP
  if (!capture.filter.empty()) {
    log::warn("capture.filter does not apply to afxdp sources: the XDP program redirects all IP traffic",
              {{"device", s.device}});
  }
  io::afxdp::Selection sel;
  sel.protocols = io::afxdp::select_all;
  auto program = io::afxdp::XdpProgram::attach(s.device, sel);
  if (!program) return core::Error{program.error()};
  const std::vector<std::uint16_t> queues = s.queues.empty() ? std::vector<std::uint16_t>{0} : s.queues;
  for (std::uint16_t q : queues) {
    io::afxdp::SocketOptions so;
    so.queue = q;
    auto src = io::afxdp::AfXdpSource::open(*program, so);
    if (!src) return core::Error{src.error()};
    out.push_back({std::move(src).value(), nullptr});
  }
  return core::Ok{};
#else
  (void)s;
  (void)capture;
  (void)out;
  return core::Error{"capture source afxdp: this flowpulse was built without libxdp (meson -Dafxdp=enabled)"};
#endif
}

}  // namespace

core::Result<Inputs> open_capture(const config::Config& cfg, unsigned workers, const RingTuning& tuning) {
  Inputs out;
  std::uint16_t fanout_group = static_cast<std::uint16_t>(getpid() & 0x7fff);  // unique per process
  for (const config::CaptureSource& s : cfg.capture.sources) {
    core::Status st = core::Ok{};
    switch (s.type) {
      case config::SourceType::afpacket:
        for (unsigned i = 0; i < workers; ++i) {
          io::AfPacketOptions o;
          o.filter = cfg.capture.filter;
          o.fanout_group = workers > 1 ? fanout_group : 0;
          o.queue = static_cast<std::uint16_t>(i);
          o.block_timeout_ms = tuning.block_timeout_ms;
          if (tuning.ring_bytes != 0) o.block_count = std::max(4U, tuning.ring_bytes / o.block_size);
          auto src = io::AfPacketSource::open(s.device, o);
          if (!src) return core::Error{src.error()};
          out.push_back({std::move(src).value(), nullptr});
        }
        ++fanout_group;
        break;
      case config::SourceType::pcap: {
        io::PcapLiveOptions o;
        o.filter = cfg.capture.filter;
        o.block_timeout_ms = static_cast<int>(tuning.block_timeout_ms);
        if (tuning.ring_bytes != 0) o.buffer_bytes = tuning.ring_bytes;
        auto src = io::PcapLiveSource::open(s.device, o);
        if (!src) return core::Error{src.error()};
        out.push_back({std::move(src).value(), nullptr});
        break;
      }
      case config::SourceType::pcap_file: {
        auto src = io::PcapFileSource::open(s.file);
        if (!src) return core::Error{src.error()};
        out.push_back({std::move(src).value(), nullptr});
        break;
      }
      case config::SourceType::dpdk: st = add_dpdk(s, workers, out); break;
      case config::SourceType::afxdp: st = add_afxdp(s, cfg.capture, out); break;
    }
    if (!st) return core::Error{st.error()};
  }
  if (auto st = open_stores(cfg.capture, out); !st) return core::Error{st.error()};
  return out;
}

}  // namespace flowpulse::sdk
