// Live capture sources on a real link: a network namespace joined to the root namespace by a veth
// pair (scripts/netns-rig), known UDP (IPv4, IPv6, fragmented) and TCP traffic sent from inside the
// namespace by a small python3 sender, captured on the root-side end at the same time by
//   - PcapLiveSource on the veth with a BPF filter that keeps only part of the flows,
//   - PcapLiveSource on `any` (Linux cooked link type) with a filter for one flow,
//   - two AfPacketSource in one PACKET_FANOUT_HASH group, each read by its own thread,
// and tallied per 5-tuple with decode::parse_link + fill_flow_record. The totals must be exactly what
// was sent, each 5-tuple must reach exactly one fanout member (both directions of the TCP connection
// the same one), the union must be complete, and the kernel must report no drops. Needs root: skipped
// without it, failed under CI=true.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "decode/packet.hpp"
#include "io/afpacket_source.hpp"
#include "io/pcap_live_source.hpp"
#include "netns_rig.hpp"
#include "proc/unique_fd.hpp"
#include "test_support.hpp"

namespace flowpulse {
namespace {

using test::in_ci;
using test::NetnsRig;

#define REQUIRE_ROOT()                                                                       \
  if (geteuid() != 0) {                                                                      \
    if (in_ci()) FAIL() << "capture tests need root (netns, veth, AF_PACKET) under CI=true"; \
    GTEST_SKIP() << "capture tests need root (netns, veth, AF_PACKET)";                      \
  }

// The sender run inside the namespace: one line per flow on stdin,
//   udp FAMILY SRC SPORT DST DPORT COUNT PAYLOAD [fast]   (DF off: large datagrams are fragmented;
//                                                        `fast`: as fast as python sends)
//   tcp FAMILY SRC SPORT DST DPORT BYTES
constexpr const char* sender_py = R"PY(
import socket, sys, time
for line in sys.stdin:
    f = line.split()
    if not f:
        continue
    fam = socket.AF_INET if f[1] == '4' else socket.AF_INET6
    src, sport, dst, dport = f[2], int(f[3]), f[4], int(f[5])
    if f[0] == 'udp':
        count, size = int(f[6]), int(f[7])
        paced = len(f) < 9 or f[8] != 'fast'
        s = socket.socket(fam, socket.SOCK_DGRAM)
        if fam == socket.AF_INET:
            s.setsockopt(socket.IPPROTO_IP, 10, 0)  # IP_MTU_DISCOVER = IP_PMTUDISC_DONT
        s.bind((src, sport))
        payload = bytes(size)
        for i in range(count):
            s.sendto(payload, (dst, dport))
            if paced and i % 50 == 49:
                time.sleep(0.001)  # a gentle rate: the test checks exact counts, not capacity
        s.close()
    else:
        total = int(f[6])
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.bind((src, sport))
        s.connect((dst, dport))
        s.sendall(bytes(total))
        s.shutdown(socket.SHUT_WR)
        while s.recv(65536):
            pass
        s.close()
print('sent')
)PY";

struct Counts {
  std::uint64_t frames = 0;
  std::uint64_t bytes = 0;    // wire bytes of the frames
  std::uint64_t payload = 0;  // L4 payload bytes by the headers (TCP)
};

using Key = std::tuple<std::array<std::uint8_t, 16>, std::array<std::uint8_t, 16>, int, int, int>;

Key key_of(const IpAddress& src, const IpAddress& dst, int proto, int sport, int dport) {
  return {src.bytes, dst.bytes, proto, sport, dport};
}

// What one source saw, per 5-tuple.
struct Tally {
  std::map<Key, Counts> flows;
  std::uint64_t frames = 0;
  std::uint64_t unparsed = 0;
  std::string error;
};

// Reads `source` until `stop`, tallying every frame.
void drain(io::PacketSource& source, Tally& tally, const std::atomic<bool>& stop) {
  std::array<io::Frame, 64> burst{};
  while (!stop.load()) {
    auto got = source.receive(burst, 20);
    if (!got) {
      tally.error = got.error();
      return;
    }
    for (std::size_t i = 0; i < got.value(); ++i) {
      const io::Frame& f = burst[i];
      ++tally.frames;
      const auto info = decode::parse_link(static_cast<std::uint32_t>(f.link_type), f.data, f.caplen);
      if (info.ip_version == 0) {
        ++tally.unparsed;  // ARP and the like
        continue;
      }
      FlowRecord r;
      decode::fill_flow_record(info, r);
      Counts& c = tally.flows[key_of(r.src_addr, r.dst_addr, r.proto, r.src_port, r.dst_port)];
      ++c.frames;
      c.bytes += f.wire_len;
      if (info.layer == decode::PacketLayer::l4) c.payload += info.payload_wire_len;
    }
    source.release();
  }
}

IpAddress parse_ip(const std::string& text) {
  IpAddress a;
  if (text.find(':') != std::string::npos) {
    std::array<std::uint8_t, 16> b{};
    EXPECT_EQ(inet_pton(AF_INET6, text.c_str(), b.data()), 1) << text;
    a = IpAddress::v6_bytes(b.data());
  } else {
    std::array<std::uint8_t, 4> b{};
    EXPECT_EQ(inet_pton(AF_INET, text.c_str(), b.data()), 1) << text;
    a = IpAddress::v4_bytes(b.data());
  }
  return a;
}

struct Flow {
  int proto;  // 17 or 6
  int family;
  int sport;
  int dport;
  int count;        // datagrams (UDP)
  int size;         // payload per datagram (UDP) or bytes in total (TCP)
  bool fragmented;  // an IPv4 datagram larger than the MTU
  bool in_filter;   // selected by the veth pcap filter
};

// A TCP sink in the root namespace: accepts one connection and reads it to the end.
class TcpSink {
 public:
  TcpSink(const std::string& addr, int port) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<std::uint16_t>(port));
    inet_pton(AF_INET, addr.c_str(), &sa.sin_addr);
    ok_ = bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 && listen(fd_, 1) == 0;
    if (ok_) {
      thread_ = std::thread([this] {
        const int c = accept(fd_, nullptr, nullptr);
        if (c < 0) return;
        char buf[65536];
        for (;;) {
          const auto n = read(c, buf, sizeof buf);
          if (n <= 0) break;
          received_ += static_cast<std::uint64_t>(n);
        }
        close(c);
      });
    }
  }
  ~TcpSink() {
    shutdown(fd_, SHUT_RDWR);  // wakes a pending accept() if the sender never came
    if (thread_.joinable()) thread_.join();
    close(fd_);
  }
  bool ok() const { return ok_; }
  std::uint64_t received() const { return received_.load(); }
  void join() {
    if (thread_.joinable()) thread_.join();
  }

 private:
  int fd_ = -1;
  bool ok_ = false;
  std::atomic<std::uint64_t> received_{0};
  std::thread thread_;
};

std::uint64_t frame_size(const Flow& f, std::uint64_t payload) {
  return 14 + (f.family == 4 ? 20 : 40) + 8 + payload;
}

TEST(Capture, AfPacketFanoutAndPcapLiveOnVeth) {
  REQUIRE_ROOT();
  const auto t0 = std::chrono::steady_clock::now();
  NetnsRig rig;
  ASSERT_TRUE(rig.ok()) << "scripts/netns-rig up failed: " << rig.error();

  std::vector<Flow> flows = {
      {17, 4, 40001, 5001, 100, 100, false, true}, {17, 4, 40002, 5002, 50, 1000, false, true},
      {17, 4, 40003, 5003, 200, 10, false, true},  {17, 4, 40004, 6001, 80, 300, false, false},
      {17, 6, 40005, 5005, 60, 500, false, true},  {17, 6, 40006, 7007, 40, 1200, false, false},
      {17, 4, 40010, 5010, 20, 4000, true, true},  {6, 4, 40020, 5020, 1, 300000, false, false},
  };
  // Enough small flows that a hash split between two fanout members leaves neither empty.
  for (int i = 0; i < 32; ++i)
    flows.push_back({17, i % 2 == 0 ? 4 : 6, 41000 + i, 5100, 10, 64, false, true});

  const std::string filter = "udp and dst portrange 5000-5999";
  io::PcapLiveOptions pcap_options;
  pcap_options.filter = filter;
  auto pcap_veth = io::PcapLiveSource::open(rig.outer(), pcap_options);
  ASSERT_TRUE(pcap_veth) << pcap_veth.error();
  io::PcapLiveOptions any_options;
  any_options.filter = "udp and src host " + rig.v4(2) + " and dst port 5001";
  any_options.promiscuous = false;
  auto pcap_any = io::PcapLiveSource::open("any", any_options);
  ASSERT_TRUE(pcap_any) << pcap_any.error();
  EXPECT_EQ((*pcap_any)->link_type(), static_cast<int>(decode::LinkType::linux_sll));

  const auto group = static_cast<std::uint16_t>(1000 + getpid() % 60000);
  std::vector<std::unique_ptr<io::AfPacketSource>> fanout;
  for (std::uint16_t q = 0; q < 2; ++q) {
    io::AfPacketOptions o;
    o.fanout_group = group;
    o.queue = q;
    o.block_size = 1U << 20;
    o.block_count = 16;
    auto s = io::AfPacketSource::open(rig.outer(), o);
    ASSERT_TRUE(s) << s.error();
    EXPECT_EQ((*s)->name(), "afpacket:" + rig.outer() + "/" + std::to_string(q));
    fanout.push_back(std::move(s.value()));
  }

  std::vector<io::PacketSource*> sources = {pcap_veth->get(), pcap_any->get(), fanout[0].get(),
                                            fanout[1].get()};
  std::vector<Tally> tallies(sources.size());
  std::atomic<bool> stop{false};
  std::vector<std::thread> readers;
  for (std::size_t i = 0; i < sources.size(); ++i) {
    readers.emplace_back([&, i] { drain(*sources[i], tallies[i], stop); });
  }
  struct Joiner {
    std::atomic<bool>& stop;
    std::vector<std::thread>& threads;
    ~Joiner() {
      stop = true;
      for (auto& t : threads)
        if (t.joinable()) t.join();
    }
  } joiner{stop, readers};

  TcpSink sink(rig.v4(1), 5020);
  ASSERT_TRUE(sink.ok());

  test::TempDir dir;
  test::write_file(dir / "sender.py", sender_py);
  std::string spec;
  for (const Flow& f : flows) {
    const std::string src = f.family == 4 ? rig.v4(2) : rig.v6(2);
    const std::string dst = f.family == 4 ? rig.v4(1) : rig.v6(1);
    for (const std::string& field : {std::string(f.proto == 17 ? "udp" : "tcp"), std::to_string(f.family),
                                     src, std::to_string(f.sport), dst, std::to_string(f.dport)}) {
      spec += field;
      spec += ' ';
    }
    if (f.proto == 17) {
      spec += std::to_string(f.count);
      spec += ' ';
    }
    spec += std::to_string(f.size);
    spec += '\n';
  }
  test::write_file(dir / "flows.txt", spec);
  const auto sent = test::run({"sh", "-c",
                               "exec ip netns exec " + rig.name() + " /usr/bin/python3 " +
                                   (dir / "sender.py").string() + " < " + (dir / "flows.txt").string()},
                              60'000);
  ASSERT_EQ(sent.code, 0) << sent.out << sent.err;
  sink.join();
  EXPECT_EQ(sink.received(), 300000u);
  const auto t_sent = std::chrono::steady_clock::now();

  // Frames still in partly filled ring blocks come out after the block timeout (10 ms): wait until
  // every tally is still for 300 ms.
  std::uint64_t last = 0;
  for (int still = 0; still < 3;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::uint64_t now = 0;
    for (const auto* s : sources) now += s->stats().frames;
    still = now == last ? still + 1 : 0;
    last = now;
  }
  stop = true;
  for (auto& t : readers) t.join();
  for (std::size_t i = 0; i < sources.size(); ++i) {
    EXPECT_EQ(tallies[i].error, "") << sources[i]->name();
    const auto st = sources[i]->stats();
    EXPECT_EQ(st.kernel_drops, 0u) << sources[i]->name();
    EXPECT_EQ(st.frames, tallies[i].frames) << sources[i]->name();
  }

  const Tally& veth = tallies[0];
  const Tally& any = tallies[1];
  const Tally& fa = tallies[2];
  const Tally& fb = tallies[3];
  std::uint64_t sent_frames = 0;
  for (const Flow& f : flows) {
    const IpAddress src = parse_ip(f.family == 4 ? rig.v4(2) : rig.v6(2));
    const IpAddress dst = parse_ip(f.family == 4 ? rig.v4(1) : rig.v6(1));
    const Key k = key_of(src, dst, f.proto, f.sport, f.dport);
    const Key back = key_of(dst, src, f.proto, f.dport, f.sport);
    SCOPED_TRACE("flow " + std::to_string(f.proto) + " " + std::to_string(f.sport) + "->" +
                 std::to_string(f.dport));
    const auto get = [&](const Tally& t, const Key& key) {
      auto it = t.flows.find(key);
      return it == t.flows.end() ? Counts{} : it->second;
    };
    const Counts a = get(fa, k), b = get(fb, k), v = get(veth, k);
    // Fanout: one member has all of it, the other nothing; for TCP the replies go the same way.
    EXPECT_TRUE((a.frames == 0) != (b.frames == 0))
        << "frames on member 0: " << a.frames << ", on 1: " << b.frames;
    const Counts u{a.frames + b.frames, a.bytes + b.bytes, a.payload + b.payload};
    if (f.proto == 6) {
      EXPECT_EQ(u.payload, static_cast<std::uint64_t>(f.size));
      const Counts ra = get(fa, back), rb = get(fb, back);
      EXPECT_GT(ra.frames + rb.frames, 0u);
      EXPECT_EQ(a.frames == 0, ra.frames == 0) << "the two directions went to different members";
      EXPECT_EQ(v.frames, 0u);  // not UDP: outside the pcap filter
      sent_frames += u.frames;
      continue;
    }
    // FLAG_DEFRAG reassembles before the fanout hash: the members see whole datagrams, one frame each.
    EXPECT_EQ(u.frames, static_cast<std::uint64_t>(f.count));
    EXPECT_EQ(u.bytes, f.count * frame_size(f, static_cast<std::uint64_t>(f.size)));
    EXPECT_EQ(u.payload, static_cast<std::uint64_t>(f.count) * static_cast<std::uint64_t>(f.size));
    sent_frames += u.frames;
    if (!f.in_filter) {
      EXPECT_EQ(v.frames, 0u) << "the filter '" << filter << "' let it through";
    } else if (f.fragmented) {
      // libpcap sees the fragments as they were on the wire; `port` matches only the first one
      // (1500-byte IP packets), the rest carry no ports.
      EXPECT_EQ(v.frames, static_cast<std::uint64_t>(f.count));
      EXPECT_EQ(v.bytes, static_cast<std::uint64_t>(f.count) * (14 + 1500));
    } else {
      EXPECT_EQ(v.frames, u.frames);
      EXPECT_EQ(v.bytes, u.bytes);
    }
    const Counts y = get(any, k);
    EXPECT_EQ(y.frames, f.dport == 5001 ? static_cast<std::uint64_t>(f.count) : 0u);
    if (f.dport == 5001) {
      // `any` has the 16-byte Linux cooked header instead of Ethernet's 14.
      EXPECT_EQ(y.bytes, f.count * (frame_size(f, static_cast<std::uint64_t>(f.size)) + 2));
    }
  }
  EXPECT_GT(fa.frames, 0u);
  EXPECT_GT(fb.frames, 0u);
  // Besides our flows the link carries only the kernel's replies (ICMP port unreachable, TCP ACKs)
  // and maybe a little IPv6 multicast; nothing else of any size.
  EXPECT_GE(fa.frames + fb.frames, sent_frames);
  std::uint64_t veth_ours = 0;
  for (const auto& [key, c] : veth.flows) veth_ours += c.frames;
  EXPECT_EQ(veth_ours, veth.frames) << "the filtered pcap source saw non-IP frames";

  const auto t_end = std::chrono::steady_clock::now();
  std::printf(
      "capture: sent %llu frames in %lld ms; member 0: %llu frames, member 1: %llu frames; "
      "pcap filtered: %llu frames; total %lld ms\n",
      static_cast<unsigned long long>(sent_frames),
      static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(t_sent - t0).count()),
      static_cast<unsigned long long>(fa.frames), static_cast<unsigned long long>(fb.frames),
      static_cast<unsigned long long>(veth.frames),
      static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(t_end - t0).count()));
}

TEST(Capture, ClearErrors) {
  REQUIRE_ROOT();
  auto a = io::AfPacketSource::open("fp-nosuchif0");
  ASSERT_FALSE(a);
  EXPECT_NE(a.error().find("not found"), std::string::npos) << a.error();
  auto p = io::PcapLiveSource::open("fp-nosuchif0");
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().find("fp-nosuchif0"), std::string::npos) << p.error();

  io::AfPacketOptions bad_filter;
  bad_filter.filter = "udp and port banana";
  auto b = io::AfPacketSource::open("lo", bad_filter);
  ASSERT_FALSE(b);
  EXPECT_NE(b.error().find("udp and port banana"), std::string::npos) << b.error();
  io::PcapLiveOptions bad_pcap;
  bad_pcap.filter = "udp and port banana";
  auto c = io::PcapLiveSource::open("lo", bad_pcap);
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().find("udp and port banana"), std::string::npos) << c.error();

  io::AfPacketOptions bad_ring;
  bad_ring.block_size = 3000;
  auto d = io::AfPacketSource::open("lo", bad_ring);
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().find("block_size"), std::string::npos) << d.error();

  // An idle receive returns 0 after the timeout instead of blocking (the TPACKET_V3 quirk).
  io::PcapLiveOptions quiet;
  quiet.filter = "udp and port 1 and host 192.0.2.77";
  auto q = io::PcapLiveSource::open("lo", quiet);
  ASSERT_TRUE(q) << q.error();
  std::array<io::Frame, 8> burst{};
  const auto t0 = std::chrono::steady_clock::now();
  auto got = (*q)->receive(burst, 100);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  ASSERT_TRUE(got) << got.error();
  EXPECT_EQ(got.value(), 0u);
  EXPECT_GE(ms.count(), 90);
  EXPECT_LT(ms.count(), 1000);
  io::AfPacketOptions quiet_ring;
  quiet_ring.filter = quiet.filter;
  quiet_ring.block_count = 2;
  auto r = io::AfPacketSource::open("lo", quiet_ring);
  ASSERT_TRUE(r) << r.error();
  got = (*r)->receive(burst, 100);
  ASSERT_TRUE(got) << got.error();
  EXPECT_EQ(got.value(), 0u);
}

// Loopback hands each packet to packet sockets twice (outgoing and incoming copy). AfPacketSource
// keeps one, and drops the outgoing copy with its socket filter in the kernel, alone and in front of
// a configured filter: N datagrams sent over lo are N frames, and none of them an outgoing copy that
// receive() had to skip.
TEST(Capture, AfPacketOnLoopbackSeesEachPacketOnceAndDropsOutgoingCopiesInTheKernel) {
  REQUIRE_ROOT();
  proc::UniqueFd receiver(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(receiver.valid());
  socklen_t len;
  sockaddr_storage to = test::make_sockaddr("127.0.0.1", 0, len);
  ASSERT_EQ(bind(receiver.get(), reinterpret_cast<const sockaddr*>(&to), len), 0);
  ASSERT_EQ(getsockname(receiver.get(), reinterpret_cast<sockaddr*>(&to), &len), 0);
  const unsigned port = ntohs(reinterpret_cast<const sockaddr_in&>(to).sin_port);

  io::AfPacketOptions plain;  // no configured filter: the outgoing check alone
  plain.block_timeout_ms = 2;
  io::AfPacketOptions filtered = plain;
  filtered.filter = "udp and dst port " + std::to_string(port);
  auto a = io::AfPacketSource::open("lo", plain);
  auto b = io::AfPacketSource::open("lo", filtered);
  ASSERT_TRUE(a) << a.error();
  ASSERT_TRUE(b) << b.error();

  constexpr int sent = 200;  // the test's own traffic: 200 datagrams of 32 bytes to `port`
  proc::UniqueFd sender(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  const char payload[32] = {};
  for (int i = 0; i < sent; ++i)
    ASSERT_EQ(sendto(sender.get(), payload, sizeof payload, 0, reinterpret_cast<const sockaddr*>(&to), len),
              static_cast<ssize_t>(sizeof payload));

  // Frames of this flow (UDP to `port`) each source hands over, until both have all or 3 s passed.
  auto count = [&](io::AfPacketSource& s, std::uint64_t& frames, std::uint64_t& others) {
    std::array<io::Frame, 64> burst{};
    auto got = s.receive(burst, 10);
    ASSERT_TRUE(got) << got.error();
    for (std::size_t i = 0; i < *got; ++i) {
      const auto p = decode::parse_link(1, burst[i].data, burst[i].caplen);
      const bool ours = p.proto == decode::ip_proto_udp && p.dst_port == port;
      ++(ours ? frames : others);
    }
    s.release();
  };
  std::uint64_t fa = 0, oa = 0, fb = 0, ob = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while ((fa < sent || fb < sent) && std::chrono::steady_clock::now() < deadline) {
    count(**a, fa, oa);
    count(**b, fb, ob);
  }
  for (int i = 0; i < 20; ++i) {  // anything late (a second copy) would show up here
    count(**a, fa, oa);
    count(**b, fb, ob);
  }
  EXPECT_EQ(fa, static_cast<std::uint64_t>(sent));
  EXPECT_EQ(fb, static_cast<std::uint64_t>(sent));
  EXPECT_EQ(ob, 0u) << "the configured filter let other traffic through";
  EXPECT_EQ((*a)->outgoing_skipped(), 0u);
  EXPECT_EQ((*b)->outgoing_skipped(), 0u);
}

// The highest rate this sender reaches (one python process, 64-byte datagrams over 16 flows) into
// two fanout members with their default rings: nothing may be lost on the way.
TEST(Capture, AfPacketFanoutNoLossAtSenderRate) {
  REQUIRE_ROOT();
  NetnsRig rig;
  ASSERT_TRUE(rig.ok()) << "scripts/netns-rig up failed: " << rig.error();
  const auto group = static_cast<std::uint16_t>(1000 + (getpid() + 1) % 60000);
  std::vector<std::unique_ptr<io::AfPacketSource>> fanout;
  for (std::uint16_t q = 0; q < 2; ++q) {
    io::AfPacketOptions o;
    o.fanout_group = group;
    o.queue = q;
    o.filter = "udp and dst port 5300";  // the replies (ICMP port unreachable) stay out
    auto s = io::AfPacketSource::open(rig.outer(), o);
    ASSERT_TRUE(s) << s.error();
    fanout.push_back(std::move(s.value()));
  }
  std::vector<Tally> tallies(2);
  std::atomic<bool> stop{false};
  std::vector<std::thread> readers;
  for (std::size_t i = 0; i < 2; ++i) readers.emplace_back([&, i] { drain(*fanout[i], tallies[i], stop); });
  struct Joiner {
    std::atomic<bool>& stop;
    std::vector<std::thread>& threads;
    ~Joiner() {
      stop = true;
      for (auto& t : threads)
        if (t.joinable()) t.join();
    }
  } joiner{stop, readers};

  constexpr int flows = 16;
  constexpr int per_flow = 12500;
  test::TempDir dir;
  test::write_file(dir / "sender.py", sender_py);
  std::string spec;
  for (int i = 0; i < flows; ++i) {
    spec += "udp 4 " + rig.v4(2) + " " + std::to_string(42000 + i) + " " + rig.v4(1) + " 5300 " +
            std::to_string(per_flow) + " 64 fast\n";
  }
  test::write_file(dir / "flows.txt", spec);
  const auto t0 = std::chrono::steady_clock::now();
  const auto sent = test::run({"sh", "-c",
                               "exec ip netns exec " + rig.name() + " /usr/bin/python3 " +
                                   (dir / "sender.py").string() + " < " + (dir / "flows.txt").string()},
                              120'000);
  const auto send_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(sent.code, 0) << sent.out << sent.err;
  const std::uint64_t total = static_cast<std::uint64_t>(flows) * per_flow;
  for (int i = 0; i < 100 && fanout[0]->stats().frames + fanout[1]->stats().frames < total; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  stop = true;
  for (auto& t : readers) t.join();
  const auto s0 = fanout[0]->stats(), s1 = fanout[1]->stats();
  EXPECT_EQ(s0.kernel_drops + s1.kernel_drops, 0u);
  EXPECT_EQ(s0.frames + s1.frames, total);
  EXPECT_GT(s0.frames, 0u);
  EXPECT_GT(s1.frames, 0u);
  for (const auto& [key, c] : tallies[0].flows) EXPECT_EQ(tallies[1].flows.count(key), 0u);
  std::printf(
      "capture: %llu datagrams of 64 B in %lld ms (%.0f pps from one python sender); member 0: %llu, "
      "member 1: %llu, kernel drops %llu\n",
      static_cast<unsigned long long>(total), static_cast<long long>(send_ms),
      send_ms > 0 ? static_cast<double>(total) * 1000.0 / static_cast<double>(send_ms) : 0.0,
      static_cast<unsigned long long>(s0.frames), static_cast<unsigned long long>(s1.frames),
      static_cast<unsigned long long>(s0.kernel_drops) + static_cast<unsigned long long>(s1.kernel_drops));
}

}  // namespace
}  // namespace flowpulse
