// flowgen: the load generator of the collector benchmark. It replays the UDP datagrams of a capture
// (pcap or pcapng, any UDP port) to a collector with sendmmsg, from N sender threads, at a given rate
// or as fast as it can, for a duration or a number of passes over the capture.
//
// What a collector sees is a clean stream on every pass, from every thread:
//   - the NetFlow v9 / IPFIX templates and options templates found anywhere in the capture are sent
//     first (rebuilt into template-only datagrams, first definition of each template id), at the
//     start of every pass;
//   - sequence numbers are rewritten per thread and per exporter stream: NetFlow v5/v7 flow_sequence
//     (flows sent before this datagram), NetFlow v9 sequence (datagrams sent before this one), IPFIX
//     sequence (data records sent before this message), sFlow v5 datagram sequence (1, 2, ...).
//     sFlow sample sequence numbers and export timestamps are left as captured.
//   - each thread has its own socket, so its own source port; for an IPv4 loopback destination
//     thread t also binds 127.0.0.(t+1), so each thread is a distinct exporter (address) to the
//     collector. Over IPv6 (::1) the threads differ by source port only.
// "records" counts the flow records the project's decoder gets out of each datagram (flow data
// records for NetFlow/IPFIX, flow samples for sFlow), i.e. what a collector should count as decoded.
// The last line on stdout is one JSON object with what was sent, for scripts.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench_args.hpp"
#include "core/ip_address.hpp"
#include "core/json.hpp"
#include "core/wire.hpp"
#include "decode/flow_decoder.hpp"
#include "io/pcap_file.hpp"

namespace flowpulse::bench {
namespace {

constexpr const char* usage =
    "usage: flowgen [OPTIONS] --port PORT CAPTURE\n"
    "\n"
    "Replays the UDP datagrams of CAPTURE (pcap or pcapng) to a flow collector with sendmmsg.\n"
    "NetFlow v9/IPFIX templates found in the capture are sent first on every pass, and sequence\n"
    "numbers (NetFlow v5/v9, IPFIX, sFlow datagram) are rewritten so each pass is a clean stream.\n"
    "The last line on stdout is a JSON object: datagrams, records, bytes, seconds, rates.\n"
    "\n"
    "  -a, --address ADDR    destination address (default 127.0.0.1; ::1 for IPv6)\n"
    "  -p, --port PORT       destination UDP port (required)\n"
    "  -t, --threads N       sender threads, each with its own socket (default 1). With an IPv4\n"
    "                        loopback destination thread i sends from 127.0.0.(i+1): one exporter each\n"
    "  -r, --rate R          datagrams per second over all threads; 0 = as fast as possible (default 0)\n"
    "  -d, --duration S      stop after S seconds (fractions allowed)\n"
    "  -l, --loops N         stop after N passes over the capture per thread\n"
    "                        (neither -d nor -l: one pass; both: whichever comes first)\n"
    "  -b, --batch N         datagrams per sendmmsg call, 1-1024 (default 32)\n"
    "      --capture-port P  replay only the datagrams sent to UDP port P in the capture\n"
    "  -n, --dry-run         read the capture, print the JSON line for one pass, send nothing\n"
    "  -q, --quiet           no summary on stderr, only the JSON line\n"
    "  -h, --help            this text\n";

struct Options {
  std::string capture;
  std::string address = "127.0.0.1";
  std::uint16_t port = 0;
  unsigned threads = 1;
  double rate = 0;
  double duration = 0;
  std::uint64_t loops = 0;
  std::uint32_t batch = 32;
  std::optional<std::uint16_t> capture_port;
  bool quiet = false;
  bool dry_run = false;
};

// How a datagram's sequence number is rewritten.
enum class SeqKind : std::uint8_t { none, netflow5, netflow9, ipfix, sflow5 };

struct Packet {
  std::size_t offset = 0;  // into Replay::bytes
  std::size_t size = 0;
  SeqKind kind = SeqKind::none;
  std::uint16_t seq_offset = 0;  // where the 32-bit sequence number sits in the datagram
  std::uint32_t stream = 0;      // exporter stream (sequence counter) index
  std::uint32_t seq_step = 0;    // how far this datagram advances its stream's counter
  std::uint32_t records = 0;     // flow records a collector decodes from it
};

struct Replay {
  std::vector<std::uint8_t> bytes;
  std::vector<Packet> packets;  // templates first, then the capture's datagrams
  std::size_t template_packets = 0;
  std::vector<SeqKind> stream_kinds;
  std::uint64_t records_per_pass = 0;
  std::uint64_t bytes_per_pass = 0;
  std::uint64_t decode_errors = 0;  // datagrams the decoder rejected (replayed anyway)
  std::uint64_t not_flow = 0;       // datagrams of no flow protocol (replayed anyway)
};

std::atomic<bool> stop_requested{false};

extern "C" void on_signal(int) { stop_requested.store(true, std::memory_order_relaxed); }

void store_be16(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}
void store_be32(std::uint8_t* p, std::uint32_t v) {
  const std::uint32_t be = __builtin_bswap32(v);
  std::memcpy(p, &be, 4);
}

// ---- Options --------------------------------------------------------------------------------------

// Parses argv; on error returns the message (an empty optional means fine).
std::optional<std::string> parse_options(int argc, char** argv, Options& o, bool& help) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    auto is = [&](const char* s, const char* l) { return a == s || a == l; };
    std::uint64_t u = 0;
    if (is("-h", "--help")) {
      help = true;
      return std::nullopt;
    } else if (is("-q", "--quiet")) {
      o.quiet = true;
    } else if (is("-n", "--dry-run")) {
      o.dry_run = true;
    } else if (is("-a", "--address")) {
      const char* v = value();
      if (v == nullptr) return "--address needs a value";
      o.address = v;
    } else if (is("-p", "--port")) {
      if (!bench::parse_u64(value(), u) || u == 0 || u > 65535)
        return "--port needs a number from 1 to 65535";
      o.port = static_cast<std::uint16_t>(u);
    } else if (is("-t", "--threads")) {
      if (!bench::parse_u64(value(), u) || u == 0 || u > 64) return "--threads needs a number from 1 to 64";
      o.threads = static_cast<unsigned>(u);
    } else if (is("-r", "--rate")) {
      if (!bench::parse_double(value(), o.rate)) return "--rate needs datagrams per second >= 0 (0 = max)";
    } else if (is("-d", "--duration")) {
      if (!bench::parse_double(value(), o.duration) || o.duration <= 0) return "--duration needs seconds > 0";
    } else if (is("-l", "--loops")) {
      if (!bench::parse_u64(value(), u) || u == 0) return "--loops needs a number >= 1";
      o.loops = u;
    } else if (is("-b", "--batch")) {
      if (!bench::parse_u64(value(), u) || u == 0 || u > 1024) return "--batch needs a number from 1 to 1024";
      o.batch = static_cast<std::uint32_t>(u);
    } else if (a == "--capture-port") {
      if (!bench::parse_u64(value(), u) || u == 0 || u > 65535)
        return "--capture-port needs a number from 1 to 65535";
      o.capture_port = static_cast<std::uint16_t>(u);
    } else if (!a.empty() && a[0] == '-') {
      return "unknown option '" + std::string(a) + "'";
    } else if (o.capture.empty()) {
      o.capture = std::string(a);
    } else {
      return "more than one capture file given ('" + o.capture + "', '" + std::string(a) + "')";
    }
  }
  if (o.capture.empty()) return "no capture file given";
  if (o.port == 0 && !o.dry_run) return "--port is required";
  if (o.duration == 0 && o.loops == 0) o.loops = 1;
  return std::nullopt;
}

// ---- Templates and records ------------------------------------------------------------------------

// A template's data record layout: a fixed length, or the field lengths with 65535 = variable (IPFIX).
struct Layout {
  std::vector<std::uint16_t> lengths;
  bool variable = false;
  std::size_t fixed = 0;  // sum of the fixed lengths (the minimum record length when variable)
};

struct TemplateRecord {
  bool options = false;
  std::vector<std::uint8_t> raw;  // the template record as it stood in its set
};

// One exporter stream of the capture: the capture's source address, the version and the
// source id / observation domain / sFlow agent and sub-agent / NetFlow v5 engine.
struct Stream {
  std::uint32_t index = 0;
  SeqKind kind = SeqKind::none;
  std::vector<std::uint8_t> header;                   // v9/IPFIX header of its first datagram
  std::map<std::uint16_t, TemplateRecord> templates;  // first definition of each id
  std::map<std::uint16_t, Layout> layouts;
  IpAddress exporter;
};

// Parses a NetFlow v9 (0, 1) or IPFIX (2, 3) template set, keeping first definitions.
void read_template_set(const std::uint8_t* p, std::size_t n, std::uint16_t set_id, bool ipfix, Stream& s) {
  core::WireReader rd(p, n);
  const bool options = set_id == 1 || set_id == 3;
  while (rd.remaining() >= 4) {
    const std::uint8_t* start = rd.data();
    const std::uint16_t id = rd.u16();
    Layout layout;
    std::size_t fields = 0;
    if (!ipfix && options) {
      const std::uint16_t scope_len = rd.u16();
      const std::uint16_t option_len = rd.u16();
      fields = (static_cast<std::size_t>(scope_len) + option_len) / 4;
    } else {
      fields = rd.u16();
      if (options) rd.u16();  // scope field count
    }
    if (!rd.ok() || id < 256) return;  // padding or malformed: the rest of the set is not templates
    for (std::size_t f = 0; f < fields; ++f) {
      const std::uint16_t type = rd.u16();
      const std::uint16_t len = rd.u16();
      if (ipfix && (type & 0x8000U) != 0) rd.u32();  // enterprise number
      if (!rd.ok()) return;
      layout.lengths.push_back(len);
      if (ipfix && len == 65535) {
        layout.variable = true;
      } else {
        layout.fixed += len;
      }
    }
    if (fields == 0) continue;  // IPFIX withdrawal
    if (s.templates.count(id) != 0) continue;
    s.templates[id] = {options, std::vector<std::uint8_t>(start, rd.data())};
    s.layouts[id] = std::move(layout);
  }
}

// Data records in one data set (0 if its template is unknown).
std::uint32_t count_data_records(const std::uint8_t* p, std::size_t n, const Layout* layout) {
  if (layout == nullptr) return 0;
  if (!layout->variable) return layout->fixed == 0 ? 0 : static_cast<std::uint32_t>(n / layout->fixed);
  core::WireReader rd(p, n);
  std::uint32_t records = 0;
  while (rd.remaining() >= std::max<std::size_t>(layout->fixed, 1)) {
    for (std::uint16_t len : layout->lengths) {
      std::size_t l = len;
      if (len == 65535) {
        l = rd.u8();
        if (l == 255) l = rd.u16();
      }
      rd.skip(l);
    }
    if (!rd.ok()) break;
    ++records;
  }
  return records;
}

// Walks a NetFlow v9 / IPFIX datagram's sets: templates into the stream; returns the data records
// (IPFIX sequence numbers count them).
std::uint32_t walk_sets(const std::uint8_t* d, std::size_t size, bool ipfix, Stream& s) {
  const std::size_t header = ipfix ? 16 : 20;
  if (ipfix) size = std::min<std::size_t>(size, core::load_be16(d + 2));
  std::size_t at = header;
  std::uint32_t data_records = 0;
  while (at + 4 <= size) {
    const std::uint16_t id = core::load_be16(d + at);
    const std::uint16_t len = core::load_be16(d + at + 2);
    if (len < 4 || at + len > size) break;
    const std::uint8_t* body = d + at + 4;
    const std::size_t body_n = len - 4U;
    if (ipfix ? (id == 2 || id == 3) : (id == 0 || id == 1)) {
      read_template_set(body, body_n, id, ipfix, s);
    } else if (id >= 256) {
      auto it = s.layouts.find(id);
      data_records += count_data_records(body, body_n, it == s.layouts.end() ? nullptr : &it->second);
    }
    at += len;
  }
  return data_records;
}

// Template-only datagrams for a stream: its header, then template and options template sets of at
// most ~1400 bytes each datagram.
std::vector<std::vector<std::uint8_t>> template_datagrams(const Stream& s) {
  const bool ipfix = s.kind == SeqKind::ipfix;
  std::vector<std::vector<std::uint8_t>> out;
  for (const bool options : {false, true}) {
    std::vector<std::uint8_t> dg;
    std::size_t set_at = 0;
    std::uint32_t count = 0;
    auto finish = [&] {
      if (dg.empty()) return;
      store_be16(&dg[set_at + 2], static_cast<std::uint32_t>(dg.size() - set_at));
      if (ipfix) {
        store_be16(&dg[2], static_cast<std::uint32_t>(dg.size()));
      } else {
        store_be16(&dg[2], count);
      }
      out.push_back(std::move(dg));
      dg.clear();
      count = 0;
    };
    for (const auto& [id, t] : s.templates) {
      if (t.options != options) continue;
      if (!dg.empty() && dg.size() + t.raw.size() > 1400) finish();
      if (dg.empty()) {
        dg = s.header;
        set_at = dg.size();
        const std::uint16_t set_id = ipfix ? (options ? 3 : 2) : (options ? 1 : 0);
        dg.push_back(static_cast<std::uint8_t>(set_id >> 8));
        dg.push_back(static_cast<std::uint8_t>(set_id));
        dg.push_back(0);
        dg.push_back(0);
      }
      dg.insert(dg.end(), t.raw.begin(), t.raw.end());
      ++count;
    }
    finish();
  }
  return out;
}

class CountingSink : public decode::RecordSink {
 public:
  void on_records(std::span<const FlowRecord> records) override { n += records.size(); }
  std::uint64_t n = 0;
};

std::string stream_key(const io::UdpDatagram& dg, const std::uint8_t* d, std::size_t size, SeqKind kind) {
  std::string k(reinterpret_cast<const char*>(dg.src_addr.bytes.data()), dg.src_addr.bytes.size());
  k.push_back(static_cast<char>(kind));
  switch (kind) {
    case SeqKind::netflow5:
      if (size >= 22) k.append(reinterpret_cast<const char*>(d + 20), 2);  // engine type, engine id
      break;
    case SeqKind::netflow9: k.append(reinterpret_cast<const char*>(d + 16), 4); break;
    case SeqKind::ipfix: k.append(reinterpret_cast<const char*>(d + 12), 4); break;
    case SeqKind::sflow5: {
      const std::size_t alen = core::load_be32(d + 4) == 2 ? 16 : 4;
      k.append(reinterpret_cast<const char*>(d + 8), alen + 4);  // agent address, sub-agent id
      break;
    }
    case SeqKind::none: break;
  }
  return k;
}

// Where a datagram's sequence number is, by its version; kind none if it has none we rewrite.
SeqKind sequence_kind(const std::uint8_t* d, std::size_t size, std::uint16_t& seq_offset) {
  const auto p = decode::detect_protocol(d, size);
  if (!p) return SeqKind::none;
  switch (*p) {
    case decode::Protocol::netflow5:
      if (core::load_be16(d) == 1 || size < 24) return SeqKind::none;  // v1 has no sequence
      seq_offset = 16;
      return SeqKind::netflow5;
    case decode::Protocol::netflow9:
      if (size < 20) return SeqKind::none;
      seq_offset = 12;
      return SeqKind::netflow9;
    case decode::Protocol::ipfix:
      if (size < 16) return SeqKind::none;
      seq_offset = 8;
      return SeqKind::ipfix;
    case decode::Protocol::sflow5: {
      if (size < 8) return SeqKind::none;
      const std::uint32_t type = core::load_be32(d + 4);
      if (type != 1 && type != 2) return SeqKind::none;
      const std::size_t at = 8 + (type == 2 ? 16U : 4U) + 4;  // agent address, sub-agent id
      if (size < at + 4) return SeqKind::none;
      seq_offset = static_cast<std::uint16_t>(at);
      return SeqKind::sflow5;
    }
  }
  return SeqKind::none;
}

core::Result<Replay> load_replay(const Options& o) {
  auto file = io::PcapFile::open(o.capture);
  if (!file) return core::Error{file.error()};
  io::PcapUdpReader reader(*file);

  struct Captured {
    std::vector<std::uint8_t> bytes;
    IpAddress exporter;
    SeqKind kind;
    std::uint16_t seq_offset;
    Stream* stream;
    std::uint32_t data_records;
  };
  std::vector<Captured> captured;
  std::map<std::string, Stream> streams;
  io::UdpDatagram dg;
  for (;;) {
    auto more = reader.next(dg);
    if (!more) return core::Error{more.error()};
    if (!*more) break;
    if (o.capture_port && dg.dst_port != *o.capture_port) continue;
    Captured c{std::vector<std::uint8_t>(dg.payload, dg.payload + dg.size),
               dg.src_addr,
               SeqKind::none,
               0,
               nullptr,
               0};
    c.kind = sequence_kind(dg.payload, dg.size, c.seq_offset);
    if (c.kind != SeqKind::none) {
      auto [it, fresh] = streams.try_emplace(stream_key(dg, dg.payload, dg.size, c.kind));
      Stream& s = it->second;
      if (fresh) {
        s.index = static_cast<std::uint32_t>(streams.size() - 1);
        s.kind = c.kind;
        s.exporter = dg.src_addr;
        if (c.kind == SeqKind::netflow9) s.header.assign(dg.payload, dg.payload + 20);
        if (c.kind == SeqKind::ipfix) s.header.assign(dg.payload, dg.payload + 16);
      }
      c.stream = &s;
      if (c.kind == SeqKind::netflow9 || c.kind == SeqKind::ipfix) {
        c.data_records = walk_sets(dg.payload, dg.size, c.kind == SeqKind::ipfix, s);
      }
    }
    captured.push_back(std::move(c));
  }
  if (captured.empty()) {
    const auto& st = reader.stats();
    return core::Error{o.capture + ": no UDP datagrams to replay" +
                       (o.capture_port ? " to port " + std::to_string(*o.capture_port) : std::string()) +
                       " (" + std::to_string(st.frames) + " frames: " + std::to_string(st.udp_datagrams) +
                       " UDP, " + std::to_string(st.not_udp) + " not UDP, " + std::to_string(st.fragments) +
                       " fragments, " + std::to_string(st.truncated) + " truncated)"};
  }

  Replay r;
  r.stream_kinds.resize(streams.size());
  decode::FlowDecoder decoder;
  CountingSink sink;
  auto add = [&](const std::vector<std::uint8_t>& bytes, const IpAddress& exporter, SeqKind kind,
                 std::uint16_t seq_offset, std::uint32_t stream, std::uint32_t seq_step) {
    Packet p;
    p.offset = r.bytes.size();
    p.size = bytes.size();
    p.kind = kind;
    p.seq_offset = seq_offset;
    p.stream = stream;
    p.seq_step = seq_step;
    decode::Datagram d;
    d.data = bytes.data();
    d.size = bytes.size();
    d.exporter = exporter;
    d.time_received_ns = 1;
    const std::uint64_t before = sink.n;
    {
      decode::RecordWriter w(sink);
      const auto p_kind = decode::detect_protocol(d.data, d.size);
      if (!p_kind) {
        ++r.not_flow;
      } else if (decoder.decode(d, w)) {
        ++r.decode_errors;
      }
    }
    p.records = static_cast<std::uint32_t>(sink.n - before);
    r.bytes.insert(r.bytes.end(), bytes.begin(), bytes.end());
    r.packets.push_back(p);
  };
  for (const auto& [key, s] : streams) {
    r.stream_kinds[s.index] = s.kind;
    if (s.kind != SeqKind::netflow9 && s.kind != SeqKind::ipfix) continue;
    for (const auto& t : template_datagrams(s)) {
      add(t, s.exporter, s.kind, s.kind == SeqKind::ipfix ? 8 : 12, s.index,
          s.kind == SeqKind::ipfix ? 0 : 1);
    }
  }
  r.template_packets = r.packets.size();
  r.not_flow = 0;
  r.decode_errors = 0;
  for (const auto& c : captured) {
    std::uint32_t step = 0;
    switch (c.kind) {
      case SeqKind::netflow5: step = core::load_be16(c.bytes.data() + 2); break;
      case SeqKind::netflow9: step = 1; break;
      case SeqKind::ipfix: step = c.data_records; break;
      case SeqKind::sflow5: step = 1; break;
      case SeqKind::none: break;
    }
    add(c.bytes, c.exporter, c.kind, c.seq_offset, c.stream != nullptr ? c.stream->index : 0, step);
  }
  for (std::size_t i = r.template_packets; i < r.packets.size(); ++i) {
    r.records_per_pass += r.packets[i].records;
    r.bytes_per_pass += r.packets[i].size;
  }
  return r;
}

// ---- Sending --------------------------------------------------------------------------------------

struct Destination {
  sockaddr_storage addr{};
  socklen_t len = 0;
  bool ipv4_loopback = false;
};

std::optional<Destination> parse_destination(std::string text, std::uint16_t port) {
  if (text.size() > 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
  Destination d;
  auto* a4 = reinterpret_cast<sockaddr_in*>(&d.addr);
  auto* a6 = reinterpret_cast<sockaddr_in6*>(&d.addr);
  if (inet_pton(AF_INET, text.c_str(), &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons(port);
    d.len = sizeof(sockaddr_in);
    d.ipv4_loopback = (ntohl(a4->sin_addr.s_addr) >> 24) == 127;
    return d;
  }
  if (inet_pton(AF_INET6, text.c_str(), &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(port);
    d.len = sizeof(sockaddr_in6);
    return d;
  }
  return std::nullopt;
}

struct ThreadResult {
  std::uint64_t datagrams = 0;
  std::uint64_t template_datagrams = 0;
  std::uint64_t records = 0;
  std::uint64_t bytes = 0;
  std::uint64_t passes = 0;   // complete passes over the capture
  std::uint64_t refused = 0;  // sends that reported ECONNREFUSED (nothing listening)
  std::string error;
};

std::uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<std::uint64_t>(ts.tv_nsec);
}

void sleep_until(std::uint64_t t) {
  timespec ts{static_cast<time_t>(t / 1'000'000'000ULL), static_cast<long>(t % 1'000'000'000ULL)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
    if (stop_requested.load(std::memory_order_relaxed)) return;
  }
}

void send_thread(const Replay& replay, const Options& o, const Destination& dest, unsigned index,
                 std::uint64_t start_ns, ThreadResult& res) {
  // Each thread rewrites sequence numbers in its own copy.
  std::vector<std::uint8_t> buf = replay.bytes;
  const std::size_t n = replay.packets.size();
  std::vector<iovec> iov(n);
  std::vector<mmsghdr> msgs(n);
  for (std::size_t i = 0; i < n; ++i) {
    iov[i] = {buf.data() + replay.packets[i].offset, replay.packets[i].size};
    msgs[i].msg_hdr = msghdr{};
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }

  const int family = dest.addr.ss_family;
  const int fd = ::socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    res.error = std::string("socket: ") + std::strerror(errno);
    return;
  }
  const int sndbuf = 4 << 20;
  ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  if (dest.ipv4_loopback) {
    sockaddr_in src{};
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = htonl(0x7f000001U + index);
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&src), sizeof src) != 0) {
      res.error = "bind 127.0.0." + std::to_string(index + 1) + ": " + std::strerror(errno);
      ::close(fd);
      return;
    }
  }
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&dest.addr), dest.len) != 0) {
    res.error = std::string("connect: ") + std::strerror(errno);
    ::close(fd);
    return;
  }

  std::vector<std::uint64_t> seq(replay.stream_kinds.size());
  for (std::size_t s = 0; s < seq.size(); ++s) seq[s] = replay.stream_kinds[s] == SeqKind::sflow5 ? 1 : 0;

  const double rate = o.rate / o.threads;  // per thread
  // Bursts of at most ~1 ms of traffic, so a low rate is not sent in clumps.
  std::size_t batch = o.batch;
  if (rate > 0) batch = std::clamp<std::size_t>(static_cast<std::size_t>(rate / 1000), 1, o.batch);
  const std::uint64_t end_ns =
      o.duration > 0 ? start_ns + static_cast<std::uint64_t>(o.duration * 1e9) : UINT64_MAX;

  bool done = false;
  std::uint64_t sent = 0;  // datagrams, for pacing
  while (!done && (o.loops == 0 || res.passes < o.loops)) {
    for (std::size_t i = 0; i < n && !done;) {
      const std::size_t k = std::min(batch, n - i);
      for (std::size_t j = i; j < i + k; ++j) {
        const Packet& p = replay.packets[j];
        if (p.kind == SeqKind::none) continue;
        store_be32(buf.data() + p.offset + p.seq_offset, static_cast<std::uint32_t>(seq[p.stream]));
        seq[p.stream] += p.seq_step;
      }
      if (rate > 0) {
        const std::uint64_t due =
            start_ns + static_cast<std::uint64_t>(static_cast<double>(sent) * 1e9 / rate);
        if (now_ns() < due) sleep_until(due);
      }
      std::size_t off = 0;
      while (off < k) {
        const int r = ::sendmmsg(fd, msgs.data() + i + off, static_cast<unsigned>(k - off), 0);
        if (r < 0) {
          if (errno == EINTR) {
            if (stop_requested.load(std::memory_order_relaxed)) break;
            continue;
          }
          if (errno == ECONNREFUSED) {  // an ICMP error of an earlier datagram; this one was not sent
            ++res.refused;
            continue;
          }
          if (errno == ENOBUFS) {  // the device queue is full for a moment: not a reason to stop
            std::this_thread::yield();
            continue;
          }
          res.error = std::string("sendmmsg: ") + std::strerror(errno);
          done = true;
          break;
        }
        for (std::size_t j = i + off; j < i + off + static_cast<std::size_t>(r); ++j) {
          const Packet& p = replay.packets[j];
          ++res.datagrams;
          if (j < replay.template_packets) ++res.template_datagrams;
          res.records += p.records;
          res.bytes += p.size;
        }
        off += static_cast<std::size_t>(r);
      }
      sent += off;
      i += off;
      if (off < k || stop_requested.load(std::memory_order_relaxed) || now_ns() >= end_ns) done = true;
    }
    if (!done) ++res.passes;
  }
  ::close(fd);
}

std::string fmt_double(double v) {
  char b[64];
  std::snprintf(b, sizeof b, "%.3f", v);
  return b;
}

int run(int argc, char** argv) {
  Options o;
  bool help = false;
  if (auto err = parse_options(argc, argv, o, help)) {
    std::fprintf(stderr, "flowgen: %s; see 'flowgen --help'\n", err->c_str());
    return 2;
  }
  if (help) {
    std::fputs(usage, stdout);
    return 0;
  }
  const auto dest = parse_destination(o.address, o.port);
  if (!dest) {
    std::fprintf(stderr, "flowgen: --address '%s' is not an IPv4 or IPv6 address\n", o.address.c_str());
    return 2;
  }
  auto replay = load_replay(o);
  if (!replay) {
    std::fprintf(stderr, "flowgen: %s\n", replay.error().c_str());
    return 1;
  }
  const Replay& r = *replay;
  if (!o.quiet) {
    std::fprintf(stderr,
                 "flowgen: %s: %zu datagrams, %llu flow records per pass, %zu template datagrams, %zu "
                 "exporter streams%s\n",
                 o.capture.c_str(), r.packets.size() - r.template_packets,
                 static_cast<unsigned long long>(r.records_per_pass), r.template_packets,
                 r.stream_kinds.size(),
                 r.decode_errors + r.not_flow != 0
                     ? (" (" + std::to_string(r.decode_errors) + " with decode errors, " +
                        std::to_string(r.not_flow) + " not flow exports: replayed as they are)")
                           .c_str()
                     : "");
  }

  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  std::vector<ThreadResult> results(o.threads);
  const std::uint64_t start = now_ns();
  if (o.dry_run) {
    results.assign(1, ThreadResult{});
    for (std::size_t i = 0; i < r.packets.size(); ++i) {
      ++results[0].datagrams;
      if (i < r.template_packets) ++results[0].template_datagrams;
      results[0].records += r.packets[i].records;
      results[0].bytes += r.packets[i].size;
    }
    results[0].passes = 1;
  } else {
    std::vector<std::jthread> threads;
    for (unsigned t = 0; t < o.threads; ++t) {
      threads.emplace_back([&, t] { send_thread(r, o, *dest, t, start, results[t]); });
    }
  }
  const double seconds = o.dry_run ? 0 : static_cast<double>(now_ns() - start) / 1e9;

  ThreadResult total;
  std::string errors;
  for (const auto& t : results) {
    total.datagrams += t.datagrams;
    total.template_datagrams += t.template_datagrams;
    total.records += t.records;
    total.bytes += t.bytes;
    total.passes += t.passes;
    total.refused += t.refused;
    if (!t.error.empty() && errors.find(t.error) == std::string::npos)
      errors += (errors.empty() ? "" : "; ") + t.error;
  }
  const double dps = seconds > 0 ? static_cast<double>(total.datagrams) / seconds : 0;
  const double rps = seconds > 0 ? static_cast<double>(total.records) / seconds : 0;
  if (!o.quiet && !o.dry_run) {
    std::fprintf(stderr,
                 "flowgen: sent %llu datagrams (%llu templates), %llu records in %.3f s: %.0f datagrams/s, "
                 "%.0f records/s\n",
                 static_cast<unsigned long long>(total.datagrams),
                 static_cast<unsigned long long>(total.template_datagrams),
                 static_cast<unsigned long long>(total.records), seconds, dps, rps);
    if (total.refused != 0) {
      std::fprintf(stderr, "flowgen: %llu sends refused: is a collector listening on %s port %u?\n",
                   static_cast<unsigned long long>(total.refused), o.address.c_str(), o.port);
    }
  }
  std::string j = "{\"capture\":";
  core::append_json_string(j, o.capture);
  j += ",\"address\":";
  core::append_json_string(j, o.address);
  j += ",\"port\":" + std::to_string(o.port);
  j += ",\"threads\":" + std::to_string(o.threads);
  j += ",\"rate\":" + fmt_double(o.rate);
  j += ",\"datagrams\":" + std::to_string(total.datagrams);
  j += ",\"template_datagrams\":" + std::to_string(total.template_datagrams);
  j += ",\"records\":" + std::to_string(total.records);
  j += ",\"bytes\":" + std::to_string(total.bytes);
  j += ",\"passes\":" + std::to_string(total.passes);
  j += ",\"refused\":" + std::to_string(total.refused);
  j += ",\"seconds\":" + fmt_double(seconds);
  j += ",\"datagrams_per_second\":" + fmt_double(dps);
  j += ",\"records_per_second\":" + fmt_double(rps);
  j += ",\"capture_datagrams\":" + std::to_string(r.packets.size() - r.template_packets);
  j += ",\"capture_records\":" + std::to_string(r.records_per_pass);
  j += ",\"error\":";
  core::append_json_string(j, errors);
  j += "}";
  std::printf("%s\n", j.c_str());
  if (!errors.empty()) {
    std::fprintf(stderr, "flowgen: %s\n", errors.c_str());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace flowpulse::bench

int main(int argc, char** argv) { return flowpulse::bench::run(argc, argv); }
