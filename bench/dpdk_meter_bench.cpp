// The raw-packet worker path per core through DPDK, end to end: DpdkSource::receive (burst 32) ->
// engine::Meter::process -> release, the meter flushed into a flow-table shard every 20M packets
// (a 1 s tick at the 20 Mpps target), as the capture worker runs it. The frames are those of
// bench_meter (bench/raw_packet_bench.hpp): 64-byte Ethernet/IPv4/UDP of N distinct flows in a
// shuffled order. Two vdevs:
//   ring  a net_ring loopback port: a producer thread on another core keeps its ring full by
//         tx_burst (bench/dpdk_ring_feeder.hpp) of pre-built mbufs, one per frame (--feed prebuilt,
//         the default), or of a NIC-like pool of --feed-mbufs recycled mbufs into which it writes
//         each frame (--feed recycled); the empty-poll fraction says whether it kept up. The ring
//         has --ring-size slots (rte_eth_from_ring; default 2^20), or with --ring-size 0 it is
//         `--vdev net_ring0` with that vdev's 1,024-slot ring.
//   pcap  net_pcap0 with rx_pcap=FILE,infinite_rx=1: the PMD holds the file in mbufs and copies each
//         frame into a fresh mbuf per rx_burst, looping for ever (what dpdk-testpmd can read too).
// Each run measures the loop with the meter and without it (receive + release only: the source's
// own ceiling), after a warm-up. Rates are per CPU-second of the worker thread
// (CLOCK_THREAD_CPUTIME_ID): the machine is shared, and wall time would count other processes'
// time; cycles/pkt = CPU time x TSC rate / packets. Polls that found nothing spin on the CPU too:
// busy_cycles_per_pkt counts TSC cycles inside non-empty polls only (receive to release; a poll
// preempted by another process is left out, and counted), the cost of a packet when the source
// never runs dry. One EAL per process (DPDK cannot start twice).
//
//   bench_dpdk_meter --write-pcap FILE --flows N      writes the frames for N flows as a pcap
//   bench_dpdk_meter --vdev ring|pcap --flows N [--pcap FILE] [--seconds S] [--warmup S]
//                    [--mode both|meter|rx] [--memory MB] [--cpu C] [--producer-cpu C]
//                    [--ring-size N] [--feed prebuilt|recycled] [--feed-mbufs N]
// Needs root (EAL memory). Each measured loop prints one `result key=value ...` line.
#include <unistd.h>
#include <x86intrin.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "decode/flow_decoder.hpp"
#include "dpdk_ring_feeder.hpp"
#include "engine/meter.hpp"
#include "io/dpdk/dpdk_source.hpp"
#include "raw_packet_bench.hpp"

namespace {

using namespace flowpulse;
using bench::frame_size;

constexpr std::size_t burst_size = 32;

struct Options {
  std::string write_pcap;
  std::string vdev;  // ring | pcap
  std::string pcap;  // pcap: the file to loop (written to /tmp when not given)
  std::uint32_t flows = 0;
  double seconds = 3.0;
  double warmup = 1.0;
  std::string mode = "both";
  unsigned memory_mb = 0;  // EAL memory; 0 = what the vdev needs (see eal_memory_mb)
  int cpu = 0;
  int producer_cpu = 1;
  std::size_t ring_size = 1U << 20;  // 0: `--vdev net_ring0` (rings of 1,024)
  bench::RingFeed feed = bench::RingFeed::prebuilt;
  std::size_t feed_mbufs = 16384;  // the recycled feed's pool, as a NIC queue's descriptors and caches
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(
      stderr,
      "%s\nusage: bench_dpdk_meter --write-pcap FILE --flows N\n"
      "       bench_dpdk_meter --vdev ring|pcap --flows N [--pcap FILE] [--seconds S] "
      "[--warmup S] [--mode both|meter|rx] [--memory MB] [--cpu C] [--producer-cpu C] [--ring-size N]\n"
      "       [--feed prebuilt|recycled] [--feed-mbufs N]\n",
      why);
  std::exit(2);
}

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) usage(("missing value after " + a).c_str());
      return argv[++i];
    };
    if (a == "--write-pcap") {
      o.write_pcap = next();
    } else if (a == "--vdev") {
      o.vdev = next();
    } else if (a == "--pcap") {
      o.pcap = next();
    } else if (a == "--flows") {
      o.flows = static_cast<std::uint32_t>(std::strtoul(next().c_str(), nullptr, 10));
    } else if (a == "--seconds") {
      o.seconds = std::atof(next().c_str());
    } else if (a == "--warmup") {
      o.warmup = std::atof(next().c_str());
    } else if (a == "--mode") {
      o.mode = next();
    } else if (a == "--memory") {
      o.memory_mb = static_cast<unsigned>(std::strtoul(next().c_str(), nullptr, 10));
    } else if (a == "--cpu") {
      o.cpu = std::atoi(next().c_str());
    } else if (a == "--ring-size") {
      o.ring_size = std::strtoul(next().c_str(), nullptr, 10);
    } else if (a == "--feed") {
      const std::string f = next();
      if (f != "prebuilt" && f != "recycled") usage("--feed must be prebuilt or recycled");
      o.feed = f == "recycled" ? bench::RingFeed::recycled : bench::RingFeed::prebuilt;
    } else if (a == "--feed-mbufs") {
      o.feed_mbufs = std::strtoul(next().c_str(), nullptr, 10);
    } else if (a == "--producer-cpu") {
      o.producer_cpu = std::atoi(next().c_str());
    } else if (a == "-h" || a == "--help") {
      usage("");
    } else {
      usage(("unknown argument " + a).c_str());
    }
  }
  if (o.flows == 0 || o.flows >= (1U << 24)) usage("--flows must be 1..16777215");
  if (o.write_pcap.empty() && o.vdev != "ring" && o.vdev != "pcap") usage("--vdev must be ring or pcap");
  if (o.mode != "both" && o.mode != "meter" && o.mode != "rx") usage("--mode must be both, meter or rx");
  if (o.seconds <= 0 || o.warmup < 0) usage("--seconds must be > 0 and --warmup >= 0");
  return o;
}

// A classic pcap (microseconds, Ethernet) of `frames`, one frame per microsecond.
core::Status write_pcap(const std::string& path, std::span<const std::uint8_t> frames) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return core::Error{"cannot write " + path + ": " + std::strerror(errno)};
  auto put32 = [&](std::uint32_t v) { out.write(reinterpret_cast<const char*>(&v), 4); };
  auto put16 = [&](std::uint16_t v) { out.write(reinterpret_cast<const char*>(&v), 2); };
  put32(0xa1b2c3d4);
  put16(2);
  put16(4);
  put32(0);
  put32(0);
  put32(65535);
  put32(1);
  const std::size_t n = frames.size() / frame_size;
  for (std::size_t i = 0; i < n; ++i) {
    put32(static_cast<std::uint32_t>(1'700'000'000 + i / 1'000'000));
    put32(static_cast<std::uint32_t>(i % 1'000'000));
    put32(frame_size);
    put32(frame_size);
    out.write(reinterpret_cast<const char*>(frames.data() + i * frame_size), frame_size);
  }
  out.close();
  if (!out) return core::Error{"cannot write " + path + ": " + std::strerror(errno)};
  return core::Ok{};
}

// Packets in a classic little-endian pcap (net_pcap keeps them all in mbufs with infinite_rx).
core::Result<std::size_t> count_pcap_frames(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return core::Error{"cannot read " + path + ": " + std::strerror(errno)};
  std::array<std::uint8_t, 24> header{};
  if (!in.read(reinterpret_cast<char*>(header.data()), header.size()))
    return core::Error{path + ": not a pcap file (shorter than its header)"};
  std::uint32_t magic = 0;
  std::memcpy(&magic, header.data(), 4);
  if (magic != 0xa1b2c3d4 && magic != 0xa1b23c4d)
    return core::Error{path + ": not a little-endian pcap file"};
  std::size_t n = 0;
  std::array<std::uint32_t, 4> rec{};
  while (in.read(reinterpret_cast<char*>(rec.data()), sizeof rec)) {
    in.seekg(rec[2], std::ios::cur);
    if (!in) return core::Error{path + ": cut short in packet " + std::to_string(n + 1)};
    ++n;
  }
  return n;
}

// Without hugepages the EAL's memory is 4 KiB pages, and a pool object does not straddle two: a
// default mbuf (2,176-byte room, ~2.4 KiB in all) takes a page of its own. net_pcap with infinite_rx
// keeps the file in the port's pool: one page per frame, plus the working mbufs. The ring feeder's
// mbufs are small (~400 bytes, 10 to a page).
unsigned eal_memory_mb(const Options& o, std::size_t file_frames) {
  if (o.memory_mb != 0) return o.memory_mb;
  if (o.vdev == "ring") return static_cast<unsigned>(512 + file_frames * 400 / (1U << 20));
  return static_cast<unsigned>(512 + (file_frames + 8192) * 4096 / (1U << 20));
}

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

struct LoopResult {
  std::uint64_t packets = 0;
  std::uint64_t polls = 0;
  std::uint64_t empty_polls = 0;
  std::uint64_t flushes = 0;
  // TSC cycles inside non-empty polls and their packets, without the polls that took longer than
  // a burst can (the thread was preempted in them), plus the flushes' CPU time in cycles.
  std::uint64_t busy_cycles = 0;
  std::uint64_t busy_packets = 0;
  std::uint64_t preempted_polls = 0;
  double cpu_s = 0;
  double wall_s = 0;
};

// The worker loop for `seconds` of wall time: receive -> (meter) -> release, flushing the meter into
// the shard every tick_packets. The clock is read once per 64 polls, off the per-burst path.
template <bool Meter>
LoopResult run_loop(io::PacketSource& src, engine::Meter& meter, bench::ShardSink& sink,
                    decode::RecordWriter& writer, std::uint64_t& since_flush, double seconds) {
  std::array<io::Frame, burst_size> frames{};
  LoopResult r;
  // 50 us: a burst of 32 at 1,000 cycles per packet takes 14 us; a time slice taken by another
  // process takes milliseconds.
  const auto preempted = static_cast<std::uint64_t>(bench::tsc_hz() * 50e-6);
  const double cpu0 = thread_cpu_seconds();
  const auto t0 = std::chrono::steady_clock::now();
  const auto end = t0 + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    for (int rep = 0; rep < 64; ++rep) {
      const std::uint64_t c0 = __rdtsc();
      const core::Result<std::size_t> got = src.receive(frames, 0);
      if (!got) {
        std::fprintf(stderr, "receive: %s\n", got.error().c_str());
        std::exit(1);
      }
      ++r.polls;
      const std::size_t n = got.value();
      if (n == 0) {
        ++r.empty_polls;
        continue;
      }
      if constexpr (Meter) meter.process(std::span<const io::Frame>(frames.data(), n), writer);
      src.release();
      const std::uint64_t took = __rdtsc() - c0;
      if (took < preempted) {
        r.busy_cycles += took;
        r.busy_packets += n;
      } else {
        ++r.preempted_polls;
      }
      r.packets += n;
      if constexpr (Meter) {
        since_flush += n;
        if (since_flush >= bench::tick_packets) {
          const double f0 = thread_cpu_seconds();
          meter.flush(writer);
          writer.flush();
          sink.table.clear();
          since_flush = 0;
          ++r.flushes;
          r.busy_cycles += static_cast<std::uint64_t>((thread_cpu_seconds() - f0) * bench::tsc_hz());
        }
      }
    }
  }
  r.cpu_s = thread_cpu_seconds() - cpu0;
  r.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

void print_result(const Options& o, const char* mode, const LoopResult& r, std::size_t file_frames,
                  const std::string& extra) {
  const double mpps_cpu = static_cast<double>(r.packets) / r.cpu_s / 1e6;
  const double mpps_wall = static_cast<double>(r.packets) / r.wall_s / 1e6;
  const double cycles = r.cpu_s * bench::tsc_hz() / static_cast<double>(r.packets);
  std::printf(
      "result vdev=%s flows=%u frames=%zu mode=%s packets=%llu cpu_s=%.3f wall_s=%.3f cpu_share=%.3f "
      "mpps_cpu=%.2f mpps_wall=%.2f cycles_per_pkt=%.1f busy_cycles_per_pkt=%.1f empty_poll_fraction=%.5f "
      "preempted_polls=%llu flushes=%llu%s\n",
      o.vdev.c_str(), o.flows, file_frames, mode, static_cast<unsigned long long>(r.packets), r.cpu_s,
      r.wall_s, r.cpu_s / r.wall_s, mpps_cpu, mpps_wall, cycles,
      static_cast<double>(r.busy_cycles) / static_cast<double>(r.busy_packets),
      r.polls == 0 ? 0.0 : static_cast<double>(r.empty_polls) / static_cast<double>(r.polls),
      static_cast<unsigned long long>(r.preempted_polls), static_cast<unsigned long long>(r.flushes),
      extra.c_str());
  std::fflush(stdout);
}

int run(const Options& o) {
  const std::vector<std::uint8_t> frames = bench::shuffled_frames(o.flows);
  const std::size_t n_frames = frames.size() / frame_size;
  (void)bench::tsc_hz();  // measured now, not inside a timed loop

  // The pcap to loop: the caller's (shared with dpdk-testpmd) or our own under /tmp.
  std::string pcap = o.pcap;
  std::optional<std::filesystem::path> own_pcap;
  std::size_t file_frames = n_frames;
  if (o.vdev == "pcap") {
    if (pcap.empty()) {
      own_pcap =
          std::filesystem::temp_directory_path() / ("fp-dpdk-meter-" + std::to_string(getpid()) + ".pcap");
      pcap = own_pcap->string();
      if (auto w = write_pcap(pcap, frames); !w) {
        std::fprintf(stderr, "%s\n", w.error().c_str());
        return 1;
      }
    }
    auto counted = count_pcap_frames(pcap);
    if (!counted) {
      std::fprintf(stderr, "%s\n", counted.error().c_str());
      return 1;
    }
    file_frames = *counted;
  }
  struct RemoveFile {
    std::optional<std::filesystem::path> path;
    ~RemoveFile() {
      std::error_code ec;
      if (path) std::filesystem::remove(*path, ec);
    }
  } remove_pcap{own_pcap};

  std::string device = o.vdev == "ring" ? "net_ring0" : "net_pcap0";
  std::vector<std::string> eal_args = {"--no-huge",
                                       "-m",
                                       std::to_string(eal_memory_mb(o, file_frames)),
                                       "--no-shconf",
                                       "--no-pci",
                                       "--file-prefix=fp-dpdk-meter-" + std::to_string(getpid()),
                                       "-l",
                                       std::to_string(o.cpu),
                                       "--log-level=*:warning"};
  if (o.vdev == "pcap") {
    eal_args.insert(eal_args.end(), {"--vdev", device + ",rx_pcap=" + pcap + ",infinite_rx=1"});
  } else if (o.ring_size == 0) {
    eal_args.insert(eal_args.end(), {"--vdev", device});
  }
  auto eal = io::dpdk::Eal::init(eal_args);
  if (!eal) {
    std::fprintf(stderr, "%s\n", eal.error().c_str());
    return 1;
  }
  if (o.vdev == "ring" && o.ring_size != 0) {
    auto name = bench::create_ring_port(o.ring_size);
    if (!name) {
      std::fprintf(stderr, "%s\n", name.error().c_str());
      return 1;
    }
    device = *name;
  }
  io::dpdk::PortOptions po;
  if (o.vdev == "ring") {
    po.tx_queues = 1;
  } else {
    po.mbufs = static_cast<std::uint32_t>(file_frames + 8192);  // the file, plus the working mbufs
  }
  auto port = io::dpdk::DpdkPort::open(*eal, device, po);
  if (!port) {
    std::fprintf(stderr, "%s\n", port.error().c_str());
    return 1;
  }

  std::unique_ptr<bench::RingFeeder> feeder;
  if (o.vdev == "ring") {
    auto f = bench::RingFeeder::create((*port)->port_id(), frames, frame_size, o.feed, o.feed_mbufs);
    if (!f) {
      std::fprintf(stderr, "%s\n", f.error().c_str());
      return 1;
    }
    feeder = std::move(*f);
    if (auto s = feeder->start(o.producer_cpu, burst_size); !s) {
      std::fprintf(stderr, "%s\n", s.error().c_str());
      return 1;
    }
  }

  {
    io::dpdk::DpdkSource source(*port, 0);
    io::PacketSource& src = source;
    if (auto a = src.attach_thread(); !a) std::fprintf(stderr, "warning: %s\n", a.error().c_str());

    decode::FlowDecoder decoder{decode::Limits{}};
    engine::MeterSettings ms;
    ms.flow_cache_capacity = std::max<std::uint32_t>(o.flows + o.flows / 4, 1024);
    engine::Meter meter(ms, decoder);
    bench::ShardSink sink(bench::default_dimensions());
    decode::RecordWriter writer(sink);
    std::uint64_t since_flush = 0;

    const bool do_rx = o.mode != "meter";
    const bool do_meter = o.mode != "rx";
    if (do_rx) {
      (void)run_loop<false>(src, meter, sink, writer, since_flush, o.warmup);
      const LoopResult r = run_loop<false>(src, meter, sink, writer, since_flush, o.seconds);
      print_result(o, "rx", r, file_frames, "");
    }
    if (do_meter) {
      // Warm-up: at least one pass over the frames, so every flow is in the cache before timing.
      const engine::MeterStats before = meter.stats();
      (void)run_loop<true>(src, meter, sink, writer, since_flush, o.warmup);
      while (meter.stats().frames - before.frames < n_frames)
        (void)run_loop<true>(src, meter, sink, writer, since_flush, 0.1);
      const std::uint64_t metered0 = meter.stats().metered;
      const LoopResult r = run_loop<true>(src, meter, sink, writer, since_flush, o.seconds);
      const engine::MeterStats& ms_now = meter.stats();
      char buf[160];
      std::snprintf(buf, sizeof buf, " metered=%llu cached_flows=%zu",
                    static_cast<unsigned long long>(ms_now.metered - metered0), meter.cached_flows());
      print_result(o, "meter", r, file_frames, buf);
      if (ms_now.metered != ms_now.frames) {
        std::fprintf(stderr, "error: %llu of %llu frames not metered\n",
                     static_cast<unsigned long long>(ms_now.frames - ms_now.metered),
                     static_cast<unsigned long long>(ms_now.frames));
        return 1;
      }
      meter.flush(writer);
      writer.flush();
    }

    if (feeder) {
      feeder->stop();
      // Drain what the producer left in the ring, so the feeder's pool is freed with nothing in flight.
      std::array<io::Frame, burst_size> rest{};
      for (int empty = 0; empty < 16;) {
        auto got = src.receive(rest, 0);
        if (!got || *got == 0) {
          ++empty;
          continue;
        }
        src.release();
      }
      const bench::RingFeederStats fs = feeder->stats();
      std::printf(
          "producer feed=%s sent=%llu tx_calls=%llu ring_full_fraction=%.4f passes=%llu pool_empty=%llu\n",
          o.feed == bench::RingFeed::recycled ? "recycled" : "prebuilt",
          static_cast<unsigned long long>(fs.sent), static_cast<unsigned long long>(fs.tx_calls),
          fs.tx_calls == 0 ? 0.0 : static_cast<double>(fs.ring_full) / static_cast<double>(fs.tx_calls),
          static_cast<unsigned long long>(fs.passes), static_cast<unsigned long long>(fs.pool_empty));
    }
    const io::dpdk::PortStats ps = (*port)->stats();
    std::printf("port ipackets=%llu imissed=%llu ierrors=%llu rx_nombuf=%llu\n",
                static_cast<unsigned long long>(ps.ipackets), static_cast<unsigned long long>(ps.imissed),
                static_cast<unsigned long long>(ps.ierrors), static_cast<unsigned long long>(ps.rx_nombuf));
    src.detach_thread();
  }
  feeder.reset();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse_options(argc, argv);
  if (!o.write_pcap.empty()) {
    const std::vector<std::uint8_t> frames = bench::shuffled_frames(o.flows);
    if (auto w = write_pcap(o.write_pcap, frames); !w) {
      std::fprintf(stderr, "%s\n", w.error().c_str());
      return 1;
    }
    std::printf("wrote %s: %zu frames of %u flows\n", o.write_pcap.c_str(), frames.size() / frame_size,
                o.flows);
    return 0;
  }
  return run(o);
}
