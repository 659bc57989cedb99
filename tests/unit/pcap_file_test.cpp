// The pcap reader: files written by the test's own pcap builder (not by libpcap), read back frame by
// frame and as UDP datagrams. Expected values are the ones the test put in.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "io/pcap_file.hpp"
#include "pcap_builder.hpp"

namespace flowpulse::io {
namespace {

using test::Bytes;
using test::FiveTuple;
using test::ip;

std::filesystem::path temp_path(const std::string& name) {
  return std::filesystem::temp_directory_path() /
         ("flowpulse_pcap_test_" + std::to_string(getpid()) + "_" + name);
}

struct TempFile {
  explicit TempFile(const std::string& name) : path(temp_path(name)) {}
  ~TempFile() { std::filesystem::remove(path); }
  std::filesystem::path path;
};

void write_bytes(const std::filesystem::path& p, const Bytes& b) {
  std::ofstream f(p, std::ios::binary);
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

TEST(PcapFile, FramesWithTimestampsInBothPrecisions) {
  for (bool ns : {false, true}) {
    SCOPED_TRACE(ns);
    TempFile tmp("frames.pcap");
    test::PcapBuilder b(1, ns);
    const FiveTuple t{ip("192.0.2.1"), ip("192.0.2.2"), 17, 1000, 2055};
    const Bytes f1 = test::ethernet_frame(test::ip_packet(t, 10));
    const Bytes f2 = test::ethernet_frame(test::ip_packet(t, 20));
    b.add(1'700'000'000'123'456'789ULL, f1);
    b.add(1'700'000'001'000'000'000ULL, f2);
    b.write(tmp.path);

    auto file = PcapFile::open(tmp.path.string());
    ASSERT_TRUE(file) << file.error();
    EXPECT_EQ(file->link_type(), 1u);
    PcapFrame fr;
    auto r = file->next(fr);
    ASSERT_TRUE(r && r.value());
    // A microsecond file loses the last three digits; a nanosecond file keeps them.
    EXPECT_EQ(fr.time_ns, ns ? 1'700'000'000'123'456'789ULL : 1'700'000'000'123'456'000ULL);
    EXPECT_EQ(fr.captured, f1.size());
    EXPECT_EQ(fr.wire_length, f1.size());
    EXPECT_EQ(fr.link_type, 1u);
    EXPECT_EQ(Bytes(fr.data, fr.data + fr.captured), f1);
    r = file->next(fr);
    ASSERT_TRUE(r && r.value());
    EXPECT_EQ(fr.time_ns, 1'700'000'001'000'000'000ULL);
    EXPECT_EQ(Bytes(fr.data, fr.data + fr.captured), f2);
    r = file->next(fr);
    ASSERT_TRUE(r);
    EXPECT_FALSE(r.value());
    EXPECT_EQ(file->frames(), 2u);
  }
}

TEST(PcapFile, UdpDatagramsAndWhatIsSkipped) {
  TempFile tmp("udp.pcap");
  test::PcapBuilder b(1, true, 200);  // snap length 200: the long datagram below is cut
  const FiveTuple v4{ip("10.0.0.1"), ip("10.0.0.2"), 17, 5000, 2055};
  const FiveTuple v6{ip("2001:db8::1"), ip("2001:db8::2"), 17, 5001, 4739};
  const FiveTuple tcp{ip("10.0.0.1"), ip("10.0.0.2"), 6, 5000, 80};
  const Bytes p1 = {1, 2, 3, 4, 5};
  b.add(1000, test::ethernet_frame(test::ip_packet_with(v4, p1)));  // udp 1
  b.add(2000, test::ethernet_frame(test::ip_packet(tcp, 30)));      // not_udp
  b.add(3000, Bytes(60, 0xff));                                     // not_udp (EtherType 0xffff)
  b.add(4000, test::ethernet_frame(test::ip_packet(v6, 100), 42));  // udp 2, VLAN-tagged
  b.add(5000, test::ethernet_frame(test::ip_packet(v4, 500)));      // truncated by the snap length
  Bytes frag = test::ip_packet(v4, 100);
  frag[6] = 0x20;  // MF: the first fragment of a longer datagram
  frag[7] = 0x00;
  b.add(6000, test::ethernet_frame(frag));  // fragments
  b.write(tmp.path);

  auto file = PcapFile::open(tmp.path.string());
  ASSERT_TRUE(file) << file.error();
  PcapUdpReader reader(*file);
  UdpDatagram d;
  auto r = reader.next(d);
  ASSERT_TRUE(r && r.value());
  EXPECT_EQ(d.src_addr, v4.src);
  EXPECT_EQ(d.dst_addr, v4.dst);
  EXPECT_EQ(d.src_port, 5000);
  EXPECT_EQ(d.dst_port, 2055);
  EXPECT_EQ(Bytes(d.payload, d.payload + d.size), p1);
  EXPECT_EQ(d.time_ns, 1000u);
  r = reader.next(d);
  ASSERT_TRUE(r && r.value());
  EXPECT_EQ(d.src_addr, v6.src);
  EXPECT_EQ(d.dst_port, 4739);
  EXPECT_EQ(d.size, 100u);
  EXPECT_EQ(d.time_ns, 4000u);
  r = reader.next(d);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r.value());
  const UdpReadStats& s = reader.stats();
  EXPECT_EQ(s.frames, 6u);
  EXPECT_EQ(s.udp_datagrams, 2u);
  EXPECT_EQ(s.not_udp, 2u);
  EXPECT_EQ(s.truncated, 1u);
  EXPECT_EQ(s.fragments, 1u);
  EXPECT_EQ(s.bad_link, 0u);
}

TEST(PcapFile, RawIpLinkType) {
  TempFile tmp("raw.pcap");
  test::PcapBuilder b(101);
  const FiveTuple v6{ip("2001:db8::1"), ip("2001:db8::2"), 17, 1, 6343};
  b.add(0, test::ip_packet(v6, 7));
  b.write(tmp.path);
  auto file = PcapFile::open(tmp.path.string());
  ASSERT_TRUE(file) << file.error();
  PcapUdpReader reader(*file);
  UdpDatagram d;
  auto r = reader.next(d);
  ASSERT_TRUE(r && r.value());
  EXPECT_EQ(d.dst_port, 6343);
  EXPECT_EQ(d.size, 7u);
}

// pcapng: section header, one Ethernet interface with nanosecond resolution, one enhanced packet.
TEST(PcapFile, Pcapng) {
  auto le32 = [](Bytes& b, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  };
  auto le16 = [](Bytes& b, unsigned v) {
    b.push_back(static_cast<std::uint8_t>(v));
    b.push_back(static_cast<std::uint8_t>(v >> 8));
  };
  Bytes f;
  // SHB: type, length 28, byte-order magic, version 1.0, section length -1, length.
  le32(f, 0x0a0d0d0a);
  le32(f, 28);
  le32(f, 0x1a2b3c4d);
  le16(f, 1);
  le16(f, 0);
  le32(f, 0xffffffff);
  le32(f, 0xffffffff);
  le32(f, 28);
  // IDB: link type 1, snaplen 0, option if_tsresol = 9 (nanoseconds), end of options.
  le32(f, 1);
  le32(f, 32);
  le16(f, 1);
  le16(f, 0);
  le32(f, 0);
  le16(f, 9);  // if_tsresol
  le16(f, 1);
  f.insert(f.end(), {9, 0, 0, 0});
  le32(f, 0);  // opt_endofopt
  le32(f, 32);
  // EPB with one UDP frame.
  const FiveTuple t{ip("198.51.100.1"), ip("198.51.100.2"), 17, 1234, 2056};
  Bytes frame = test::ethernet_frame(test::ip_packet(t, 24));
  const std::uint64_t ts = 1'600'000'000'987'654'321ULL;
  const std::size_t padded = (frame.size() + 3) / 4 * 4;
  const auto len = static_cast<std::uint32_t>(32 + padded);
  le32(f, 6);
  le32(f, len);
  le32(f, 0);
  le32(f, static_cast<std::uint32_t>(ts >> 32));
  le32(f, static_cast<std::uint32_t>(ts));
  le32(f, static_cast<std::uint32_t>(frame.size()));
  le32(f, static_cast<std::uint32_t>(frame.size()));
  f.insert(f.end(), frame.begin(), frame.end());
  f.resize(f.size() + padded - frame.size(), 0);
  le32(f, len);

  TempFile tmp("ng.pcapng");
  write_bytes(tmp.path, f);
  auto file = PcapFile::open(tmp.path.string());
  ASSERT_TRUE(file) << file.error();
  PcapUdpReader reader(*file);
  UdpDatagram d;
  auto r = reader.next(d);
  ASSERT_TRUE(r && r.value()) << (r ? "" : r.error());
  EXPECT_EQ(d.time_ns, ts);
  EXPECT_EQ(d.dst_port, 2056);
  EXPECT_EQ(d.size, 24u);
}

TEST(PcapFile, ErrorsNameTheFileAndTheProblem) {
  const auto missing = temp_path("does-not-exist.pcap");
  auto a = PcapFile::open(missing.string());
  ASSERT_FALSE(a);
  EXPECT_NE(a.error().find(missing.string()), std::string::npos) << a.error();
  EXPECT_NE(a.error().find("No such file"), std::string::npos) << a.error();

  TempFile text("text.pcap");
  write_bytes(text.path, Bytes(100, 'x'));
  auto b = PcapFile::open(text.path.string());
  ASSERT_FALSE(b);
  EXPECT_NE(b.error().find(text.path.string()), std::string::npos) << b.error();
  EXPECT_NE(b.error().find("format"), std::string::npos) << b.error();

  // Cut short inside the second frame's data, and inside the third frame's record header.
  test::PcapBuilder builder;
  const FiveTuple t{ip("10.1.1.1"), ip("10.1.1.2"), 17, 1, 2};
  builder.add(0, test::ethernet_frame(test::ip_packet(t, 10)));
  const std::size_t after_first = builder.bytes().size();
  builder.add(0, test::ethernet_frame(test::ip_packet(t, 10)));
  const std::size_t after_second = builder.bytes().size();
  for (std::size_t cut_at : {after_first + 16 + 5, after_second + 7}) {
    SCOPED_TRACE(cut_at);
    TempFile shortf("short.pcap");
    test::PcapBuilder three = builder;
    three.add(0, test::ethernet_frame(test::ip_packet(t, 10)));
    Bytes all = three.bytes();
    all.resize(cut_at);
    write_bytes(shortf.path, all);
    auto c = PcapFile::open(shortf.path.string());
    ASSERT_TRUE(c) << c.error();
    PcapFrame fr;
    auto r = c->next(fr);
    ASSERT_TRUE(r && r.value());
    if (cut_at > after_second) {
      r = c->next(fr);
      ASSERT_TRUE(r && r.value());
    }
    r = c->next(fr);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().find("truncated"), std::string::npos) << r.error();
    EXPECT_NE(r.error().find(shortf.path.string()), std::string::npos) << r.error();
  }
}

}  // namespace
}  // namespace flowpulse::io
