// The DPDK source against DPDK's virtual devices, in one process with one EAL (DPDK starts once per
// process): net_pcap replays a capture this test writes (every frame arrives, byte for byte, in file
// order, with the file's timestamps; per-5-tuple totals equal the file's), net_pcap with infinite_rx
// loops it, net_ring loops frames the test transmits back to its RX, and net_null is the overhead
// smoke (and, with two queues, the RSS set-up path); net_af_packet on a test veth must count the
// frames its full ring dropped. Needs root for the EAL's memory set-up and the veth: skipped
// otherwise, failed under CI=true.
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "decode/packet.hpp"
#include "io/dpdk/dpdk_source.hpp"
#include "netns_rig.hpp"
#include "pcap_builder.hpp"
#include "test_support.hpp"

namespace flowpulse {
namespace {

using io::Frame;
using io::dpdk::DpdkPort;
using io::dpdk::DpdkSource;
using io::dpdk::Eal;
using io::dpdk::PortOptions;
using test::Bytes;
using test::FiveTuple;
using test::ip;

using TupleKey = std::tuple<std::array<std::uint8_t, 16>, std::array<std::uint8_t, 16>, std::uint8_t,
                            std::uint16_t, std::uint16_t>;
struct Totals {
  std::uint64_t packets = 0;
  std::uint64_t bytes = 0;
  bool operator==(const Totals&) const = default;
};
using FlowTotals = std::map<TupleKey, Totals>;

void account(FlowTotals& totals, const std::uint8_t* data, std::size_t caplen, std::size_t wire_len) {
  const decode::PacketInfo info = decode::parse_link(1, data, caplen);
  FlowRecord r;
  decode::fill_flow_record(info, r);
  Totals& t = totals[{r.src_addr.bytes, r.dst_addr.bytes, r.proto, r.src_port, r.dst_port}];
  ++t.packets;
  t.bytes += wire_len;
}

// The capture: flows of every kind the parser knows, interleaved, sizes from minimum to 1500 bytes.
struct Capture {
  std::vector<Bytes> frames;
  std::vector<std::uint64_t> times_ns;
  FlowTotals totals;
  std::uint64_t bytes = 0;
};

Capture make_capture() {
  struct Spec {
    FiveTuple t;
    int packets;
    std::size_t payload;
    std::uint16_t vlan;
  };
  const std::vector<Spec> specs = {
      {{ip("10.0.0.1"), ip("10.0.0.2"), 17, 40000, 53}, 50, 100, 0},
      {{ip("10.0.0.2"), ip("10.0.0.1"), 17, 53, 40000}, 50, 300, 0},
      {{ip("192.168.1.10"), ip("192.168.1.20"), 6, 41000, 443}, 200, 1446, 0},  // 1500-byte IP packets
      {{ip("2001:db8::1"), ip("2001:db8::2"), 17, 5353, 5353}, 30, 0, 0},
      {{ip("2001:db8::2"), ip("2001:db8::1"), 6, 443, 50000}, 20, 600, 0},
      {{ip("172.16.0.1"), ip("172.16.0.2"), 1, 0, 0}, 10, 56, 0},
      {{ip("10.9.9.9"), ip("10.8.8.8"), 17, 1234, 4739}, 5, 200, 42},  // VLAN-tagged
      {{ip("10.1.1.1"), ip("10.1.1.2"), 17, 9, 9}, 7, 1, 0},           // padded to 60 bytes
  };
  Capture c;
  std::vector<int> left;
  for (const auto& s : specs) left.push_back(s.packets);
  std::uint64_t t = 1'700'000'000'000'000'000ULL;
  for (bool any = true; any;) {
    any = false;
    for (std::size_t i = 0; i < specs.size(); ++i) {
      if (left[i] == 0) continue;
      --left[i];
      any = true;
      test::PacketOptions o;
      o.ipv4_id = static_cast<std::uint16_t>(left[i]);
      Bytes frame = test::ethernet_frame(test::ip_packet(specs[i].t, specs[i].payload, o), specs[i].vlan);
      if (frame.size() < 60) frame.resize(60, 0);  // what a NIC would pad to
      t += 1000 * (1 + c.frames.size() % 7);       // microsecond steps: exact in either precision
      account(c.totals, frame.data(), frame.size(), frame.size());
      c.bytes += frame.size();
      c.times_ns.push_back(t);
      c.frames.push_back(std::move(frame));
    }
  }
  return c;
}

constexpr std::size_t af_packet_ring_frames = 64;

// One EAL for the whole binary, with every vdev the tests use.
struct Rig {
  std::unique_ptr<test::NetnsRig> netns;      // before the EAL: net_af_packet0 binds to its veth at probe
  std::unique_ptr<test::NetnsRig> xdp_netns;  // net_af_xdp0's veth (its XDP program takes every frame)
  std::unique_ptr<test::TempDir> dir;
  Capture capture;
  std::string pcap_path;
  std::vector<std::string> args;
  std::shared_ptr<Eal> eal;
  std::string error;
  cpu_set_t cpus_before{};  // the calling thread's CPUs before and after Eal::init
  cpu_set_t cpus_after{};
};

Rig& rig() {
  static Rig r = [] {
    Rig x;
    if (geteuid() == 0) {
      x.netns = std::make_unique<test::NetnsRig>();
      x.xdp_netns = std::make_unique<test::NetnsRig>(1);
    }
    x.dir = std::make_unique<test::TempDir>();
    x.capture = make_capture();
    x.pcap_path = (*x.dir / "flows.pcap").string();
    test::PcapBuilder builder(1, true);
    for (std::size_t i = 0; i < x.capture.frames.size(); ++i)
      builder.add(x.capture.times_ns[i], x.capture.frames[i]);
    builder.write(x.pcap_path);
    x.args = {"--no-huge",
              "-m",
              "256",
              "--no-shconf",
              "--no-pci",
              "--file-prefix=fp-test-" + std::to_string(getpid()),
              "-l",
              "0",
              "--log-level=*:warning",
              "--vdev",
              "net_pcap0,rx_pcap=" + x.pcap_path,
              "--vdev",
              "net_pcap1,rx_pcap=" + x.pcap_path + ",infinite_rx=1",
              "--vdev",
              "net_null0",
              "--vdev",
              "net_ring0"};
    if (x.netns && x.netns->ok()) {  // a ring of af_packet_ring_frames frames
      x.args.push_back("--vdev");
      x.args.push_back("net_af_packet0,iface=" + x.netns->outer() +
                       ",framecnt=" + std::to_string(af_packet_ring_frames));
    }
    if (x.xdp_netns && x.xdp_netns->ok()) {
      x.args.push_back("--vdev");
      x.args.push_back("net_af_xdp0,iface=" + x.xdp_netns->outer() + ",start_queue=0,queue_count=1");
    }
    pthread_getaffinity_np(pthread_self(), sizeof x.cpus_before, &x.cpus_before);
    auto eal = Eal::init(x.args);
    pthread_getaffinity_np(pthread_self(), sizeof x.cpus_after, &x.cpus_after);
    if (eal) {
      x.eal = *eal;
    } else {
      x.error = eal.error();
    }
    return x;
  }();
  return r;
}

#define REQUIRE_EAL()                                                             \
  do {                                                                            \
    if (geteuid() != 0 && !test::in_ci()) GTEST_SKIP() << "DPDK tests need root"; \
    ASSERT_TRUE(rig().eal) << "EAL did not start: " << rig().error;               \
  } while (0)

// Receives until `count` frames came or `timeout` passed; checks each against `expect(i)`.
template <typename Check>
std::size_t drain(DpdkSource& src, std::size_t count, std::chrono::milliseconds timeout, Check check) {
  std::vector<Frame> burst(64);
  std::size_t got = 0;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (got < count && std::chrono::steady_clock::now() < deadline) {
    auto n = src.receive(burst, 10);
    EXPECT_TRUE(n.ok()) << n.error();
    if (!n.ok()) break;
    for (std::size_t i = 0; i < *n; ++i) check(got + i, burst[i]);
    got += *n;
    src.release();
  }
  return got;
}

// What came of `rounds` copies of the capture sent into `veth` while nothing read `src`.
struct UnreadBurst {
  std::size_t sent = 0;
  std::size_t received = 0;
  std::uint64_t dropped = 0;  // counted by the port (imissed, as flow_capture_drops_total)
  std::string error;
};

UnreadBurst send_unread(DpdkSource& src, const test::NetnsRig& veth, int rounds) {
  UnreadBurst r;
  drain(src, SIZE_MAX, std::chrono::milliseconds(200), [](std::size_t, const Frame&) {});  // chatter so far
  const std::uint64_t dropped_before = src.stats().kernel_drops;
  std::vector<Bytes> frames;
  for (int i = 0; i < rounds; ++i)
    frames.insert(frames.end(), rig().capture.frames.begin(), rig().capture.frames.end());
  r.sent = frames.size();
  r.error = veth.inject(frames);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  r.received = drain(src, SIZE_MAX, std::chrono::milliseconds(500), [](std::size_t, const Frame&) {});
  r.dropped = src.stats().kernel_drops - dropped_before;
  std::printf("%s: %zu frames sent, %zu received, %llu counted as dropped\n", src.name().c_str(), r.sent,
              r.received, static_cast<unsigned long long>(r.dropped));
  return r;
}

// Link chatter (IPv6 neighbour discovery) may add a few frames on either side.
constexpr std::size_t chatter = 16;

// DPDK 22.11's net_af_packet reports no drops of its socket's ring: the port reads the kernel's
// count itself. Nothing reads the port while 3 x 372 frames go into the veth, so its ring of 64
// frames keeps at most 64 and the kernel drops the rest; each frame must then be either received
// or counted in imissed (flow_capture_drops_total), none lost silently.
TEST(Dpdk, AfPacketRingDropsAreCounted) {
  REQUIRE_EAL();
  ASSERT_TRUE(rig().netns && rig().netns->ok()) << (rig().netns ? rig().netns->error() : "no test veth");
  auto port = DpdkPort::open(rig().eal, "net_af_packet0");
  ASSERT_TRUE(port.ok()) << port.error();
  EXPECT_EQ((*port)->driver(), "net_af_packet");
  DpdkSource src(*port, 0);
  const UnreadBurst r = send_unread(src, *rig().netns, 3);
  ASSERT_EQ(r.error, "");
  EXPECT_LE(r.received, af_packet_ring_frames + chatter);
  EXPECT_GE(r.dropped, r.sent - af_packet_ring_frames);
  EXPECT_GE(r.received + r.dropped, r.sent);
  EXPECT_LE(r.received + r.dropped, r.sent + chatter);
}

// net_af_xdp: its socket drops a frame when the PMD has posted no free buffer for it (it posts a
// fixed number, and more only as it receives), and the PMD reports those drops (XDP_STATISTICS
// rx_dropped) as imissed. Nothing reads the port while 30 x 372 frames go into the veth, more than
// the buffers posted (2,048 here): each frame must then be either received or counted.
TEST(Dpdk, AfXdpDropsAreCounted) {
  REQUIRE_EAL();
  ASSERT_TRUE(rig().xdp_netns && rig().xdp_netns->ok())
      << (rig().xdp_netns ? rig().xdp_netns->error() : "no test veth");
  PortOptions po;
  po.tx_queues = 1;  // net_af_xdp's queues are pairs (see sdk/capture.cpp)
  auto port = DpdkPort::open(rig().eal, "net_af_xdp0", po);
  ASSERT_TRUE(port.ok()) << port.error();
  EXPECT_EQ((*port)->driver(), "net_af_xdp");
  DpdkSource src(*port, 0);
  const UnreadBurst r = send_unread(src, *rig().xdp_netns, 30);
  ASSERT_EQ(r.error, "");
  EXPECT_GT(r.dropped, 0u) << "nothing was dropped: the test did not fill the socket";
  EXPECT_GE(r.received + r.dropped, r.sent);
  EXPECT_LE(r.received + r.dropped, r.sent + chatter);
}

TEST(Dpdk, EalInitIsOncePerProcess) {
  REQUIRE_EAL();
  auto again = Eal::init(rig().args);
  ASSERT_TRUE(again.ok()) << again.error();
  EXPECT_EQ(again->get(), rig().eal.get());
  auto other = Eal::init({"--no-huge"});
  ASSERT_FALSE(other.ok());
  EXPECT_NE(other.error().find("one EAL per process"), std::string::npos) << other.error();
  EXPECT_GE(rig().eal->port_count(), 4);
}

// The rig's EAL runs with `-l 0`, which pins the thread calling rte_eal_init to CPU 0; the threads
// flowpulse starts afterwards (workers, stats core) would all inherit it. Eal::init gives the
// thread its CPUs back.
TEST(Dpdk, EalInitLeavesTheCallersCpus) {
  REQUIRE_EAL();
  EXPECT_GE(CPU_COUNT(&rig().cpus_before), 1);
  EXPECT_TRUE(CPU_EQUAL(&rig().cpus_before, &rig().cpus_after))
      << "CPUs before " << CPU_COUNT(&rig().cpus_before) << ", after " << CPU_COUNT(&rig().cpus_after);
}

TEST(Dpdk, UnknownDeviceIsAnActionableError) {
  REQUIRE_EAL();
  auto port = DpdkPort::open(rig().eal, "net_nosuch9");
  ASSERT_FALSE(port.ok());
  EXPECT_NE(port.error().find("net_nosuch9"), std::string::npos);
  EXPECT_NE(port.error().find("--vdev"), std::string::npos);
}

TEST(Dpdk, PcapReplayDeliversExactlyTheCapture) {
  REQUIRE_EAL();
  const Capture& cap = rig().capture;
  auto port = DpdkPort::open(rig().eal, "net_pcap0");
  ASSERT_TRUE(port.ok()) << port.error();
  EXPECT_EQ((*port)->driver(), "net_pcap");
  EXPECT_FALSE((*port)->rss());
  DpdkSource src(*port, 0);
  EXPECT_EQ(src.name(), "dpdk:" + std::to_string((*port)->port_id()) + "/0");

  FlowTotals totals;
  std::uint64_t bytes = 0;
  std::size_t mismatched = 0;
  std::size_t bad_time = 0;
  const bool file_times = (*port)->wall_timestamps();
  const std::size_t got =
      drain(src, cap.frames.size() + 1, std::chrono::milliseconds(400), [&](std::size_t i, const Frame& f) {
        ASSERT_LT(i, cap.frames.size());
        const Bytes& want = cap.frames[i];
        if (f.caplen != want.size() || f.wire_len != want.size() ||
            !std::equal(want.begin(), want.end(), f.data))
          ++mismatched;
        if (file_times && f.timestamp_ns != cap.times_ns[i]) {
          if (bad_time++ == 0)
            std::printf("frame %zu: timestamp %llu, file %llu\n", i,
                        static_cast<unsigned long long>(f.timestamp_ns),
                        static_cast<unsigned long long>(cap.times_ns[i]));
        }
        EXPECT_EQ(f.link_type, 1);
        account(totals, f.data, f.caplen, f.wire_len);
        bytes += f.wire_len;
      });
  EXPECT_EQ(got, cap.frames.size());  // and not one more after the file ended
  EXPECT_EQ(mismatched, 0u);
  EXPECT_EQ(bytes, cap.bytes);
  EXPECT_EQ(totals, cap.totals);
  EXPECT_EQ(totals.size(), 8u);
  if (file_times) {
    EXPECT_EQ(bad_time, 0u) << "net_pcap timestamps differ from the file's";
  } else {
    std::printf("note: net_pcap gives no RX timestamp offload here; frames carry TSC wall time\n");
  }
  const io::SourceStats s = src.stats();
  EXPECT_EQ(s.frames, cap.frames.size());
  EXPECT_EQ(s.bytes, cap.bytes);
  EXPECT_EQ(s.kernel_drops, 0u);
  EXPECT_EQ(s.errors, 0u);
  const io::dpdk::PortStats ps = (*port)->stats();
  EXPECT_EQ(ps.ipackets, cap.frames.size());
  EXPECT_EQ(ps.ibytes, cap.bytes);
}

TEST(Dpdk, PcapInfiniteRxLoopsTheCapture) {
  REQUIRE_EAL();
  const Capture& cap = rig().capture;
  io::dpdk::PortOptions opt;
  opt.mbufs = static_cast<std::uint32_t>(cap.frames.size()) + 8192;  // infinite_rx holds the whole file
  auto port = DpdkPort::open(rig().eal, "net_pcap1", opt);
  ASSERT_TRUE(port.ok()) << port.error();
  DpdkSource src(*port, 0);
  constexpr std::size_t rounds = 20;
  FlowTotals totals;
  std::size_t mismatched = 0;
  const auto t0 = std::chrono::steady_clock::now();
  const std::size_t got =
      drain(src, rounds * cap.frames.size(), std::chrono::seconds(10), [&](std::size_t i, const Frame& f) {
        if (i >= rounds * cap.frames.size()) return;
        const Bytes& want = cap.frames[i % cap.frames.size()];
        if (f.caplen != want.size() || !std::equal(want.begin(), want.end(), f.data)) ++mismatched;
        account(totals, f.data, f.caplen, f.wire_len);
      });
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_GE(got, rounds * cap.frames.size());
  EXPECT_EQ(mismatched, 0u);
  FlowTotals want;
  for (const auto& [k, v] : cap.totals) want[k] = {v.packets * rounds, v.bytes * rounds};
  if (got == rounds * cap.frames.size()) {
    EXPECT_EQ(totals, want);
  }
  std::printf("net_pcap infinite_rx: %zu frames in %.3f s (%.2f Mframes/s, with the test's checks)\n", got,
              secs, static_cast<double>(got) / secs / 1e6);
}

TEST(Dpdk, RingLoopsTransmittedFramesBack) {
  REQUIRE_EAL();
  const Capture& cap = rig().capture;
  io::dpdk::PortOptions opt;
  opt.tx_queues = 1;
  auto port = DpdkPort::open(rig().eal, "net_ring0", opt);
  ASSERT_TRUE(port.ok()) << port.error();
  ASSERT_EQ((*port)->tx_queues(), 1);
  DpdkSource src(*port, 0);
  FlowTotals totals;
  std::size_t mismatched = 0;
  std::size_t next = 0;
  // Send in chunks smaller than the ring and drain between them.
  for (std::size_t off = 0; off < cap.frames.size(); off += 100) {
    std::vector<std::span<const std::uint8_t>> chunk;
    for (std::size_t i = off; i < std::min(off + 100, cap.frames.size()); ++i)
      chunk.emplace_back(cap.frames[i]);
    auto sent = (*port)->send(0, chunk);
    ASSERT_TRUE(sent.ok()) << sent.error();
    ASSERT_EQ(*sent, chunk.size());
    next += drain(src, chunk.size(), std::chrono::seconds(2), [&](std::size_t i, const Frame& f) {
      const Bytes& want = cap.frames[off + i];
      if (f.caplen != want.size() || !std::equal(want.begin(), want.end(), f.data)) ++mismatched;
      account(totals, f.data, f.caplen, f.wire_len);
    });
  }
  EXPECT_EQ(next, cap.frames.size());
  EXPECT_EQ(mismatched, 0u);
  EXPECT_EQ(totals, cap.totals);
  EXPECT_FALSE((*port)->send(1, {}).ok());  // not configured: an error, not a crash
}

TEST(Dpdk, NullDeviceTwoQueuesSmoke) {
  REQUIRE_EAL();
  io::dpdk::PortOptions opt;
  opt.rx_queues = 2;
  auto port = DpdkPort::open(rig().eal, "net_null0", opt);
  ASSERT_TRUE(port.ok()) << port.error();
  std::printf("net_null0: rss=%d\n", (*port)->rss() ? 1 : 0);
  for (std::uint16_t q = 0; q < 2; ++q) {
    DpdkSource src(*port, q);
    std::vector<Frame> burst(32);
    std::uint64_t frames = 0;
    const auto t0 = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(100)) {
      auto n = src.receive(burst, 1);
      ASSERT_TRUE(n.ok()) << n.error();
      for (std::size_t i = 0; i < *n; ++i) {
        ASSERT_EQ(burst[i].queue, q);
        ASSERT_EQ(burst[i].caplen, 64u);  // net_null's default frame size
      }
      frames += *n;
      src.release();
    }
    EXPECT_GT(frames, 1000u);
    EXPECT_EQ(src.stats().frames, frames);
    EXPECT_EQ(src.stats().bytes, frames * 64);
  }
}

}  // namespace
}  // namespace flowpulse
