// The pcap store of `flowpulse run`: a capture worker reading a pcap_file source the test writes,
// with capture.store_pcap set and a small rotation size. The stored files, read oldest first
// (PATH.N ... PATH.1, PATH) with libpcap, must hold exactly the input's frames in order, bytes and
// nanosecond timestamps; tshark must read every file; and the metrics must count every frame.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "io/pcap_file.hpp"
#include "pcap_builder.hpp"
#include "test_support.hpp"

namespace flowpulse {
namespace {

using test::ip;

struct StoredFrame {
  std::vector<std::uint8_t> bytes;
  std::uint64_t time_ns;
  std::size_t wire_length;
};

std::vector<StoredFrame> read_all(const std::filesystem::path& file) {
  std::vector<StoredFrame> out;
  auto f = io::PcapFile::open(file.string());
  EXPECT_TRUE(f.ok()) << (f.ok() ? "" : f.error());
  if (!f) return out;
  io::PcapFrame pf;
  for (;;) {
    auto more = f->next(pf);
    EXPECT_TRUE(more.ok());
    if (!more || !*more) break;
    out.push_back({{pf.data, pf.data + pf.captured}, pf.time_ns, pf.wire_length});
  }
  return out;
}

TEST(Store, RunWritesEveryCapturedFrameToRotatedFiles) {
  REQUIRE_TOOL(tshark, "tshark");
  test::TempDir dir;
  // Input: 4000 frames of 3 flows with varied sizes and nanosecond times (the test's own frames).
  test::PcapBuilder pcap(1, true);
  std::vector<StoredFrame> input;
  const test::FiveTuple flows[] = {{ip("10.1.0.1"), ip("10.2.0.1"), 6, 40001, 80},
                                   {ip("2001:db8::1"), ip("2001:db8::2"), 17, 5353, 53},
                                   {ip("10.1.0.3"), ip("10.2.0.3"), 1, 0, 0}};
  std::uint64_t t = 1'700'000'000'123'456'789ULL;
  for (int i = 0; i < 4000; ++i) {
    const auto frame =
        test::ethernet_frame(test::ip_packet(flows[i % 3], 40 + static_cast<std::size_t>(i) * 7 % 1300));
    pcap.add(t, frame);
    input.push_back({frame, t, frame.size()});
    t += 1'000'003;
  }
  pcap.write(dir.path() / "in.pcap");
  const auto store = dir.path() / "store" / "out.pcap";
  std::filesystem::create_directories(store.parent_path());
  const int port = test::free_port(SOCK_STREAM);
  test::write_file(dir.path() / "run.yaml",
                   "listeners: []\n"
                   "capture:\n"
                   "  store_pcap: " +
                       store.string() +
                       "\n"
                       "  store_rotate_bytes: 1MiB\n"
                       "  sources: [{type: pcap_file, file: " +
                       (dir.path() / "in.pcap").string() +
                       "}]\n"
                       "performance: {workers: 1, tick: 100ms}\n"
                       "metrics: {port: " +
                       std::to_string(port) + "}\n");
  test::Process run({test::flowpulse_binary(), "run", "-c", (dir.path() / "run.yaml").string()}, dir.path(),
                    "run");
  ASSERT_TRUE(run.wait_for_output("flowpulse started", 10'000)) << run.err();
  // Every frame handed over and metered (the file source ends; the counters then stay).
  double frames = 0;
  for (int i = 0; i < 100 && frames < 4000; ++i) {
    auto e = test::parse_exposition(test::http_get("127.0.0.1", port, "/metrics").body);
    if (e) frames = e->sum("flow_capture_frames_total");
    if (frames < 4000) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(frames, 4000);
  run.signal(SIGTERM);
  ASSERT_EQ(run.wait(15'000), 0) << run.err();

  // Oldest first: out.pcap.N ... out.pcap.1, then out.pcap.
  std::vector<std::filesystem::path> files;
  for (int n = 10; n >= 1; --n) {
    const auto p = store.string() + "." + std::to_string(n);
    if (std::filesystem::exists(p)) files.emplace_back(p);
  }
  files.push_back(store);
  // 4000 records of about 16 + 96..1394 bytes are ~3 MB: at 1 MiB a file, at least 2 rotations.
  EXPECT_GE(files.size(), 3u);
  std::vector<StoredFrame> stored;
  for (const auto& f : files) {
    EXPECT_LE(std::filesystem::file_size(f), 1u << 20) << f;
    auto part = read_all(f);
    stored.insert(stored.end(), part.begin(), part.end());
    const auto r = test::run({tshark, "-r", f.string(), "-T", "fields", "-e", "frame.number"}, 60'000);
    EXPECT_EQ(r.code, 0) << f << r.err;
    EXPECT_EQ(static_cast<std::size_t>(std::count(r.out.begin(), r.out.end(), '\n')), part.size()) << f;
  }
  ASSERT_EQ(stored.size(), input.size());
  for (std::size_t i = 0; i < input.size(); ++i) {
    EXPECT_EQ(stored[i].bytes, input[i].bytes) << "frame " << i;
    EXPECT_EQ(stored[i].time_ns, input[i].time_ns) << "frame " << i;
    EXPECT_EQ(stored[i].wire_length, input[i].wire_length) << "frame " << i;
  }
}

TEST(Store, UnwritableStoreIsAClearErrorAtStart) {
  test::TempDir dir;
  test::PcapBuilder pcap;
  pcap.add(1'700'000'000'000'000'000ULL,
           test::ethernet_frame(test::ip_packet({ip("10.1.0.1"), ip("10.2.0.1"), 17, 1, 2}, 10)));
  pcap.write(dir.path() / "in.pcap");
  test::write_file(dir.path() / "run.yaml",
                   "listeners: []\n"
                   "capture:\n"
                   "  store_pcap: " +
                       (dir.path() / "missing" / "out.pcap").string() +
                       "\n"
                       "  sources: [{type: pcap_file, file: " +
                       (dir.path() / "in.pcap").string() +
                       "}]\n"
                       "metrics: {port: " +
                       std::to_string(test::free_port(SOCK_STREAM)) + "}\n");
  const auto r =
      test::run({test::flowpulse_binary(), "run", "-c", (dir.path() / "run.yaml").string()}, 20'000);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("capture.store_pcap"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("No such file or directory"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace flowpulse
