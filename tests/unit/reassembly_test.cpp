// IP fragment reassembly. Each test builds a whole UDP datagram (tests/support's ip_packet_with), cuts
// it into IPv4 or IPv6 fragments here, wraps them in Ethernet and runs them through the real packet
// parser before the reassembler, so what is checked is what the meter will see. Expected values come
// from the generated input: the reassembled bytes must equal the original UDP header and payload, and
// after every fragment the counters must account for every fragment given so far.
#include "decode/reassembly.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <numeric>
#include <random>
#include <vector>

#include "bytes.hpp"
#include "decode/packet.hpp"
#include "pcap_builder.hpp"

namespace flowpulse::decode {
namespace {

using test::Bytes;
using test::FiveTuple;
using test::put16;
using test::put32;
using test::put8;

constexpr std::uint64_t ms = 1'000'000;

// One piece of a datagram's fragmentable part: bytes [offset, offset + len), more-fragments flag.
struct Frag {
  std::size_t offset;
  std::size_t len;
  bool more;
};

// Cuts `total` bytes into pieces of `max` bytes (a multiple of 8) and a shorter last one.
std::vector<Frag> plan(std::size_t total, std::size_t max) {
  std::vector<Frag> out;
  for (std::size_t off = 0; off < total; off += max) {
    const std::size_t len = std::min(max, total - off);
    out.push_back({off, len, off + len < total});
  }
  return out;
}

FiveTuple v4_tuple(std::uint16_t src_port = 40000) {
  return {test::ip("192.0.2.10"), test::ip("198.51.100.20"), 17, src_port, 2055};
}
FiveTuple v6_tuple(std::uint16_t src_port = 40000) {
  return {test::ip("2001:db8::10"), test::ip("2001:db8:1::20"), 17, src_port, 4739};
}

// A UDP datagram as an exporter would send it: `l4` is what reassembly must give back (UDP header
// and payload), `payload` the UDP payload.
struct Original {
  FiveTuple tuple;
  Bytes payload;
  Bytes l4;
};

Original make_datagram(const FiveTuple& t, std::size_t payload_len, std::uint32_t seed) {
  Original o;
  o.tuple = t;
  std::mt19937 rng(seed);
  o.payload.resize(payload_len);
  for (auto& b : o.payload) b = static_cast<std::uint8_t>(rng());
  const Bytes ip = test::ip_packet_with(t, o.payload);
  o.l4.assign(ip.begin() + static_cast<std::ptrdiff_t>(test::ip_header_size(t)), ip.end());
  return o;
}

std::uint16_t checksum(const std::uint8_t* p, std::size_t n) {
  std::uint32_t acc = 0;
  for (std::size_t i = 0; i + 1 < n; i += 2) acc += static_cast<std::uint32_t>((p[i] << 8) | p[i + 1]);
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  return static_cast<std::uint16_t>(~acc & 0xffff);
}

// Builds fragment frames of one datagram: IPv4 (id, protocol) or IPv6 (base header, an optional
// hop-by-hop header before the fragment header, the fragment header with `next`).
struct Fragmenter {
  IpAddress src;
  IpAddress dst;
  std::uint32_t id = 0x1234;
  std::uint8_t next = 17;
  bool hop_by_hop = false;  // IPv6 only

  explicit Fragmenter(const FiveTuple& t, std::uint32_t id_ = 0x1234) : src(t.src), dst(t.dst), id(id_) {}

  Bytes frame(std::size_t offset, const std::uint8_t* bytes, std::size_t len, bool more) const {
    Bytes ip;
    if (src.is_v4()) {
      put8(ip, 0x45);
      put8(ip, 0);
      put16(ip, static_cast<unsigned>(20 + len));
      put16(ip, id & 0xffff);
      put16(ip, (more ? 0x2000u : 0u) | static_cast<unsigned>(offset / 8));
      put8(ip, 64);
      put8(ip, next);
      put16(ip, 0);
      ip.insert(ip.end(), &src.bytes[12], &src.bytes[16]);
      ip.insert(ip.end(), &dst.bytes[12], &dst.bytes[16]);
      const std::uint16_t ck = checksum(ip.data(), 20);
      ip[10] = static_cast<std::uint8_t>(ck >> 8);
      ip[11] = static_cast<std::uint8_t>(ck);
    } else {
      put32(ip, 6u << 28);
      put16(ip, static_cast<unsigned>((hop_by_hop ? 8 : 0) + 8 + len));
      put8(ip, hop_by_hop ? 0 : 44);
      put8(ip, 64);
      ip.insert(ip.end(), src.bytes.begin(), src.bytes.end());
      ip.insert(ip.end(), dst.bytes.begin(), dst.bytes.end());
      if (hop_by_hop) {
        put8(ip, 44);  // next: fragment
        put8(ip, 0);   // 8 bytes
        put8(ip, 1);   // PadN, 4 bytes of padding
        put8(ip, 4);
        put32(ip, 0);
      }
      put8(ip, next);
      put8(ip, 0);
      put16(ip, static_cast<unsigned>(offset) | (more ? 1u : 0u));
      put32(ip, id);
    }
    ip.insert(ip.end(), bytes, bytes + len);
    return test::ethernet_frame(ip);
  }
  Bytes frame(const Bytes& whole, const Frag& f) const {
    return frame(f.offset, whole.data() + f.offset, f.len, f.more);
  }
};

// Feeds one frame through the parser and the reassembler; the counters must balance after each.
FragmentResult feed(Reassembler& r, const Bytes& frame, std::uint64_t now_ns, ReassembledDatagram& out) {
  const PacketInfo info = parse_ethernet(frame.data(), frame.size());
  const FragmentResult res = r.add(info, frame.data(), frame.size(), now_ns, out);
  EXPECT_TRUE(r.stats().balanced()) << "after a frame at " << now_ns;
  return res;
}
FragmentResult feed(Reassembler& r, const Bytes& frame, std::uint64_t now_ns = 0) {
  ReassembledDatagram out;
  return feed(r, frame, now_ns, out);
}

Bytes view(const ReassembledDatagram& d) { return Bytes(d.data, d.data + d.size); }

// Feeds the fragments in `order` and expects the last one to complete the datagram, equal to `o`.
void expect_reassembles(Reassembler& r, const Original& o, const Fragmenter& fr,
                        const std::vector<Frag>& frags, const std::vector<std::size_t>& order) {
  ReassembledDatagram out;
  for (std::size_t i = 0; i < order.size(); ++i) {
    const FragmentResult res = feed(r, fr.frame(o.l4, frags[order[i]]), 1000 + i, out);
    if (i + 1 < order.size()) {
      ASSERT_EQ(res, FragmentResult::held) << "fragment " << order[i];
    } else {
      ASSERT_EQ(res, FragmentResult::complete);
    }
  }
  EXPECT_EQ(out.proto, 17);
  EXPECT_EQ(out.ip_version, o.tuple.src.is_v4() ? 4 : 6);
  EXPECT_EQ(out.src_addr, o.tuple.src);
  EXPECT_EQ(out.dst_addr, o.tuple.dst);
  EXPECT_EQ(out.fragment_id, o.tuple.src.is_v4() ? (fr.id & 0xffff) : fr.id);
  EXPECT_EQ(out.fragments, order.size());
  EXPECT_EQ(out.first_ns, 1000u);
  EXPECT_EQ(out.last_ns, 1000 + order.size() - 1);
  ASSERT_EQ(out.size, o.l4.size());
  EXPECT_EQ(view(out), o.l4);
  const auto udp = udp_datagram(out);
  ASSERT_TRUE(udp.has_value());
  EXPECT_EQ(udp->src_port, o.tuple.src_port);
  EXPECT_EQ(udp->dst_port, o.tuple.dst_port);
  EXPECT_EQ(Bytes(udp->payload, udp->payload + udp->payload_len), o.payload);
}

std::vector<std::size_t> in_order(std::size_t n) {
  std::vector<std::size_t> v(n);
  std::iota(v.begin(), v.end(), 0);
  return v;
}

TEST(Reassembly, NotAFragmentIsLeftAlone) {
  Reassembler r;
  const Original o = make_datagram(v4_tuple(), 100, 1);
  const Bytes frame = test::ethernet_frame(test::ip_packet_with(o.tuple, o.payload));
  EXPECT_EQ(feed(r, frame), FragmentResult::not_fragment);
  EXPECT_EQ(r.stats().fragments, 0u);
}

TEST(Reassembly, Ipv4InOrder) {
  Reassembler r;
  const Original o = make_datagram(v4_tuple(), 4000, 2);
  const Fragmenter fr(o.tuple);
  const auto frags = plan(o.l4.size(), 1480);
  ASSERT_EQ(frags.size(), 3u);
  expect_reassembles(r, o, fr, frags, in_order(frags.size()));
  const ReassemblyStats& s = r.stats();
  EXPECT_EQ(s.fragments, 3u);
  EXPECT_EQ(s.reassembled, 1u);
  EXPECT_EQ(s.fragments_reassembled, 3u);
  EXPECT_EQ(s.dropped(), 0u);
  EXPECT_EQ(s.in_progress_datagrams, 0u);
  EXPECT_EQ(s.in_progress_fragments, 0u);
}

TEST(Reassembly, Ipv4Reversed) {
  Reassembler r;
  const Original o = make_datagram(v4_tuple(), 9000, 3);
  const auto frags = plan(o.l4.size(), 1480);
  auto order = in_order(frags.size());
  std::reverse(order.begin(), order.end());
  expect_reassembles(r, o, Fragmenter(o.tuple), frags, order);
  EXPECT_EQ(r.stats().reassembled, 1u);
}

TEST(Reassembly, ShuffledLargestDatagrams) {
  // The largest UDP payloads IPv4 (65535 - 20 - 8) and IPv6 (65535 - 8) can carry, in many orders.
  Reassembler r;
  std::mt19937 rng(42);
  const Original o4 = make_datagram(v4_tuple(), 65507, 4);
  const Original o6 = make_datagram(v6_tuple(), 65527, 5);
  for (const Original* o : {&o4, &o6}) {
    const auto frags = plan(o->l4.size(), o->tuple.src.is_v4() ? 1480 : 1448);
    for (int round = 0; round < 20; ++round) {
      auto order = in_order(frags.size());
      std::shuffle(order.begin(), order.end(), rng);
      expect_reassembles(r, *o, Fragmenter(o->tuple, static_cast<std::uint32_t>(round)), frags, order);
    }
  }
  EXPECT_EQ(r.stats().reassembled, 40u);
  EXPECT_EQ(r.stats().dropped(), 0u);
}

TEST(Reassembly, InterleavedDatagramsKeptApart) {
  // Same id, different sources or IP versions; same source, different ids: five datagrams at once.
  Reassembler r;
  std::vector<Original> originals = {
      make_datagram(v4_tuple(1), 3000, 10),
      make_datagram({test::ip("192.0.2.11"), test::ip("198.51.100.20"), 17, 1, 2055}, 3000, 11),
      make_datagram(v4_tuple(2), 2500, 12),
      make_datagram(v6_tuple(1), 3000, 13),
      make_datagram({test::ip("::ffff:192.0.2.10"), test::ip("::ffff:198.51.100.20"), 17, 1, 2055}, 3000, 14),
  };
  std::vector<Fragmenter> fragmenters = {Fragmenter(originals[0].tuple, 7), Fragmenter(originals[1].tuple, 7),
                                         Fragmenter(originals[2].tuple, 8), Fragmenter(originals[3].tuple, 7),
                                         Fragmenter(originals[4].tuple, 7)};
  std::vector<std::pair<std::size_t, Frag>> all;
  for (std::size_t d = 0; d < originals.size(); ++d) {
    for (const Frag& f : plan(originals[d].l4.size(), 1000)) all.emplace_back(d, f);
  }
  std::mt19937 rng(7);
  std::shuffle(all.begin(), all.end(), rng);
  std::map<std::size_t, Bytes> done;
  for (const auto& [d, f] : all) {
    ReassembledDatagram out;
    if (feed(r, fragmenters[d].frame(originals[d].l4, f), 0, out) == FragmentResult::complete) {
      EXPECT_EQ(out.src_addr, originals[d].tuple.src);
      done[d] = view(out);
    }
  }
  ASSERT_EQ(done.size(), originals.size());
  for (std::size_t d = 0; d < originals.size(); ++d) EXPECT_EQ(done[d], originals[d].l4) << d;
}

TEST(Reassembly, DuplicatesAndIdenticalOverlapsAreAccepted) {
  Reassembler r;
  const Original o = make_datagram(v4_tuple(), 4000, 20);
  const Fragmenter fr(o.tuple);
  // Every fragment twice, and a piece straddling two fragments with the same bytes.
  const std::vector<Frag> frags = {{0, 1480, true},     {0, 1480, true},     {800, 1200, true},
                                   {2960, 1048, false}, {2960, 1048, false}, {1480, 1480, true}};
  ASSERT_EQ(o.l4.size(), 4008u);
  expect_reassembles(r, o, fr, frags, in_order(frags.size()));
  EXPECT_EQ(r.stats().fragments_reassembled, 6u);
  // A duplicate after the datagram completed starts a new one, which can only time out.
  EXPECT_EQ(feed(r, fr.frame(o.l4, frags[0]), 2000), FragmentResult::held);
  EXPECT_EQ(r.stats().in_progress_fragments, 1u);
  EXPECT_EQ(r.expire(2000 + 5'000 * ms + 1), 1u);
  EXPECT_EQ(r.stats().timeout, 1u);
  EXPECT_TRUE(r.stats().balanced());
}

TEST(Reassembly, ConflictingOverlapDropsTheDatagram) {
  Reassembler r;
  const Original o = make_datagram(v4_tuple(), 4000, 21);
  const Fragmenter fr(o.tuple);
  const auto frags = plan(o.l4.size(), 1480);
  EXPECT_EQ(feed(r, fr.frame(o.l4, frags[0])), FragmentResult::held);
  EXPECT_EQ(feed(r, fr.frame(o.l4, frags[2])), FragmentResult::held);
  Bytes other(o.l4.begin() + 1400, o.l4.begin() + 1560);
  other[40] ^= 0x01;  // byte 1440, held; the bytes past 1480 are not held yet and match
  EXPECT_EQ(feed(r, fr.frame(1400, other.data(), other.size(), true)), FragmentResult::dropped);
  EXPECT_EQ(r.stats().overlap, 3u);  // the two held and the new one
  EXPECT_EQ(r.stats().in_progress_datagrams, 0u);
  // The rest of it starts over and can only time out.
  EXPECT_EQ(feed(r, fr.frame(o.l4, frags[1])), FragmentResult::held);
  r.expire(10'000 * ms);
  EXPECT_EQ(r.stats().timeout, 1u);
  EXPECT_EQ(r.stats().fragments, 4u);
}

TEST(Reassembly, Ipv6OverlapIntoALastFragmentsTail) {
  // The last fragment ends inside an 8-byte block; an overlapping duplicate must compare only its bytes.
  Reassembler r;
  const Original o2 = make_datagram(v6_tuple(), 2003, 23);  // 2011 bytes: the last block holds 3
  const Fragmenter fr2(o2.tuple, 99);
  EXPECT_EQ(feed(r, fr2.frame(o2.l4, {1000, 1011, false})), FragmentResult::held);
  EXPECT_EQ(feed(r, fr2.frame(o2.l4, {2000, 11, false})), FragmentResult::held);  // identical
  ReassembledDatagram out;
  EXPECT_EQ(feed(r, fr2.frame(o2.l4, {0, 1000, true}), 0, out), FragmentResult::complete);
  EXPECT_EQ(view(out), o2.l4);
  Bytes changed(o2.l4.begin() + 2000, o2.l4.end());
  changed.back() ^= 0xff;
  EXPECT_EQ(feed(r, fr2.frame(o2.l4, {1000, 1011, false})), FragmentResult::held);
  EXPECT_EQ(feed(r, fr2.frame(2000, changed.data(), changed.size(), false)), FragmentResult::dropped);
  EXPECT_EQ(r.stats().overlap, 2u);
}

TEST(Reassembly, TimeoutCountsFragmentsOfExpiredDatagrams) {
  ReassemblySettings settings;
  settings.timeout_ns = 1000;
  Reassembler r(settings);
  const Original o = make_datagram(v4_tuple(), 2000, 30);
  const Fragmenter fr(o.tuple);
  const auto frags = plan(o.l4.size(), 1480);
  // At exactly the timeout it still completes.
  EXPECT_EQ(feed(r, fr.frame(o.l4, frags[0]), 5000), FragmentResult::held);
  EXPECT_EQ(feed(r, fr.frame(o.l4, frags[1]), 6000), FragmentResult::complete);
  // One nanosecond later it does not: the first fragment is counted as timed out, the second waits.
  EXPECT_EQ(feed(r, fr.frame(o.l4, frags[0]), 10000), FragmentResult::held);
  EXPECT_EQ(feed(r, fr.frame(o.l4, frags[1]), 11001), FragmentResult::held);
  EXPECT_EQ(r.stats().timeout, 1u);
  EXPECT_EQ(r.stats().in_progress_fragments, 1u);
  // expire() is the clock for quiet periods.
  EXPECT_EQ(r.expire(12001), 0u);
  EXPECT_EQ(r.expire(12002), 1u);
  EXPECT_EQ(r.stats().timeout, 2u);
  EXPECT_EQ(r.stats().in_progress_datagrams, 0u);
  EXPECT_TRUE(r.stats().balanced());
}

TEST(Reassembly, TimeoutWhenCaptureTimeGoesBackwards) {
  ReassemblySettings settings;
  settings.timeout_ns = 1000;
  Reassembler r(settings);
  const Original a = make_datagram(v4_tuple(1), 2000, 31);
  const Original b = make_datagram(v4_tuple(2), 2000, 32);
  const Fragmenter fa(a.tuple, 1), fb(b.tuple, 2);
  const auto frags = plan(a.l4.size(), 1480);
  EXPECT_EQ(feed(r, fa.frame(a.l4, frags[0]), 5000), FragmentResult::held);
  EXPECT_EQ(feed(r, fb.frame(b.l4, frags[0]), 10), FragmentResult::held);  // queued behind a
  // a is not due at 1500, so expire() stops there; b is, and is found so when its fragment arrives.
  EXPECT_EQ(feed(r, fb.frame(b.l4, frags[1]), 1500), FragmentResult::held);
  EXPECT_EQ(r.stats().timeout, 1u);
  EXPECT_EQ(feed(r, fa.frame(a.l4, frags[1]), 5500), FragmentResult::complete);
}

TEST(Reassembly, FullTableDropsTheNewDatagram) {
  ReassemblySettings settings;
  settings.max_datagrams = 2;
  Reassembler r(settings);
  std::vector<Original> o;
  std::vector<Fragmenter> fr;
  for (std::uint16_t i = 0; i < 3; ++i) {
    o.push_back(make_datagram(v4_tuple(i), 2000, 40 + i));
    fr.emplace_back(o.back().tuple, 100 + i);
  }
  const auto frags = plan(o[0].l4.size(), 1480);
  EXPECT_EQ(feed(r, fr[0].frame(o[0].l4, frags[0])), FragmentResult::held);
  EXPECT_EQ(feed(r, fr[1].frame(o[1].l4, frags[0])), FragmentResult::held);
  EXPECT_EQ(feed(r, fr[2].frame(o[2].l4, frags[0])), FragmentResult::dropped);
  EXPECT_EQ(feed(r, fr[2].frame(o[2].l4, frags[1])), FragmentResult::dropped);
  EXPECT_EQ(r.stats().table_full, 2u);
  // The held ones were not evicted.
  ReassembledDatagram out;
  EXPECT_EQ(feed(r, fr[0].frame(o[0].l4, frags[1]), 0, out), FragmentResult::complete);
  EXPECT_EQ(view(out), o[0].l4);
  // A freed slot takes new datagrams again.
  EXPECT_EQ(feed(r, fr[2].frame(o[2].l4, frags[1])), FragmentResult::held);
  EXPECT_EQ(feed(r, fr[2].frame(o[2].l4, frags[0]), 0, out), FragmentResult::complete);
  EXPECT_EQ(view(out), o[2].l4);
  EXPECT_EQ(feed(r, fr[1].frame(o[1].l4, frags[1]), 0, out), FragmentResult::complete);
  EXPECT_EQ(view(out), o[1].l4);
  EXPECT_EQ(r.stats().reassembled, 3u);
}

TEST(Reassembly, TruncatedFramesAreCounted) {
  Reassembler r;
  for (const FiveTuple& t : {v4_tuple(), v6_tuple()}) {
    const Original o = make_datagram(t, 3000, 50);
    const Fragmenter fr(o.tuple);
    const auto frags = plan(o.l4.size(), 1480);
    Bytes cut = fr.frame(o.l4, frags[1]);
    cut.resize(cut.size() - 1);
    EXPECT_EQ(feed(r, cut), FragmentResult::dropped);
    Bytes first = fr.frame(o.l4, frags[0]);
    first.resize(14 + test::ip_header_size(t) + 8 + 100);  // as a snap length would
    EXPECT_EQ(feed(r, first), FragmentResult::dropped);
  }
  EXPECT_EQ(r.stats().truncated, 4u);
  EXPECT_EQ(r.stats().in_progress_datagrams, 0u);
}

TEST(Reassembly, Ipv6WithExtensionHeaders) {
  // Hop-by-hop before the fragment header (unfragmentable), destination options after it: the
  // reassembled view starts at the UDP header.
  Reassembler r;
  const Original o = make_datagram(v6_tuple(), 3000, 60);
  Bytes fragmentable = {17, 0, 1, 4, 0, 0, 0, 0};  // destination options: next UDP, PadN
  test::append(fragmentable, o.l4);
  Fragmenter fr(o.tuple, 0xdeadbeef);
  fr.hop_by_hop = true;
  fr.next = 60;
  const auto frags = plan(fragmentable.size(), 1232);
  ReassembledDatagram out;
  std::vector<std::size_t> order = {2, 0, 1};
  ASSERT_EQ(frags.size(), order.size());
  for (std::size_t i : order) {
    const Bytes frame = fr.frame(fragmentable, frags[i]);
    const PacketInfo info = parse_ethernet(frame.data(), frame.size());
    ASSERT_TRUE(info.is_fragment);
    EXPECT_EQ(r.add(info, frame.data(), frame.size(), 0, out),
              i == order.back() ? FragmentResult::complete : FragmentResult::held);
  }
  EXPECT_EQ(out.ip_version, 6);
  EXPECT_EQ(out.proto, 17);
  EXPECT_EQ(out.fragment_id, 0xdeadbeefu);
  EXPECT_EQ(view(out), o.l4);
  ASSERT_TRUE(udp_datagram(out).has_value());
  EXPECT_EQ(udp_datagram(out)->dst_port, 4739);
}

TEST(Reassembly, Ipv6InOrderAndReversed) {
  Reassembler r;
  const Original o = make_datagram(v6_tuple(), 5000, 61);
  const auto frags = plan(o.l4.size(), 1448);
  expect_reassembles(r, o, Fragmenter(o.tuple, 1), frags, in_order(frags.size()));
  auto order = in_order(frags.size());
  std::reverse(order.begin(), order.end());
  expect_reassembles(r, o, Fragmenter(o.tuple, 2), frags, order);
}

TEST(Reassembly, InvalidFragments) {
  Reassembler r;
  const Original o = make_datagram(v4_tuple(), 4000, 70);
  Fragmenter fr(o.tuple);
  const Bytes zeros(70000, 0);
  // A non-last fragment whose length is not a multiple of 8: dropped alone.
  EXPECT_EQ(feed(r, fr.frame(0, o.l4.data(), 100, true)), FragmentResult::dropped);
  EXPECT_EQ(r.stats().invalid, 1u);
  EXPECT_EQ(r.stats().in_progress_datagrams, 0u);
  // Zero length.
  EXPECT_EQ(feed(r, fr.frame(8, o.l4.data(), 0, false)), FragmentResult::dropped);
  EXPECT_EQ(r.stats().invalid, 2u);
  // Past what the IPv4 total length can say (20 + 65515 = 65535 is the most).
  fr.id = 2;
  EXPECT_EQ(feed(r, fr.frame(65512, zeros.data(), 4, false)), FragmentResult::dropped);
  EXPECT_EQ(r.stats().invalid, 3u);
  EXPECT_EQ(feed(r, fr.frame(65512, zeros.data(), 3, false)), FragmentResult::held);
  // A second end that differs: the datagram and the new fragment go.
  fr.id = 3;
  EXPECT_EQ(feed(r, fr.frame(0, o.l4.data(), 16, true)), FragmentResult::held);
  EXPECT_EQ(feed(r, fr.frame(24, o.l4.data() + 24, 8, false)), FragmentResult::held);
  EXPECT_EQ(feed(r, fr.frame(24, o.l4.data() + 24, 16, false)), FragmentResult::dropped);
  EXPECT_EQ(r.stats().invalid, 6u);
  // Data past a known end.
  fr.id = 4;
  EXPECT_EQ(feed(r, fr.frame(16, o.l4.data() + 16, 8, false)), FragmentResult::held);
  EXPECT_EQ(feed(r, fr.frame(16, o.l4.data() + 16, 16, true)), FragmentResult::dropped);
  EXPECT_EQ(r.stats().invalid, 8u);
  // An end before data already held.
  fr.id = 5;
  EXPECT_EQ(feed(r, fr.frame(0, o.l4.data(), 32, true)), FragmentResult::held);
  EXPECT_EQ(feed(r, fr.frame(8, o.l4.data() + 8, 8, false)), FragmentResult::dropped);
  EXPECT_EQ(r.stats().invalid, 10u);
  // IPv6: past what the payload length can say.
  const Original o6 = make_datagram(v6_tuple(), 100, 71);
  const Fragmenter fr6(o6.tuple);
  EXPECT_EQ(feed(r, fr6.frame(65528, zeros.data(), 8, false)), FragmentResult::dropped);
  EXPECT_EQ(r.stats().invalid, 11u);
  EXPECT_EQ(r.stats().in_progress_datagrams, 1u);  // id 2's last fragment
  EXPECT_EQ(r.stats().in_progress_fragments, 1u);
}

TEST(Reassembly, TooBigForTheConfiguredLimit) {
  ReassemblySettings settings;
  settings.max_datagram_bytes = 1500;
  Reassembler r(settings);
  const Original small = make_datagram(v4_tuple(1), 1492, 80);  // 1500 bytes: fits exactly
  const auto frags = plan(small.l4.size(), 1000);
  expect_reassembles(r, small, Fragmenter(small.tuple, 1), frags, {1, 0});
  const Original big = make_datagram(v4_tuple(2), 1493, 81);
  const Fragmenter fr(big.tuple, 2);
  EXPECT_EQ(feed(r, fr.frame(big.l4, {0, 1000, true})), FragmentResult::held);
  EXPECT_EQ(feed(r, fr.frame(big.l4, {1000, 501, false})), FragmentResult::dropped);
  EXPECT_EQ(r.stats().too_big, 1u);
}

TEST(Reassembly, UdpLengthIsCheckedAgainstTheReassembledSize) {
  Bytes b;
  put16(b, 1111);
  put16(b, 2222);
  put16(b, 12);
  put16(b, 0);
  put32(b, 0xaabbccdd);
  ReassembledDatagram d;
  d.proto = 17;
  d.data = b.data();
  d.size = b.size();
  auto u = udp_datagram(d);
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->src_port, 1111);
  EXPECT_EQ(u->dst_port, 2222);
  EXPECT_EQ(u->payload, b.data() + 8);
  EXPECT_EQ(u->payload_len, 4u);
  // Bytes past the UDP length are not payload.
  d.size = 11;
  EXPECT_FALSE(udp_datagram(d).has_value());
  b.push_back(0xee);
  d.size = b.size();
  ASSERT_TRUE(udp_datagram(d).has_value());
  EXPECT_EQ(udp_datagram(d)->payload_len, 4u);
  b[5] = 7;  // below the header's own size
  EXPECT_FALSE(udp_datagram(d).has_value());
  b[5] = 12;
  d.proto = 6;
  EXPECT_FALSE(udp_datagram(d).has_value());
  d.proto = 17;
  d.size = 7;
  EXPECT_FALSE(udp_datagram(d).has_value());
}

TEST(Reassembly, EveryFragmentIsAccountedFor) {
  // A scripted run through every outcome, with the expected count of each.
  ReassemblySettings settings;
  settings.max_datagrams = 2;
  settings.timeout_ns = 1000 * ms;
  Reassembler r(settings);
  const Original a = make_datagram(v4_tuple(1), 3000, 90);
  const Original b = make_datagram(v6_tuple(2), 3000, 91);
  const Original c = make_datagram(v4_tuple(3), 3000, 92);
  const Fragmenter fa(a.tuple, 1), fb(b.tuple, 2), fc(c.tuple, 3);
  const auto fr4 = plan(a.l4.size(), 1480);
  const auto fr6 = plan(b.l4.size(), 1448);
  std::uint64_t t = 0;
  feed(r, fa.frame(a.l4, fr4[0]), t += ms);  // a held
  feed(r, fa.frame(a.l4, fr4[0]), t += ms);  // duplicate, held
  feed(r, fb.frame(b.l4, fr6[2]), t += ms);  // b held
  feed(r, fc.frame(c.l4, fr4[0]), t += ms);  // table full
  Bytes cut = fa.frame(a.l4, fr4[1]);
  cut.resize(cut.size() - 8);
  feed(r, cut, t += ms);                                 // truncated
  feed(r, fa.frame(a.l4, fr4[1]), t += ms);              // a held
  feed(r, fa.frame(0, a.l4.data(), 12, true), t += ms);  // invalid alone
  feed(r, fa.frame(a.l4, fr4[2]), t += ms);              // a complete: 4 fragments
  feed(r, fb.frame(b.l4, fr6[0]), t += ms);              // b held
  Bytes bad(b.l4.begin(), b.l4.begin() + 8);
  bad[0] ^= 1;
  feed(r, fb.frame(0, bad.data(), bad.size(), true), t += ms);  // overlap: b's 2 + 1
  feed(r, fc.frame(c.l4, fr4[1]), t += ms);                     // c held
  feed(r, fc.frame(c.l4, fr4[0]), t += ms);                     // c held
  feed(r, fb.frame(b.l4, fr6[1]), t += ms);                     // b again, held
  const ReassemblyStats& s = r.stats();
  EXPECT_EQ(s.fragments, 13u);
  EXPECT_EQ(s.reassembled, 1u);
  EXPECT_EQ(s.fragments_reassembled, 4u);
  EXPECT_EQ(s.table_full, 1u);
  EXPECT_EQ(s.truncated, 1u);
  EXPECT_EQ(s.invalid, 1u);
  EXPECT_EQ(s.overlap, 3u);
  EXPECT_EQ(s.timeout, 0u);
  EXPECT_EQ(s.in_progress_datagrams, 2u);
  EXPECT_EQ(s.in_progress_fragments, 3u);
  EXPECT_EQ(s.fragments, s.fragments_reassembled + s.timeout + s.overlap + s.invalid + s.too_big +
                             s.table_full + s.truncated + s.in_progress_fragments);
  r.expire(t + 2000 * ms);
  EXPECT_EQ(s.timeout, 3u);
  EXPECT_EQ(s.in_progress_fragments, 0u);
  EXPECT_TRUE(s.balanced());
}

TEST(Reassembly, RandomTrafficBalancesAndReassemblesExactly) {
  // Many datagrams of both versions through a small table, with duplicates, conflicting overlaps,
  // cut frames, lost fragments, bad lengths, datagrams past the size limit and time passing: the identity
  // holds after every frame and each completed datagram equals its original.
  ReassemblySettings settings;
  settings.max_datagrams = 14;
  settings.max_datagram_bytes = 8192;
  settings.timeout_ns = 5 * ms;
  Reassembler r(settings);
  std::mt19937 rng(1234);
  std::vector<Original> originals;
  std::vector<std::pair<Bytes, std::size_t>> frames;  // frame, datagram
  for (std::uint32_t d = 0; d < 300; ++d) {
    const bool v4 = rng() % 2 == 0;
    const FiveTuple t =
        v4 ? v4_tuple(static_cast<std::uint16_t>(d)) : v6_tuple(static_cast<std::uint16_t>(d));
    originals.push_back(make_datagram(t, 1000 + rng() % 8000, d));
    const Original& o = originals.back();
    const Fragmenter fr(t, d);
    for (const Frag& f : plan(o.l4.size(), 8 * (50 + rng() % 150))) {
      const unsigned roll = rng() % 100;
      if (roll < 3) continue;  // lost
      frames.emplace_back(fr.frame(o.l4, f), d);
      if (roll < 8) frames.emplace_back(fr.frame(o.l4, f), d);  // duplicate
      if (roll >= 8 && roll < 10) {
        frames.back().first.resize(frames.back().first.size() - 1 - rng() % 20);
      }
      if (roll >= 10 && roll < 12 && f.len >= 16) {
        Bytes other(o.l4.begin() + static_cast<std::ptrdiff_t>(f.offset),
                    o.l4.begin() + static_cast<std::ptrdiff_t>(f.offset + 16));
        other[rng() % 16] ^= 0x80;
        frames.emplace_back(fr.frame(f.offset, other.data(), other.size(), true), d);
      }
      if (roll == 12) frames.emplace_back(fr.frame(f.offset, o.l4.data() + f.offset, 12, true), d);  // not 8n
    }
  }
  // Shuffle within windows of 40 frames, so datagrams interleave but do not all wait for each other.
  for (std::size_t i = 0; i < frames.size(); i += 40) {
    std::shuffle(frames.begin() + static_cast<std::ptrdiff_t>(i),
                 frames.begin() + static_cast<std::ptrdiff_t>(std::min(i + 40, frames.size())), rng);
  }
  std::uint64_t t = 0;
  std::uint64_t fed = 0;
  std::uint64_t not_fragment = 0;
  for (const auto& [frame, d] : frames) {
    t += rng() % (ms / 10);
    ReassembledDatagram out;
    const FragmentResult res = feed(r, frame, t, out);
    // A frame cut inside its IP or fragment header does not say it is a fragment.
    if (res == FragmentResult::not_fragment) {
      ++not_fragment;
      continue;
    }
    ++fed;
    if (res == FragmentResult::complete) {
      ASSERT_EQ(view(out), originals[d].l4) << d;
      const auto udp = udp_datagram(out);
      ASSERT_TRUE(udp.has_value());
      ASSERT_EQ(Bytes(udp->payload, udp->payload + udp->payload_len), originals[d].payload);
    }
  }
  const ReassemblyStats& s = r.stats();
  EXPECT_EQ(s.fragments, fed);
  EXPECT_LT(not_fragment, 20u);
  EXPECT_GT(s.reassembled, 100u);
  EXPECT_GT(s.overlap, 0u);
  EXPECT_GT(s.truncated, 0u);
  EXPECT_GT(s.table_full, 0u);
  EXPECT_GT(s.invalid, 0u);
  EXPECT_GT(s.too_big, 0u);
  EXPECT_GT(s.timeout, 0u);
  r.expire(t + 1000 * ms);
  EXPECT_EQ(s.in_progress_datagrams, 0u);
  EXPECT_EQ(s.in_progress_fragments, 0u);
  EXPECT_EQ(s.fragments, s.fragments_reassembled + s.dropped());
}

}  // namespace
}  // namespace flowpulse::decode
