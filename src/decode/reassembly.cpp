#include "decode/reassembly.hpp"

#include <algorithm>
#include <bit>
#include <cstring>

#include "core/wire.hpp"

namespace flowpulse::decode {

namespace {

using core::load_be16;

constexpr std::size_t max_ip_payload = 65535;  // what a 16-bit length field can say
constexpr int max_ipv6_ext_headers = 16;       // as the packet parser
constexpr std::uint8_t ipv6_fragment_header = 44;

std::size_t ipv6_extension_length(std::uint8_t next, const std::uint8_t* h) noexcept {
  if (next == ipv6_fragment_header) return 8;
  if (next == 51) return (static_cast<std::size_t>(h[1]) + 2) * 4;  // AH counts 4-byte words, minus 2
  return (static_cast<std::size_t>(h[1]) + 1) * 8;
}

// The packet parser says where the upper layer starts, not where the fragment header ends (a first
// fragment may carry destination options after it): walk the header chain again to the fragment
// header. On success `start` is the offset of the fragmentable part and `next` the header it begins
// with.
bool find_ipv6_fragment(const std::uint8_t* data, std::size_t l3, std::size_t ip_end, std::size_t& start,
                        std::uint8_t& next) noexcept {
  std::size_t cur = l3 + 40;
  std::uint8_t type = data[l3 + 6];
  for (int i = 0; i < max_ipv6_ext_headers && is_ipv6_extension(type); ++i) {
    if (ip_end < cur || ip_end - cur < 8) return false;
    const std::uint8_t* h = data + cur;
    const std::size_t len = ipv6_extension_length(type, h);
    if (ip_end - cur < len) return false;
    if (type == ipv6_fragment_header) {
      start = cur + len;
      next = h[0];
      return true;
    }
    type = h[0];
    cur += len;
  }
  return false;
}

bool same_key(const void* a, const void* b, std::size_t n) noexcept { return std::memcmp(a, b, n) == 0; }

// Bits [lo, hi) of a 64-bit word, 0 <= lo < hi <= 64.
std::uint64_t bit_range(std::size_t lo, std::size_t hi) noexcept {
  const std::uint64_t upto_hi = hi == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << hi) - 1;
  return upto_hi & ~((std::uint64_t{1} << lo) - 1);
}

}  // namespace

std::optional<UdpDatagram> udp_datagram(const ReassembledDatagram& d) noexcept {
  if (d.proto != ip_proto_udp || d.data == nullptr || d.size < 8) return std::nullopt;
  const std::size_t udp_len = load_be16(d.data + 4);
  if (udp_len < 8 || udp_len > d.size) return std::nullopt;
  UdpDatagram u;
  u.src_port = load_be16(d.data);
  u.dst_port = load_be16(d.data + 2);
  u.payload = d.data + 8;
  u.payload_len = udp_len - 8;
  return u;
}

Reassembler::Reassembler(const ReassemblySettings& settings) : settings_(settings) {
  settings_.max_datagrams = std::clamp<std::uint32_t>(settings_.max_datagrams, 1, 1U << 24);
  settings_.max_datagram_bytes =
      std::clamp<std::uint32_t>(settings_.max_datagram_bytes, 8, static_cast<std::uint32_t>(max_ip_payload));
  const std::size_t n = settings_.max_datagrams;
  slot_bytes_ = settings_.max_datagram_bytes;
  bitmap_words_ = (slot_bytes_ + 511) / 512;  // one bit per 8-byte block
  // Not value-initialised: a page becomes resident only when a fragment is written to it.
  buffers_ = std::make_unique_for_overwrite<std::uint8_t[]>(n * slot_bytes_);
  bitmaps_.assign(n * bitmap_words_, 0);
  slots_.resize(n);
  const std::uint32_t buckets = std::bit_ceil(settings_.max_datagrams);
  buckets_.assign(buckets, npos);
  bucket_mask_ = buckets - 1;
  // Free list in index order, so the first datagrams use the first slots.
  for (std::uint32_t s = settings_.max_datagrams; s-- > 0;) {
    slots_[s].hash_next = free_head_;
    free_head_ = s;
  }
}

std::uint64_t Reassembler::hash(const Key& k) noexcept {
  std::uint64_t words[sizeof(Key) / 8];
  std::memcpy(words, &k, sizeof words);
  std::uint64_t h = 0x243f6a8885a308d3ULL;
  for (std::uint64_t w : words) {
    h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
    h ^= h >> 29;
  }
  return h ^ (h >> 32);
}

std::uint32_t Reassembler::find(std::uint32_t bucket, const Key& k) const noexcept {
  for (std::uint32_t s = buckets_[bucket]; s != npos; s = slots_[s].hash_next) {
    if (same_key(&slots_[s].key, &k, sizeof k)) return s;
  }
  return npos;
}

std::uint32_t Reassembler::allocate(const Key& k, std::uint32_t bucket, std::uint64_t now_ns) noexcept {
  const std::uint32_t s = free_head_;
  Slot& slot = slots_[s];
  free_head_ = slot.hash_next;
  slot = Slot{};
  slot.key = k;
  slot.first_ns = slot.last_ns = now_ns;
  slot.bucket = bucket;
  slot.hash_next = buckets_[bucket];
  buckets_[bucket] = s;
  slot.older = newest_;
  if (newest_ != npos) {
    slots_[newest_].newer = s;
  } else {
    oldest_ = s;
  }
  newest_ = s;
  ++stats_.in_progress_datagrams;
  return s;
}

// Takes the datagram out of the table; its held fragments are added to `counter`.
void Reassembler::retire(std::uint32_t s, std::uint64_t& counter) noexcept {
  Slot& slot = slots_[s];
  std::uint32_t* link = &buckets_[slot.bucket];
  while (*link != s) link = &slots_[*link].hash_next;
  *link = slot.hash_next;
  if (slot.older != npos) {
    slots_[slot.older].newer = slot.newer;
  } else {
    oldest_ = slot.newer;
  }
  if (slot.newer != npos) {
    slots_[slot.newer].older = slot.older;
  } else {
    newest_ = slot.older;
  }
  // Only the words a fragment could have touched.
  std::fill_n(bitmap(s), (std::size_t{slot.max_end} + 511) / 512, std::uint64_t{0});
  counter += slot.fragments;
  stats_.in_progress_fragments -= slot.fragments;
  --stats_.in_progress_datagrams;
  slot.hash_next = free_head_;
  free_head_ = s;
}

FragmentResult Reassembler::drop_datagram(std::uint32_t s, std::uint64_t& counter) noexcept {
  retire(s, counter);
  ++counter;  // the fragment that gave it away
  return FragmentResult::dropped;
}

bool Reassembler::expired(const Slot& slot, std::uint64_t now_ns) const noexcept {
  return now_ns > slot.first_ns && now_ns - slot.first_ns > settings_.timeout_ns;
}

std::size_t Reassembler::expire(std::uint64_t now_ns) noexcept {
  std::size_t n = 0;
  while (oldest_ != npos && expired(slots_[oldest_], now_ns)) {
    retire(oldest_, stats_.timeout);
    ++n;
  }
  return n;
}

// Whether the piece overlaps bytes already held with different values. Callers have checked it ends
// within the datagram's known end, so a held block holds every byte of it the piece covers.
bool Reassembler::conflicts(std::uint32_t s, const Piece& p) const noexcept {
  const std::uint64_t* bits = bitmap(s);
  const std::uint8_t* held = buffer(s);
  const std::size_t b0 = p.offset / 8;
  const std::size_t b1 = (p.end + 7) / 8;
  for (std::size_t w = b0 / 64; w * 64 < b1; ++w) {
    std::uint64_t covered =
        bits[w] & bit_range(std::max(b0, w * 64) - w * 64, std::min(b1, w * 64 + 64) - w * 64);
    while (covered != 0) {
      const std::size_t from = (w * 64 + static_cast<std::size_t>(std::countr_zero(covered))) * 8;
      const std::size_t to = std::min(from + 8, p.end);
      if (std::memcmp(held + from, p.bytes + (from - p.offset), to - from) != 0) return true;
      covered &= covered - 1;
    }
  }
  return false;
}

void Reassembler::store(std::uint32_t s, const Piece& p) noexcept {
  Slot& slot = slots_[s];
  std::memcpy(buffer(s) + p.offset, p.bytes, p.end - p.offset);
  std::uint64_t* bits = bitmap(s);
  const std::size_t b0 = p.offset / 8;
  const std::size_t b1 = (p.end + 7) / 8;
  for (std::size_t w = b0 / 64; w * 64 < b1; ++w) {
    const std::uint64_t mask = bit_range(std::max(b0, w * 64) - w * 64, std::min(b1, w * 64 + 64) - w * 64);
    slot.covered_blocks += static_cast<std::uint32_t>(std::popcount(mask & ~bits[w]));
    bits[w] |= mask;
  }
  slot.max_end = std::max(slot.max_end, static_cast<std::uint32_t>(p.end));
  if (p.last) {
    slot.total = static_cast<std::uint32_t>(p.end);
    slot.has_total = true;
  }
  ++slot.fragments;
  ++stats_.in_progress_fragments;
}

void Reassembler::finish(std::uint32_t s, ReassembledDatagram& out) noexcept {
  const Slot& slot = slots_[s];
  out = ReassembledDatagram{};
  out.data = buffer(s);
  out.size = slot.total;
  out.proto = slot.key.proto;
  out.ip_version = slot.key.version;
  if (slot.key.version == 4) {
    out.src_addr = IpAddress::v4_bytes(&slot.key.src[12]);
    out.dst_addr = IpAddress::v4_bytes(&slot.key.dst[12]);
  } else {
    out.src_addr = IpAddress::v6_bytes(slot.key.src.data());
    out.dst_addr = IpAddress::v6_bytes(slot.key.dst.data());
    // Extension headers after the fragment header belong to the reassembled payload.
    for (int i = 0; i < max_ipv6_ext_headers && is_ipv6_extension(out.proto) &&
                    out.proto != ipv6_fragment_header && out.size >= 8;
         ++i) {
      const std::size_t len = ipv6_extension_length(out.proto, out.data);
      if (len > out.size) break;
      out.proto = out.data[0];
      out.data += len;
      out.size -= len;
    }
  }
  out.fragment_id = slot.key.id;
  out.fragments = slot.fragments;
  out.wire_bytes = slot.wire_bytes;
  out.first_ns = slot.first_ns;
  out.last_ns = slot.last_ns;
  ++stats_.reassembled;
  retire(s, stats_.fragments_reassembled);
}

FragmentResult Reassembler::add(const PacketInfo& info, const std::uint8_t* data, std::size_t size,
                                std::uint64_t now_ns, ReassembledDatagram& out,
                                std::uint64_t wire_len) noexcept {
  if (!info.is_fragment) return FragmentResult::not_fragment;
  ++stats_.fragments;
  expire(now_ns);

  const auto drop_one = [](std::uint64_t& counter) noexcept {
    ++counter;
    return FragmentResult::dropped;
  };
  if (info.malformed || (info.ip_version != 4 && info.ip_version != 6)) return drop_one(stats_.invalid);
  if (info.layer < PacketLayer::l3) return drop_one(info.truncated ? stats_.truncated : stats_.invalid);
  // ip_end is where the capture or the IP length ends, whichever is first: a fragment is whole only
  // if it is the IP length. (A first fragment may also say `truncated` when the upper-layer header
  // is split across fragments: that is no reason to drop it.)
  const std::size_t l3 = info.l3_offset;
  if (data == nullptr || info.ip_end > size || l3 > info.ip_end) return drop_one(stats_.invalid);
  if (info.ip_end - l3 < info.ip_length) return drop_one(stats_.truncated);

  Key key;
  key.src = info.src_addr.bytes;
  key.dst = info.dst_addr.bytes;
  key.id = info.fragment_id;
  key.version = info.ip_version;
  std::size_t start = 0;     // where the fragment's data starts in the frame
  std::size_t overhead = 0;  // header bytes the reassembled packet's length field also counts
  if (info.ip_version == 4) {
    start = info.l4_offset;
    if (start < l3 + 20 || start > info.ip_end) return drop_one(stats_.invalid);
    overhead = start - l3;
    key.proto = info.proto;
  } else {
    // A jumbogram (payload length 0) cannot be fragmented.
    if (info.ip_end - l3 < 40 || load_be16(data + l3 + 4) == 0) return drop_one(stats_.invalid);
    if (!find_ipv6_fragment(data, l3, info.ip_end, start, key.proto)) return drop_one(stats_.invalid);
    overhead = start - l3 - 40 - 8;  // the unfragmentable headers; the fragment header goes away
  }
  Piece piece;
  piece.bytes = data + start;
  piece.offset = info.fragment_offset;
  piece.end = piece.offset + (info.ip_end - start);
  piece.last = !info.more_fragments;
  const std::size_t len = piece.end - piece.offset;
  if (len == 0 || (!piece.last && len % 8 != 0) || piece.end + overhead > max_ip_payload)
    return drop_one(stats_.invalid);
  if (piece.end > slot_bytes_) return drop_one(stats_.too_big);

  const auto bucket = static_cast<std::uint32_t>(hash(key) & bucket_mask_);
  std::uint32_t s = find(bucket, key);
  // expire() stops at the first datagram not yet due; one behind it may be (capture times that went
  // backwards).
  if (s != npos && expired(slots_[s], now_ns)) {
    retire(s, stats_.timeout);
    s = npos;
  }
  if (s == npos) {
    if (free_head_ == npos) return drop_one(stats_.table_full);
    s = allocate(key, bucket, now_ns);
  }
  Slot& slot = slots_[s];
  if (piece.last ? (slot.has_total ? piece.end != slot.total : piece.end < slot.max_end)
                 : (slot.has_total && piece.end > slot.total)) {
    return drop_datagram(s, stats_.invalid);
  }
  if (conflicts(s, piece)) return drop_datagram(s, stats_.overlap);
  store(s, piece);
  slot.wire_bytes += wire_len != 0 ? wire_len : size;
  slot.last_ns = std::max(slot.last_ns, now_ns);
  if (!slot.has_total || slot.covered_blocks != (slot.total + 7) / 8) return FragmentResult::held;
  finish(s, out);
  return FragmentResult::complete;
}

}  // namespace flowpulse::decode
