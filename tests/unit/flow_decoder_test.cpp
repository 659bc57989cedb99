// The front decoder: protocol detection by version, the port hint, dispatch to each decoder, and
// per-exporter stats with a bounded table. Datagrams are built here; expected values are the ones
// written into them.
#include <gtest/gtest.h>

#include <vector>

#include "bytes.hpp"
#include "decode/flow_decoder.hpp"

namespace flowpulse::decode {
namespace {

using test::Bytes;
using test::put16;
using test::put32;
using test::put64;
using test::put8;

// NetFlow v5: a 24-byte header and one 48-byte record 10.0.0.1:1234 -> 10.0.0.2:80 TCP, 7 packets,
// 700 bytes.
Bytes netflow5_datagram() {
  Bytes b;
  put16(b, 5);
  put16(b, 1);
  put32(b, 100000);      // sys uptime ms
  put32(b, 1700000000);  // unix secs
  put32(b, 0);
  put32(b, 42);  // sequence
  put8(b, 0);
  put8(b, 0);
  put16(b, 0);
  put32(b, 0x0a000001);
  put32(b, 0x0a000002);
  put32(b, 0);
  put16(b, 1);
  put16(b, 2);
  put32(b, 7);
  put32(b, 700);
  put32(b, 90000);
  put32(b, 99000);
  put16(b, 1234);
  put16(b, 80);
  put8(b, 0);
  put8(b, 0x1b);
  put8(b, 6);
  put8(b, 0);
  put16(b, 0);
  put16(b, 0);
  put8(b, 24);
  put8(b, 24);
  put16(b, 0);
  return b;
}

// IPFIX: template 256 = sourceIPv4Address (8, 4 bytes) + octetDeltaCount (1, 8 bytes), then a data
// set with one record 192.0.2.9 / 123456 bytes.
Bytes ipfix_datagram() {
  Bytes b;
  put16(b, 10);
  put16(b, 0);  // length, below
  put32(b, 1700000000);
  put32(b, 1);
  put32(b, 7);  // observation domain
  put16(b, 2);
  put16(b, 4 + 4 + 8);
  put16(b, 256);
  put16(b, 2);
  put16(b, 8);
  put16(b, 4);
  put16(b, 1);
  put16(b, 8);
  put16(b, 256);
  put16(b, 4 + 12);
  put32(b, 0xc0000209);
  put64(b, 123456);
  b[2] = static_cast<std::uint8_t>(b.size() >> 8);
  b[3] = static_cast<std::uint8_t>(b.size());
  return b;
}

// sFlow v5 with an IPv4 agent and no samples: a well-formed datagram with nothing in it.
Bytes sflow_empty_datagram() {
  Bytes b;
  put32(b, 5);
  put32(b, 1);
  put32(b, 0xc0000201);
  put32(b, 0);  // sub-agent
  put32(b, 1);  // sequence
  put32(b, 1000);
  put32(b, 0);  // samples
  return b;
}

struct Collect : RecordSink {
  void on_records(std::span<const FlowRecord> r) override {
    records.insert(records.end(), r.begin(), r.end());
  }
  std::vector<FlowRecord> records;
};

Datagram make(const Bytes& b, std::uint32_t exporter = 0xc0000201) {
  Datagram d;
  d.data = b.data();
  d.size = b.size();
  d.exporter = IpAddress::v4(exporter);
  d.time_received_ns = 1'700'000'000'000'000'000ULL;
  return d;
}

TEST(FlowDecoder, DetectsByVersion) {
  const Bytes nf5 = netflow5_datagram();
  EXPECT_EQ(detect_protocol(nf5.data(), nf5.size()), Protocol::netflow5);
  const std::uint8_t v1[] = {0, 1}, v7[] = {0, 7}, v9[] = {0, 9}, v10[] = {0, 10}, sf[] = {0, 0, 0, 5},
                     sf4[] = {0, 0, 0, 4}, junk[] = {0x12, 0x34}, one[] = {0};
  EXPECT_EQ(detect_protocol(v1, 2), Protocol::netflow5);
  EXPECT_EQ(detect_protocol(v7, 2), Protocol::netflow5);
  EXPECT_EQ(detect_protocol(v9, 2), Protocol::netflow9);
  EXPECT_EQ(detect_protocol(v10, 2), Protocol::ipfix);
  EXPECT_EQ(detect_protocol(sf, 4), Protocol::sflow5);
  EXPECT_EQ(detect_protocol(sf4, 4), std::nullopt);
  EXPECT_EQ(detect_protocol(junk, 2), std::nullopt);
  EXPECT_EQ(detect_protocol(one, 1), std::nullopt);
  EXPECT_EQ(detect_protocol(sf, 2), std::nullopt);
}

TEST(FlowDecoder, ProtocolNamesAndDefaultPorts) {
  EXPECT_EQ(parse_protocol("netflow5"), Protocol::netflow5);
  EXPECT_EQ(parse_protocol("netflow9"), Protocol::netflow9);
  EXPECT_EQ(parse_protocol("ipfix"), Protocol::ipfix);
  EXPECT_EQ(parse_protocol("sflow"), Protocol::sflow5);
  EXPECT_EQ(parse_protocol("sflow5"), Protocol::sflow5);
  EXPECT_EQ(parse_protocol("netflow10"), std::nullopt);
  // Every protocol's own name parses back to it.
  for (Protocol p : {Protocol::netflow5, Protocol::netflow9, Protocol::ipfix, Protocol::sflow5}) {
    EXPECT_EQ(parse_protocol(to_string(p)), p);
  }
  PortMap m = PortMap::defaults();
  EXPECT_EQ(m.find(2055), Protocol::netflow9);
  EXPECT_EQ(m.find(2056), Protocol::netflow5);
  EXPECT_EQ(m.find(4739), Protocol::ipfix);
  EXPECT_EQ(m.find(6343), Protocol::sflow5);
  EXPECT_EQ(m.find(9995), std::nullopt);
  m.set(9995, Protocol::ipfix);
  EXPECT_EQ(m.find(9995), Protocol::ipfix);
  m.clear();
  EXPECT_EQ(m.find(2055), std::nullopt);
}

TEST(FlowDecoder, VersionWinsOverAMislabeledPort) {
  FlowDecoder dec;
  Collect sink;
  const Bytes nf5 = netflow5_datagram();
  const Bytes ipfix = ipfix_datagram();
  {
    RecordWriter out(sink);
    dec.decode(make(nf5), out, Protocol::netflow9);  // v5 on a v9 port
    dec.decode(make(ipfix), out, Protocol::sflow5);  // IPFIX on an sFlow port
  }
  ASSERT_EQ(sink.records.size(), 2u);
  EXPECT_EQ(sink.records[0].type, FlowType::netflow5);
  EXPECT_EQ(sink.records[0].src_addr, IpAddress::v4(0x0a000001));
  EXPECT_EQ(sink.records[0].dst_port, 80);
  EXPECT_EQ(sink.records[0].bytes, 700u);
  EXPECT_EQ(sink.records[0].packets, 7u);
  EXPECT_EQ(sink.records[1].type, FlowType::ipfix);
  EXPECT_EQ(sink.records[1].src_addr, IpAddress::v4(0xc0000209));
  EXPECT_EQ(sink.records[1].bytes, 123456u);
  EXPECT_EQ(sink.records[1].observation_domain, 7u);
  const DecodeStats t = dec.total();
  EXPECT_EQ(t.datagrams, 2u);
  EXPECT_EQ(t.records, 2u);
  EXPECT_EQ(t.templates_received, 1u);
  EXPECT_EQ(t.total_errors(), 0u);
}

TEST(FlowDecoder, UnknownVersionIsCountedWithOrWithoutAHint) {
  FlowDecoder dec;
  Collect sink;
  const Bytes junk = {0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0};
  const Bytes tiny = {0x01};
  {
    RecordWriter out(sink);
    dec.decode(make(junk), out);
    dec.decode(make(junk), out, Protocol::netflow9);  // the template decoder counts it
    dec.decode(make(junk), out, Protocol::sflow5);    // the sFlow decoder counts it
    dec.decode(make(tiny), out);
  }
  EXPECT_TRUE(sink.records.empty());
  const DecodeStats t = dec.total();
  EXPECT_EQ(t.datagrams, 4u);
  EXPECT_EQ(t.records, 0u);
  EXPECT_EQ(t.error(DropReason::bad_version), 3u);
  EXPECT_EQ(t.error(DropReason::truncated), 1u);
}

TEST(FlowDecoder, StatsPerExporterWithABoundedTable) {
  FlowDecoder dec({}, 2);
  Collect sink;
  const Bytes nf5 = netflow5_datagram();
  const Bytes sf = sflow_empty_datagram();
  {
    RecordWriter out(sink);
    dec.decode(make(nf5, 0x0a000001), out);  // exporter A: 2 datagrams, 2 records
    dec.decode(make(nf5, 0x0a000001), out);
    dec.decode(make(sf, 0x0a000002), out);   // exporter B: 1 datagram, 0 records
    dec.decode(make(nf5, 0x0a000003), out);  // C and D: past the table's 2 slots
    dec.decode(make(nf5, 0x0a000004), out);
    dec.decode(make(nf5, 0x0a000002), out);  // B again: still its own
  }
  ASSERT_EQ(dec.exporters().size(), 2u);
  const DecodeStats* a = dec.find(IpAddress::v4(0x0a000001));
  const DecodeStats* b = dec.find(IpAddress::v4(0x0a000002));
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(dec.find(IpAddress::v4(0x0a000003)), nullptr);
  EXPECT_EQ(a->datagrams, 2u);
  EXPECT_EQ(a->records, 2u);
  EXPECT_EQ(b->datagrams, 2u);
  EXPECT_EQ(b->records, 1u);
  EXPECT_EQ(dec.other().datagrams, 2u);
  EXPECT_EQ(dec.other().records, 2u);
  const DecodeStats t = dec.total();
  EXPECT_EQ(t.datagrams, 6u);
  EXPECT_EQ(t.records, 5u);
  EXPECT_EQ(sink.records.size(), 5u);
}

TEST(FlowDecoder, ManyExportersKeepTheirOwnCounts) {
  // 1000 IPv6 exporters in a 1000-slot table: each must find its own entry again.
  FlowDecoder dec({}, 1000);
  Collect sink;
  const Bytes junk = {0x12, 0x34};
  RecordWriter out(sink);
  for (int round = 1; round <= 3; ++round) {
    for (std::uint32_t i = 0; i < 1000; ++i) {
      std::uint8_t a[16] = {0x20, 0x01, 0x0d, 0xb8};
      a[12] = static_cast<std::uint8_t>(i >> 8);
      a[15] = static_cast<std::uint8_t>(i);
      Datagram d = make(junk);
      d.exporter = IpAddress::v6_bytes(a);
      if (i % round == 0) dec.decode(d, out);
    }
  }
  ASSERT_EQ(dec.exporters().size(), 1000u);
  EXPECT_EQ(dec.other().datagrams, 0u);
  for (const auto& e : dec.exporters()) {
    const std::uint32_t i = (std::uint32_t{e.exporter.bytes[12]} << 8) | e.exporter.bytes[15];
    // Round r decodes exporter i when i % r == 0: round 1 always, rounds 2 and 3 when divisible.
    const std::uint64_t expected = 1 + (i % 2 == 0) + (i % 3 == 0);
    EXPECT_EQ(e.stats.datagrams, expected) << i;
    EXPECT_EQ(dec.find(e.exporter), &e.stats);
  }
}

}  // namespace
}  // namespace flowpulse::decode
