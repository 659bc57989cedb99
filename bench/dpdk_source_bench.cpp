// Frames per second per core through DpdkSource: one EAL, net_null vdevs (frames from nowhere, the
// PMD's own cost is a few ns) read in bursts on one core, with and without the L2–L4 parse. It is the
// cost of the source interface itself (rx_burst, Frame fill, bulk free), the ceiling under any
// worker. Usage: bench_dpdk_source [seconds] [burst]. Needs root (EAL memory set-up).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "decode/packet.hpp"
#include "io/dpdk/dpdk_source.hpp"

namespace {

using flowpulse::io::Frame;
using flowpulse::io::dpdk::DpdkPort;
using flowpulse::io::dpdk::DpdkSource;

volatile std::uint64_t g_sink = 0;  // keeps the parse from being optimised away

template <bool Parse>
void run(const std::shared_ptr<DpdkPort>& port, double seconds, std::size_t burst_size, const char* what) {
  DpdkSource src(port, 0);
  std::vector<Frame> burst(burst_size);
  std::uint64_t frames = 0;
  std::uint64_t sink = 0;
  const auto t0 = std::chrono::steady_clock::now();
  const auto end = t0 + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    for (int rep = 0; rep < 256; ++rep) {  // keep the clock read off the per-burst path
      auto n = src.receive(burst, 0);
      if (!n.ok()) {
        std::fprintf(stderr, "receive: %s\n", n.error().c_str());
        std::exit(1);
      }
      if constexpr (Parse) {
        for (std::size_t i = 0; i < *n; ++i) {
          const auto info = flowpulse::decode::parse_link(1, burst[i].data, burst[i].caplen);
          sink += info.src_port + static_cast<unsigned>(info.layer);
        }
      }
      frames += *n;
      src.release();
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%-34s burst %3zu: %8.2f Mframes/s  %6.2f ns/frame  (%llu frames, %.2f s)\n", what, burst_size,
              static_cast<double>(frames) / secs / 1e6, secs * 1e9 / static_cast<double>(frames),
              static_cast<unsigned long long>(frames), secs);
  g_sink = sink;
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 2.0;
  const std::size_t burst = argc > 2 ? static_cast<std::size_t>(std::atoi(argv[2])) : 32;
  if (burst == 0 || burst > DpdkSource::max_burst) {
    std::fprintf(stderr, "burst must be 1..%zu\n", DpdkSource::max_burst);
    return 2;
  }
  auto eal = flowpulse::io::dpdk::Eal::init({"--no-huge", "-m", "256", "--no-shconf", "--no-pci",
                                             "--file-prefix=fp-bench-" + std::to_string(getpid()), "-l", "0",
                                             "--log-level=*:warning", "--vdev", "net_null0,size=64", "--vdev",
                                             "net_null1,size=1500"});
  if (!eal) {
    std::fprintf(stderr, "%s\n", eal.error().c_str());
    return 1;
  }
  for (const char* dev : {"net_null0", "net_null1"}) {
    auto port = DpdkPort::open(*eal, dev);
    if (!port) {
      std::fprintf(stderr, "%s\n", port.error().c_str());
      return 1;
    }
    const std::string size = std::string(dev) == "net_null0" ? "64 B" : "1500 B";
    run<false>(*port, seconds, burst, (std::string(dev) + " " + size + " rx+release").c_str());
    run<true>(*port, seconds, burst, (std::string(dev) + " " + size + " rx+parse+release").c_str());
  }
  return 0;
}
