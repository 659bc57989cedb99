// The pcap store writer: frames built by the test's packet builder are written, then read back by
// the project's reader (libpcap) and by tshark and tcpdump, which must see the same bytes, lengths
// and nanosecond timestamps. Rotation is checked by name, size, count and the order of the frames
// across files; errors with a directory the writer may not write, and a write cut short by the file
// size limit (RLIMIT_FSIZE, the same EFBIG/ENOSPC path as a full disk).
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "export/pcap_writer.hpp"
#include "io/pcap_file.hpp"
#include "pcap_builder.hpp"
#include "test_support.hpp"

namespace flowpulse::exporting {
namespace {

namespace fs = std::filesystem;
using test::Bytes;
using test::FiveTuple;
using test::ip;

// A frame the test keeps the bytes of.
struct TestFrame {
  Bytes data;
  std::uint32_t wire_len = 0;  // 0 = data.size()
  std::uint64_t time_ns = 0;
  int link_type = 1;

  io::Frame frame() const {
    io::Frame f;
    f.data = data.data();
    f.caplen = static_cast<std::uint32_t>(data.size());
    f.wire_len = wire_len != 0 ? wire_len : static_cast<std::uint32_t>(data.size());
    f.timestamp_ns = time_ns;
    f.link_type = link_type;
    return f;
  }
};

// What a reader gives back of a frame.
struct ReadFrame {
  Bytes data;
  std::uint64_t wire_len = 0;
  std::uint64_t time_ns = 0;
  std::uint32_t link_type = 0;
};

constexpr std::uint64_t base_ns = 1'700'000'000'123'456'789ULL;

// Ethernet + IPv4 + UDP with `payload` bytes: 42 + payload bytes, a record of 58 + payload.
TestFrame udp_frame(int i, std::size_t payload = 42) {
  const FiveTuple t{ip("10.0.0.1"), ip("10.0.0.2"), 17, static_cast<std::uint16_t>(1000 + i), 2055};
  return {test::ethernet_frame(test::ip_packet(t, payload)), 0,
          base_ns + static_cast<std::uint64_t>(i) * 1'000'001, 1};
}

// Frames whose records are exactly 100 bytes (16 + 14 + 20 + 8 + 42).
std::vector<TestFrame> hundred_byte_frames(int n) {
  std::vector<TestFrame> v;
  v.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) v.push_back(udp_frame(i));
  return v;
}

std::vector<ReadFrame> read_all(const fs::path& p) {
  auto file = io::PcapFile::open(p.string());
  EXPECT_TRUE(file) << file.error();
  std::vector<ReadFrame> out;
  if (!file) return out;
  io::PcapFrame f;
  for (;;) {
    auto more = file->next(f);
    EXPECT_TRUE(more) << more.error();
    if (!more || !more.value()) break;
    out.push_back({Bytes(f.data, f.data + f.captured), f.wire_length, f.time_ns, f.link_type});
  }
  return out;
}

void expect_same(const ReadFrame& got, const TestFrame& want) {
  EXPECT_EQ(got.data, want.data);
  EXPECT_EQ(got.wire_len, want.wire_len != 0 ? want.wire_len : want.data.size());
  EXPECT_EQ(got.time_ns, want.time_ns);
}

std::uint32_t le32(const Bytes& b, std::size_t at) {
  std::uint32_t v = 0;
  std::memcpy(&v, b.data() + at, 4);
  return v;
}

std::unique_ptr<PcapWriter> open_writer(const PcapWriterSettings& s) {
  auto w = PcapWriter::open(s);
  EXPECT_TRUE(w) << w.error();
  return w ? std::move(w).value() : nullptr;
}

void write_all(PcapWriter& w, const std::vector<TestFrame>& frames) {
  for (const auto& f : frames) {
    auto st = w.write(f.frame());
    ASSERT_TRUE(st) << st.error();
  }
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) {
    if (!l.empty()) out.push_back(l);
  }
  return out;
}

// tshark's view: "frame.len,frame.cap_len,frame.time_epoch,ip.src,udp.srcport" per frame.
std::vector<std::string> tshark_fields(const std::string& tshark, const fs::path& p) {
  auto r = test::run({tshark, "-r", p.string(), "-T", "fields", "-E", "separator=,", "-e", "frame.len", "-e",
                      "frame.cap_len", "-e", "frame.time_epoch", "-e", "ip.src", "-e", "udp.srcport"});
  EXPECT_EQ(r.code, 0) << r.err;
  return lines(r.out);
}

std::string epoch(std::uint64_t ns) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%llu.%09llu", static_cast<unsigned long long>(ns / 1'000'000'000ULL),
                static_cast<unsigned long long>(ns % 1'000'000'000ULL));
  return buf;
}

TEST(PcapWriter, FramesReadBackByteIdenticalWithNanoseconds) {
  test::TempDir dir;
  const fs::path path = dir / "store.pcap";
  std::vector<TestFrame> frames;
  frames.push_back(udp_frame(0, 10));
  frames.push_back(udp_frame(1, 1400));
  const FiveTuple v6{ip("2001:db8::1"), ip("2001:db8::2"), 6, 443, 50000};
  frames.push_back({test::ethernet_frame(test::ip_packet(v6, 100), 42), 0, 1'700'000'001'999'999'999ULL, 1});
  frames.push_back({Bytes(60, 0xab), 1514, 1'700'000'002'000'000'000ULL, 1});  // cut capture: 60 of 1514
  frames.push_back({Bytes(), 64, 1'700'000'002'000'000'001ULL, 1});            // nothing captured

  auto w = open_writer({path.string()});
  ASSERT_TRUE(w);
  write_all(*w, frames);
  EXPECT_EQ(w->stats().frames, frames.size());
  ASSERT_TRUE(w->close());

  const Bytes file = test::read_file(path);
  ASSERT_GE(file.size(), PcapWriter::file_header_size);
  EXPECT_EQ(le32(file, 0), 0xa1b23c4du);
  EXPECT_EQ(le32(file, 4), 0x00040002u);  // version 2.4
  EXPECT_EQ(le32(file, 16), 262144u);
  EXPECT_EQ(le32(file, 20), 1u);

  const auto got = read_all(path);
  ASSERT_EQ(got.size(), frames.size());
  for (std::size_t i = 0; i < frames.size(); ++i) {
    SCOPED_TRACE(i);
    expect_same(got[i], frames[i]);
    EXPECT_EQ(got[i].link_type, 1u);
  }

  std::uint64_t size = PcapWriter::file_header_size;
  for (const auto& f : frames) size += PcapWriter::record_header_size + f.data.size();
  EXPECT_EQ(file.size(), size);
  const auto& s = w->stats();
  EXPECT_EQ(s.bytes, size);
  EXPECT_EQ(s.files, 1u);
  EXPECT_EQ(s.errors, 0u);
  EXPECT_EQ(s.dropped, 0u);
  EXPECT_EQ(s.snapped, 0u);
}

TEST(PcapWriter, TsharkAndTcpdumpReadTheFile) {
  REQUIRE_TOOL(tshark, "tshark");
  REQUIRE_TOOL(tcpdump, "tcpdump");
  test::TempDir dir;
  const fs::path path = dir / "store.pcap";
  std::vector<TestFrame> frames = {udp_frame(0, 10), udp_frame(1, 1400), udp_frame(2, 0)};
  frames[2].time_ns = 1'700'000'005'000'000'001ULL;
  auto w = open_writer({path.string()});
  ASSERT_TRUE(w);
  write_all(*w, frames);
  ASSERT_TRUE(w->close());

  const auto fields = tshark_fields(tshark, path);
  ASSERT_EQ(fields.size(), frames.size());
  for (std::size_t i = 0; i < frames.size(); ++i) {
    const auto len = std::to_string(frames[i].data.size());
    std::string want = len;
    want += "," + len + "," + epoch(frames[i].time_ns) + ",10.0.0.1," + std::to_string(1000 + i);
    EXPECT_EQ(fields[i], want);
  }

  auto r = test::run({tcpdump, "-nn", "-tt", "--time-stamp-precision=nano", "-r", path.string()});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto out = lines(r.out);
  ASSERT_EQ(out.size(), frames.size()) << r.out;
  for (std::size_t i = 0; i < frames.size(); ++i) {
    const std::string want = epoch(frames[i].time_ns) + " IP 10.0.0.1." + std::to_string(1000 + i) +
                             " > 10.0.0.2.2055: UDP, length " + std::to_string(frames[i].data.size() - 42);
    EXPECT_EQ(out[i], want);
  }
}

TEST(PcapWriter, BurstWrite) {
  test::TempDir dir;
  const fs::path path = dir / "store.pcap";
  const auto frames = hundred_byte_frames(64);
  std::vector<io::Frame> burst;
  burst.reserve(frames.size());
  for (const auto& f : frames) burst.push_back(f.frame());
  auto w = open_writer({path.string()});
  ASSERT_TRUE(w);
  ASSERT_TRUE(w->write(std::span<const io::Frame>(burst)));
  ASSERT_TRUE(w->close());
  const auto got = read_all(path);
  ASSERT_EQ(got.size(), frames.size());
  for (std::size_t i = 0; i < frames.size(); ++i) expect_same(got[i], frames[i]);
  // A closed writer refuses frames and counts them.
  auto st = w->write(std::span<const io::Frame>(burst).first(3));
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().find("closed"), std::string::npos) << st.error();
  EXPECT_EQ(w->stats().dropped, 3u);
  EXPECT_EQ(w->stats().frames, 64u);
}

TEST(PcapWriter, LongFramesAreCutToTheSnapLength) {
  REQUIRE_TOOL(tshark, "tshark");
  test::TempDir dir;
  const fs::path path = dir / "store.pcap";
  TestFrame big = udp_frame(0, 1000);
  big.data.resize(300000, 0x5a);
  auto w = open_writer({path.string()});
  ASSERT_TRUE(w);
  ASSERT_TRUE(w->write(big.frame()));
  ASSERT_TRUE(w->write(udp_frame(1).frame()));
  ASSERT_TRUE(w->close());
  EXPECT_EQ(w->stats().snapped, 1u);
  const auto got = read_all(path);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].data, Bytes(big.data.begin(), big.data.begin() + 262144));
  EXPECT_EQ(got[0].wire_len, 300000u);
  expect_same(got[1], udp_frame(1));
  const auto fields = tshark_fields(tshark, path);
  ASSERT_EQ(fields.size(), 2u);
  EXPECT_EQ(fields[0].substr(0, 14), "300000,262144,");
}

TEST(PcapWriter, FlushesWholeBuffers) {
  REQUIRE_TOOL(tcpdump, "tcpdump");
  test::TempDir dir;
  const fs::path path = dir / "store.pcap";
  PcapWriterSettings s{path.string()};
  s.buffer_bytes = 0;  // raised to one largest record: 16 + 262144
  auto w = open_writer(s);
  ASSERT_TRUE(w);
  const auto frames = hundred_byte_frames(3000);
  write_all(*w, std::vector<TestFrame>(frames.begin(), frames.begin() + 10));
  EXPECT_EQ(fs::file_size(path), 24u);  // only the header until a flush
  ASSERT_TRUE(w->flush());
  EXPECT_EQ(fs::file_size(path), 24u + 10 * 100);
  // The live file is readable while the writer goes on.
  auto r = test::run({tcpdump, "-nnr", path.string()});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(lines(r.out).size(), 10u);
  // A full buffer is written by itself, in whole records.
  write_all(*w, std::vector<TestFrame>(frames.begin() + 10, frames.end()));
  const auto on_disk = fs::file_size(path);
  EXPECT_GT(on_disk, 24u + 10 * 100);
  EXPECT_LT(on_disk, 24u + 3000 * 100);
  EXPECT_EQ((on_disk - 24) % 100, 0u);
  ASSERT_TRUE(w->close());
  EXPECT_EQ(fs::file_size(path), 24u + 3000 * 100);
  EXPECT_EQ(read_all(path).size(), 3000u);
}

// 45 frames of 100-byte records into files of at most 24 + 10 * 100 bytes: 10 frames a file.
TEST(PcapWriter, RotatesBySizeWithNumberedFiles) {
  REQUIRE_TOOL(tshark, "tshark");
  REQUIRE_TOOL(tcpdump, "tcpdump");
  test::TempDir dir;
  const fs::path path = dir / "store.pcap";
  PcapWriterSettings s{path.string()};
  s.rotate_bytes = 1024;
  const auto frames = hundred_byte_frames(45);
  auto w = open_writer(s);
  ASSERT_TRUE(w);
  write_all(*w, frames);
  ASSERT_TRUE(w->close());

  EXPECT_EQ(w->stats().files, 5u);
  EXPECT_EQ(w->stats().frames, 45u);
  EXPECT_EQ(w->stats().bytes, 5 * 24u + 45 * 100);
  EXPECT_EQ(w->file_path(0), path.string());
  EXPECT_EQ(w->file_path(3), path.string() + ".3");
  // Oldest first: store.pcap.4, .3, .2, .1, then store.pcap.
  const std::vector<fs::path> order = {w->file_path(4), w->file_path(3), w->file_path(2), w->file_path(1),
                                       path};
  EXPECT_FALSE(fs::exists(w->file_path(5)));
  std::vector<ReadFrame> all;
  for (std::size_t k = 0; k < order.size(); ++k) {
    SCOPED_TRACE(order[k].string());
    ASSERT_TRUE(fs::exists(order[k]));
    EXPECT_EQ(fs::file_size(order[k]), k < 4 ? 1024u : 24u + 5 * 100);
    const auto got = read_all(order[k]);
    EXPECT_EQ(got.size(), k < 4 ? 10u : 5u);
    all.insert(all.end(), got.begin(), got.end());
    // Each file on its own is a valid capture for the independent readers.
    const auto fields = tshark_fields(tshark, order[k]);
    ASSERT_EQ(fields.size(), got.size());
    EXPECT_EQ(fields.front().substr(0, 6), "84,84,");
    auto r = test::run({tcpdump, "-nnr", order[k].string()});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(lines(r.out).size(), got.size());
  }
  ASSERT_EQ(all.size(), frames.size());
  for (std::size_t i = 0; i < frames.size(); ++i) {
    SCOPED_TRACE(i);
    expect_same(all[i], frames[i]);
  }
}

TEST(PcapWriter, KeepsAtMostKeepFiles) {
  for (std::uint32_t keep : {2u, 1u, 0u}) {
    SCOPED_TRACE(keep);
    test::TempDir dir;
    const fs::path path = dir / "store.pcap";
    PcapWriterSettings s{path.string()};
    s.rotate_bytes = 1024;
    s.keep_files = keep;
    const auto frames = hundred_byte_frames(45);
    auto w = open_writer(s);
    ASSERT_TRUE(w);
    write_all(*w, frames);
    ASSERT_TRUE(w->close());
    EXPECT_EQ(w->stats().files, 5u);

    std::vector<ReadFrame> all;
    for (std::uint32_t n = keep; n >= 1; --n) {
      const auto got = read_all(w->file_path(n));
      EXPECT_EQ(got.size(), 10u);
      all.insert(all.end(), got.begin(), got.end());
    }
    const auto live = read_all(path);
    EXPECT_EQ(live.size(), 5u);
    all.insert(all.end(), live.begin(), live.end());
    EXPECT_FALSE(fs::exists(w->file_path(keep + 1)));
    std::size_t files = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path())) ++files;
    EXPECT_EQ(files, keep + 1);
    // The newest frames are the ones kept, in order.
    ASSERT_EQ(all.size(), 5 + 10 * keep);
    const std::size_t first = frames.size() - all.size();
    for (std::size_t i = 0; i < all.size(); ++i) expect_same(all[i], frames[first + i]);
  }
}

TEST(PcapWriter, AFrameLargerThanTheLimitGetsAFileOfItsOwn) {
  test::TempDir dir;
  const fs::path path = dir / "store.pcap";
  PcapWriterSettings s{path.string()};
  s.rotate_bytes = 1024;
  const std::vector<TestFrame> frames = {udp_frame(0), udp_frame(1, 2000), udp_frame(2)};
  auto w = open_writer(s);
  ASSERT_TRUE(w);
  write_all(*w, frames);
  ASSERT_TRUE(w->close());
  EXPECT_EQ(w->stats().dropped, 0u);
  const std::vector<fs::path> order = {w->file_path(2), w->file_path(1), path};
  for (std::size_t k = 0; k < 3; ++k) {
    const auto got = read_all(order[k]);
    ASSERT_EQ(got.size(), 1u);
    expect_same(got[0], frames[k]);
  }
  EXPECT_EQ(fs::file_size(order[1]), 24u + 16 + 2042);
}

TEST(PcapWriter, ALinkTypeChangeStartsANewFile) {
  REQUIRE_TOOL(tshark, "tshark");
  test::TempDir dir;
  const fs::path path = dir / "store.pcap";
  const FiveTuple t{ip("192.0.2.7"), ip("192.0.2.8"), 17, 4000, 53};
  // Raw IP as LINKTYPE_RAW (101) and as libpcap's DLT_RAW (12) belong in one file.
  const TestFrame raw1{test::ip_packet(t, 20), 0, base_ns, 101};
  const TestFrame raw2{test::ip_packet(t, 30), 0, base_ns + 1, 12};
  const TestFrame eth = udp_frame(3);
  const TestFrame raw3{test::ip_packet(t, 40), 0, base_ns + 5, 101};
  auto w = open_writer({path.string()});  // the first file starts as Ethernet
  ASSERT_TRUE(w);
  write_all(*w, {raw1, raw2, eth, raw3});
  ASSERT_TRUE(w->close());
  // The first file took the first frame's link type instead of being left empty.
  EXPECT_EQ(w->stats().files, 3u);
  EXPECT_FALSE(fs::exists(w->file_path(3)));

  const std::vector<std::pair<fs::path, std::vector<TestFrame>>> files = {
      {w->file_path(2), {raw1, raw2}}, {w->file_path(1), {eth}}, {path, {raw3}}};
  for (const auto& [p, want] : files) {
    SCOPED_TRACE(p.string());
    const Bytes bytes = test::read_file(p);
    const std::uint32_t lt = want.front().link_type == 1 ? 1u : 101u;
    EXPECT_EQ(le32(bytes, 20), lt);
    const auto got = read_all(p);
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t i = 0; i < want.size(); ++i) {
      expect_same(got[i], want[i]);
      EXPECT_EQ(PcapWriter::file_link_type(static_cast<int>(got[i].link_type)), lt);
    }
  }
  const auto fields = tshark_fields(tshark, w->file_path(2));
  ASSERT_EQ(fields.size(), 2u);
  EXPECT_EQ(fields[0], "48,48," + epoch(base_ns) + ",192.0.2.7,4000");
  EXPECT_EQ(fields[1], "58,58," + epoch(base_ns + 1) + ",192.0.2.7,4000");
}

TEST(PcapWriter, AnExistingCaptureIsRotatedOutAtOpen) {
  test::TempDir dir;
  const fs::path path = dir / "store.pcap";
  test::PcapBuilder old(1, true);
  old.add(base_ns, udp_frame(0).data);
  old.write(path);
  {
    auto w = open_writer({path.string()});
    ASSERT_TRUE(w);
    ASSERT_TRUE(w->write(udp_frame(1).frame()));
  }  // the destructor flushes
  EXPECT_EQ(test::read_file(path.string() + ".1"), old.bytes());
  const auto got = read_all(path);
  ASSERT_EQ(got.size(), 1u);
  expect_same(got[0], udp_frame(1));

  // A header-only file holds nothing worth keeping: it is overwritten, nothing shifts.
  test::PcapBuilder empty(1, true);
  empty.write(path);
  {
    auto w = open_writer({path.string()});
    ASSERT_TRUE(w);
  }
  EXPECT_EQ(test::read_file(path.string() + ".1"), old.bytes());
  EXPECT_FALSE(fs::exists(path.string() + ".2"));
  EXPECT_EQ(fs::file_size(path), 24u);
}

TEST(PcapWriter, SettingsFromTheConfig) {
  config::Capture c;
  c.store_pcap = "/var/lib/flowpulse/store.pcap";
  c.store_rotate_bytes = 64ULL << 20;
  const auto s = pcap_writer_settings(c);
  EXPECT_EQ(s.path, c.store_pcap);
  EXPECT_EQ(s.rotate_bytes, 64ULL << 20);
  EXPECT_EQ(s.keep_files, 10u);
  EXPECT_EQ(s.buffer_bytes, 1u << 20);
}

TEST(PcapWriter, BadSettings) {
  auto w = PcapWriter::open({});
  ASSERT_FALSE(w);
  EXPECT_NE(w.error().find("no file path"), std::string::npos) << w.error();
  PcapWriterSettings s{"/tmp/x.pcap"};
  s.keep_files = 1'000'000;
  w = PcapWriter::open(s);
  ASSERT_FALSE(w);
  EXPECT_NE(w.error().find("keep_files"), std::string::npos) << w.error();
}

TEST(PcapWriter, MissingDirectoryIsAClearError) {
  test::TempDir dir;
  const std::string path = (dir / "missing" / "store.pcap").string();
  auto w = PcapWriter::open({path});
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error(), path + ": cannot create pcap store file: No such file or directory");
}

// Runs `body` as an unprivileged user (root passes every permission check), in a child process when
// the test runs as root; returns what `body` returned, or a description of how the child failed.
std::string as_unprivileged(const std::function<std::string()>& body) {
  if (::geteuid() != 0) return body();
  int fds[2];
  if (::pipe(fds) != 0) return "pipe failed";
  const pid_t pid = ::fork();
  if (pid < 0) return "fork failed";
  if (pid == 0) {
    ::close(fds[0]);
    std::string out = (::setgid(65534) == 0 && ::setuid(65534) == 0) ? body() : "cannot become nobody";
    const char* p = out.data();
    std::size_t left = out.size();
    while (left > 0) {
      const ssize_t n = ::write(fds[1], p, left);
      if (n <= 0) break;
      p += n;
      left -= static_cast<std::size_t>(n);
    }
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) out += " (child failed)";
  return out;
}

TEST(PcapWriter, UnwritableDirectoryIsAClearError) {
  test::TempDir dir;
  // The unprivileged user must reach into the directory, and own the one it later loses.
  fs::permissions(dir.path(), fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
  const fs::path ro = dir / "ro";
  const fs::path rw = dir / "rw";
  fs::create_directory(ro);
  fs::create_directory(rw);
  fs::permissions(ro, fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_exec |
                          fs::perms::others_read | fs::perms::others_exec);
  if (::geteuid() == 0) {
    ASSERT_EQ(::chown(rw.c_str(), 65534, 65534), 0);
  }

  const std::string ro_path = (ro / "store.pcap").string();
  const std::string open_error = as_unprivileged([&] {
    auto w = PcapWriter::open({ro_path});
    return w ? std::string("opened") : w.error();
  });
  EXPECT_EQ(open_error, ro_path + ": cannot create pcap store file: Permission denied");

  // Writable at the start, not at the rotation: the rename fails, the frame is dropped and counted,
  // the frames before it stay in the file.
  const std::string rw_path = (rw / "store.pcap").string();
  const std::string rotate_error = as_unprivileged([&]() -> std::string {
    PcapWriterSettings s{rw_path};
    s.rotate_bytes = 1024;
    auto w = PcapWriter::open(s);
    if (!w) return "open: " + w.error();
    for (const auto& f : hundred_byte_frames(10)) {
      if (!(*w)->write(f.frame())) return "write failed";
    }
    if (::chmod(rw.c_str(), 0555) != 0) return "chmod failed";
    auto st = (*w)->write(udp_frame(10).frame());
    const auto& stats = (*w)->stats();
    std::string out = st ? std::string("no error") : st.error();
    out += " | frames=" + std::to_string(stats.frames) + " dropped=" + std::to_string(stats.dropped) +
           " errors=" + std::to_string(stats.errors);
    return out;
  });
  EXPECT_EQ(rotate_error, rw_path + ": cannot rename pcap store file to " + rw_path +
                              ".1: Permission denied | frames=10 dropped=1 errors=1");
  const auto got = read_all(rw_path);
  EXPECT_EQ(got.size(), 10u);
  EXPECT_FALSE(fs::exists(rw_path + ".1"));
}

// A file size limit fails write(2) with EFBIG part-way through a buffer, as a full disk does with
// ENOSPC: the buffered frames are lost and counted, the file is cut back to its last whole record.
TEST(PcapWriter, AFailedWriteLeavesAReadableFile) {
  REQUIRE_TOOL(tshark, "tshark");
  test::TempDir dir;
  const fs::path path = dir / "store.pcap";
  const auto frames = hundred_byte_frames(45);
  auto w = open_writer({path.string()});
  ASSERT_TRUE(w);
  write_all(*w, std::vector<TestFrame>(frames.begin(), frames.begin() + 10));
  ASSERT_TRUE(w->flush());

  rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit small = old;
  small.rlim_cur = 24 + 25 * 100 + 50;  // in the middle of a record
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  write_all(*w, std::vector<TestFrame>(frames.begin() + 10, frames.begin() + 40));
  auto st = w->flush();
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &old), 0);
  std::signal(SIGXFSZ, old_handler);

  ASSERT_FALSE(st);
  EXPECT_EQ(st.error(), path.string() + ": cannot write pcap store file (30 frames lost): File too large");
  EXPECT_EQ(w->stats().frames, 10u);
  EXPECT_EQ(w->stats().dropped, 30u);
  EXPECT_EQ(w->stats().errors, 1u);
  EXPECT_EQ(fs::file_size(path), 24u + 10 * 100);
  EXPECT_EQ(tshark_fields(tshark, path).size(), 10u);

  // The writer goes on in the same file.
  write_all(*w, std::vector<TestFrame>(frames.begin() + 40, frames.end()));
  ASSERT_TRUE(w->close());
  const auto got = read_all(path);
  ASSERT_EQ(got.size(), 15u);
  for (std::size_t i = 0; i < 10; ++i) expect_same(got[i], frames[i]);
  for (std::size_t i = 10; i < 15; ++i) expect_same(got[i], frames[30 + i]);
  EXPECT_EQ(w->stats().bytes, fs::file_size(path));
}

}  // namespace
}  // namespace flowpulse::exporting
