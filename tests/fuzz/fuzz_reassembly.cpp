// libFuzzer target for IP fragment reassembly. The input is two settings bytes, then frames, each as
// [u16 big-endian length][u8 time step][Ethernet frame]; every frame goes through parse_ethernet and
// a small reassembler (1-4 slots, so the table-full and timeout paths run). After every frame the
// counters must balance, a reassembled view must be readable to its end and its UDP view must lie
// inside it; at the end, expiring everything must leave nothing in progress.
#include <cstddef>
#include <cstdint>
#include <limits>

#include "decode/packet.hpp"
#include "decode/reassembly.hpp"

using namespace flowpulse;

namespace {

void check(const decode::ReassembledDatagram& d, const decode::ReassemblySettings& s) {
  if (d.data == nullptr || d.size > s.max_datagram_bytes) __builtin_trap();
  if (d.ip_version != 4 && d.ip_version != 6) __builtin_trap();
  if (d.fragments == 0 || d.last_ns < d.first_ns) __builtin_trap();
  volatile std::uint8_t sink = 0;
  for (std::size_t i = 0; i < d.size; ++i) sink = sink ^ d.data[i];
  if (const auto udp = decode::udp_datagram(d)) {
    if (d.proto != decode::ip_proto_udp || udp->payload != d.data + 8 || udp->payload_len + 8 > d.size)
      __builtin_trap();
  }
}

}  // namespace

// NOLINTNEXTLINE(readability-identifier-naming): the name libFuzzer calls
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  decode::ReassemblySettings settings;
  settings.max_datagrams = 1 + (data[0] & 3);
  settings.max_datagram_bytes = (data[0] & 4) != 0 ? 65535 : 2048;
  settings.timeout_ns = (1 + static_cast<std::uint64_t>(data[1] & 15)) * 1000;
  decode::Reassembler r(settings);
  std::uint64_t now = std::uint64_t{1} << 40;
  std::uint64_t fragments = 0;
  std::size_t pos = 2;
  while (size - pos >= 3) {
    const std::size_t want = (static_cast<std::size_t>(data[pos]) << 8) | data[pos + 1];
    const std::uint8_t step = data[pos + 2];
    pos += 3;
    const std::size_t len = want < size - pos ? want : size - pos;
    const std::uint8_t* frame = data + pos;
    pos += len;
    // Steps of 100 ns forward, or (top nibble f) backward: capture times are not always monotonic.
    now = step < 0xf0 ? now + step * 100ULL : now - (step & 0x0f) * 100ULL;

    const decode::PacketInfo info = decode::parse_ethernet(frame, len);
    decode::ReassembledDatagram out;
    const decode::FragmentResult res = r.add(info, frame, len, now, out);
    if ((res == decode::FragmentResult::not_fragment) == info.is_fragment) __builtin_trap();
    if (info.is_fragment) ++fragments;
    if (res == decode::FragmentResult::complete) check(out, r.settings());
    const decode::ReassemblyStats& s = r.stats();
    if (!s.balanced() || s.fragments != fragments) __builtin_trap();
    if (s.in_progress_datagrams > settings.max_datagrams || s.in_progress_datagrams > s.in_progress_fragments)
      __builtin_trap();
  }
  r.expire(std::numeric_limits<std::uint64_t>::max());
  const decode::ReassemblyStats& s = r.stats();
  if (!s.balanced() || s.in_progress_datagrams != 0 || s.in_progress_fragments != 0) __builtin_trap();
  if (s.fragments != s.fragments_reassembled + s.dropped()) __builtin_trap();
  return 0;
}
