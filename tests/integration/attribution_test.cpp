// Process attribution (issue 7) through the SDK (flowpulse::Engine) and `flowpulse top`, against
// real processes: each end of a conversation is a traffic_peer (tests/support/traffic_peer.cpp) of its
// own, which says its pid, every 5-tuple it used and the application bytes it moved on each.
//
// What is checked, per peer process:
// - It is in Engine::process_rank(0, 0) under its pid, named "traffic_peer", with its exe and user.
// - The bytes and packets charged to it, in and out, equal within 1% what an independent decoder finds:
//   the engine also writes every frame it captured to a pcap (Options::pcap_store); tshark reads that
//   file, and the frame bytes (frame.len, the level process.hpp reports) of the peer's 5-tuples are
//   summed, out where its local end is the source, in where it is the destination.
// - The capture lost nothing: the TCP/UDP payload of those 5-tuples in the pcap (the sequence space the
//   TCP segments cover, udp.length - 8) equals the application bytes the peer says it sent and received.
// Cases: TCP over loopback (IPv4, IPv6); TCP over a veth into a test namespace, whose server process
// must be named too; UDP with a connected and an unconnected client (IPv4, IPv6); 1000 short TCP
// connections (each under 50 ms) of which none may end in unknown(); and `flowpulse top --once --json`
// agreeing with the SDK's rank over the same traffic.
//
// Needs root (capture, netns, other processes' sockets) and tshark: skipped without them, failed under
// CI=true.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <vector>

#include "flowpulse/engine.hpp"
#include "flowpulse/process.hpp"
#include "netns_rig.hpp"
#include "test_support.hpp"

namespace flowpulse {
namespace {

using test::NetnsRig;
using test::Process;
using test::TempDir;
using Clock = std::chrono::steady_clock;

#define REQUIRE_ROOT()                                                                                 \
  if (geteuid() != 0) {                                                                                \
    if (test::in_ci()) FAIL() << "attribution tests need root (capture, netns, other processes' fds)"; \
    GTEST_SKIP() << "attribution tests need root (capture, netns, other processes' fds)";              \
  }

// ---------------------------------------------------------------------------------------------
// A small JSON reader: for traffic_peer's lines and `flowpulse top --json`.

class Json {
 public:
  enum class Kind { null, boolean, number, string, array, object };
  Kind kind = Kind::null;
  bool boolean = false;
  std::string text;  // a string's value, or a number's literal
  std::vector<Json> items;
  std::vector<std::string> keys;  // an object's member names, and their values in `values`
  std::vector<Json> values;

  // The member `key`, or null when this is not an object or has no such member.
  const Json& operator[](const std::string& key) const {
    static const Json null;
    for (std::size_t i = 0; i < keys.size(); ++i) {
      if (keys[i] == key) return values[i];
    }
    return null;
  }
  bool has(const std::string& key) const { return std::find(keys.begin(), keys.end(), key) != keys.end(); }
  std::uint64_t u64() const { return kind == Kind::number ? std::strtoull(text.c_str(), nullptr, 10) : 0; }
  std::int64_t i64() const { return kind == Kind::number ? std::strtoll(text.c_str(), nullptr, 10) : 0; }
  double number() const { return kind == Kind::number ? std::strtod(text.c_str(), nullptr) : 0; }
  const std::string& str() const { return text; }
};

class JsonParser {
 public:
  explicit JsonParser(std::string_view s) : s_(s) {}

  std::optional<Json> parse(std::string* error) {
    Json v;
    if (!value(v, 0) || (skip_space(), i_ != s_.size())) {
      if (error)
        *error = "invalid JSON at offset " + std::to_string(i_) + ": " + std::string(s_.substr(i_, 40));
      return std::nullopt;
    }
    return v;
  }

 private:
  void skip_space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  bool eat(char c) {
    skip_space();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  bool literal(std::string_view word) {
    if (s_.substr(i_, word.size()) != word) return false;
    i_ += word.size();
    return true;
  }
  bool string(std::string& out) {
    if (!eat('"')) return false;
    while (i_ < s_.size() && s_[i_] != '"') {
      char c = s_[i_++];
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i_ >= s_.size()) return false;
      c = s_[i_++];
      switch (c) {
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'u': {
          if (i_ + 4 > s_.size()) return false;
          const unsigned cp = static_cast<unsigned>(std::stoul(std::string(s_.substr(i_, 4)), nullptr, 16));
          i_ += 4;
          if (cp < 0x80) {
            out += static_cast<char>(cp);
          } else if (cp < 0x800) {
            out += static_cast<char>(0xC0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3F));
          } else {
            out += static_cast<char>(0xE0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
          }
          break;
        }
        default: out += c;  // \" \\ \/
      }
    }
    return i_++ < s_.size();
  }
  bool value(Json& v, int depth) {
    if (depth > 32) return false;
    skip_space();
    if (i_ >= s_.size()) return false;
    const char c = s_[i_];
    if (c == '{') {
      ++i_;
      v.kind = Json::Kind::object;
      if (eat('}')) return true;
      do {
        std::string key;
        Json member;
        if (!string(key) || !eat(':') || !value(member, depth + 1)) return false;
        v.keys.push_back(std::move(key));
        v.values.push_back(std::move(member));
      } while (eat(','));
      return eat('}');
    }
    if (c == '[') {
      ++i_;
      v.kind = Json::Kind::array;
      if (eat(']')) return true;
      do {
        Json item;
        if (!value(item, depth + 1)) return false;
        v.items.push_back(std::move(item));
      } while (eat(','));
      return eat(']');
    }
    if (c == '"') {
      v.kind = Json::Kind::string;
      return string(v.text);
    }
    if (literal("true") || literal("false")) {
      v.kind = Json::Kind::boolean;
      v.boolean = s_[i_ - 1] == 'e' && s_[i_ - 2] == 'u';
      return true;
    }
    if (literal("null")) return true;
    const std::size_t start = i_;
    while (i_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[i_])) || s_[i_] == '-' ||
                              s_[i_] == '+' || s_[i_] == '.' || s_[i_] == 'e' || s_[i_] == 'E')) {
      ++i_;
    }
    if (i_ == start) return false;
    v.kind = Json::Kind::number;
    v.text = std::string(s_.substr(start, i_ - start));
    return true;
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

std::optional<Json> parse_json(std::string_view text, std::string* error = nullptr) {
  return JsonParser(text).parse(error);
}

// ---------------------------------------------------------------------------------------------
// 5-tuples, as traffic_peer reports them and as tshark decodes the pcap.

// An address as inet_ntop writes it, so both sources compare equal ("::1", "fd99:0:0:101::2").
std::string canonical(const std::string& addr) {
  in6_addr a6{};
  in_addr a4{};
  char buf[INET6_ADDRSTRLEN] = {};
  if (inet_pton(AF_INET, addr.c_str(), &a4) == 1) return inet_ntop(AF_INET, &a4, buf, sizeof buf);
  if (inet_pton(AF_INET6, addr.c_str(), &a6) == 1) return inet_ntop(AF_INET6, &a6, buf, sizeof buf);
  return addr;
}

struct Tuple {
  int proto = 0;
  std::string src, dst;
  std::uint16_t sport = 0, dport = 0;
  bool operator<(const Tuple& o) const {
    return std::tie(proto, src, dst, sport, dport) < std::tie(o.proto, o.src, o.dst, o.sport, o.dport);
  }
  Tuple reversed() const { return {proto, dst, src, dport, sport}; }
};

std::string describe(const Tuple& t) {
  return std::to_string(t.proto) + " " + t.src + ":" + std::to_string(t.sport) + " -> " + t.dst + ":" +
         std::to_string(t.dport);
}

// What the pcap holds for one direction of a 5-tuple.
struct FrameTotals {
  // The frames that were on the link, each once: frame.len (the level process attribution reports) and
  // how many. A TCP retransmission is a frame of its own; a frame the capture holds twice is not.
  std::uint64_t bytes = 0;
  std::uint64_t packets = 0;
  // Application bytes, each once: for TCP the sequence space the segments cover (tcp.seq, tcp.len:
  // a byte sent again counts once, and frames the capture saw out of order, as it may on lo when
  // the two directions are handled on different cores, count like the others), for UDP
  // udp.length - 8.
  std::uint64_t payload = 0;
  std::uint64_t retransmitted = 0;    // TCP bytes whose sequence numbers had been seen already
  std::uint64_t duplicates = 0;       // frames the capture holds twice (see decode_with_tshark)
  std::uint64_t duplicate_bytes = 0;  // their frame.len, not in `bytes`
  std::uint64_t duplicate_packets = 0;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> segments;  // TCP: [seq, seq + len), relative
  FrameTotals& operator+=(const FrameTotals& o) {
    bytes += o.bytes;
    packets += o.packets;
    payload += o.payload;
    retransmitted += o.retransmitted;
    duplicates += o.duplicates;
    duplicate_bytes += o.duplicate_bytes;
    duplicate_packets += o.duplicate_packets;
    segments.insert(segments.end(), o.segments.begin(), o.segments.end());
    return *this;
  }
};
using Frames = std::map<Tuple, FrameTotals>;

std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const auto tab = line.find('\t', start);
    out.push_back(line.substr(start, tab == std::string::npos ? std::string::npos : tab - start));
    if (tab == std::string::npos) return out;
    start = tab + 1;
  }
}

// The fields asked of tshark, in this order (the first occurrence of each: the outer header).
enum Field {
  frame_len,
  ip_src,
  ipv6_src,
  tcp_srcport,
  udp_srcport,
  ip_dst,
  ipv6_dst,
  tcp_dstport,
  udp_dstport,
  tcp_len,
  udp_length,
  icmp_type,
  icmpv6_type,
  tcp_relative_seq,
  // With the 5-tuple, what tells one TCP segment from another: a retransmission differs at least in
  // its IPv4 ID or its timestamp option; two copies of one frame (a capture that keeps both the
  // outgoing and the looped-back copy on lo, say) differ in nothing.
  tcp_seq,
  tcp_ack,
  tcp_flags,
  tcp_window,
  tcp_tsval,
  tcp_sack_le,
  ip_id,
  field_count
};
constexpr const char* tshark_fields[field_count] = {"frame.len",
                                                    "ip.src",
                                                    "ipv6.src",
                                                    "tcp.srcport",
                                                    "udp.srcport",
                                                    "ip.dst",
                                                    "ipv6.dst",
                                                    "tcp.dstport",
                                                    "udp.dstport",
                                                    "tcp.len",
                                                    "udp.length",
                                                    "icmp.type",
                                                    "icmpv6.type",
                                                    "tcp.seq",
                                                    "tcp.seq_raw",
                                                    "tcp.ack_raw",
                                                    "tcp.flags",
                                                    "tcp.window_size_value",
                                                    "tcp.options.timestamp.tsval",
                                                    "tcp.options.sack_le",
                                                    "ip.id"};

// Every TCP and UDP frame of `pcap`, summed per directed 5-tuple, as tshark decodes them. ICMP errors
// (which quote an inner header) are left out. A TCP frame identical in every header field to an
// earlier one is counted as a duplicate only. (UDP has no such identity: there the payload check,
// which is exact for UDP, finds frames held twice.)
Frames decode_with_tshark(const std::string& tshark, const std::filesystem::path& pcap, std::string* error) {
  std::vector<std::string> argv = {tshark, "-n", "-r", pcap.string(), "-T", "fields", "-E", "occurrence=f"};
  for (const char* f : tshark_fields) {
    argv.push_back("-e");
    argv.push_back(f);
  }
  const auto r = test::run(argv, 120'000);
  Frames frames;
  if (r.code != 0) {
    *error = "tshark -r " + pcap.string() + " exited " + std::to_string(r.code) + ": " + r.err;
    return frames;
  }
  std::set<std::string> segments;  // the TCP segments seen: their header fields
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) {
    const auto f = split_tabs(line);
    if (f.size() != field_count || !f[icmp_type].empty() || !f[icmpv6_type].empty()) continue;
    const bool tcp = !f[tcp_srcport].empty();
    const bool udp = !tcp && !f[udp_srcport].empty();
    if (!tcp && !udp) continue;
    Tuple t;
    t.proto = tcp ? 6 : 17;
    t.src = canonical(f[ip_src].empty() ? f[ipv6_src] : f[ip_src]);
    t.dst = canonical(f[ip_dst].empty() ? f[ipv6_dst] : f[ip_dst]);
    t.sport = static_cast<std::uint16_t>(std::stoul(tcp ? f[tcp_srcport] : f[udp_srcport]));
    t.dport = static_cast<std::uint16_t>(std::stoul(tcp ? f[tcp_dstport] : f[udp_dstport]));
    FrameTotals& total = frames[t];
    if (tcp) {
      std::string segment = describe(t);
      for (int i = tcp_len; i < field_count; ++i) {
        if (i != tcp_relative_seq) segment += "|" + f[static_cast<std::size_t>(i)];
      }
      if (!segments.insert(segment).second) {
        ++total.duplicates;
        total.duplicate_bytes += std::stoull(f[frame_len]);
        ++total.duplicate_packets;
        continue;
      }
    }
    total.bytes += std::stoull(f[frame_len]);
    total.packets += 1;
    if (tcp && !f[tcp_len].empty() && !f[tcp_relative_seq].empty()) {
      const std::uint64_t len = std::stoull(f[tcp_len]), seq = std::stoull(f[tcp_relative_seq]);
      if (len != 0) total.segments.emplace_back(seq, seq + len);
    }
    if (udp && !f[udp_length].empty()) total.payload += std::stoull(f[udp_length]) - 8;
  }
  // TCP payload: the union of the sequence ranges; what they cover more than once was sent again.
  for (auto& [tuple, total] : frames) {
    auto& r = total.segments;
    std::sort(r.begin(), r.end());
    std::uint64_t covered = 0, end = 0, sum = 0;
    for (const auto& [from, to] : r) {
      sum += to - from;
      if (to <= end) continue;
      covered += to - std::max(from, end);
      end = to;
    }
    total.payload += covered;
    total.retransmitted += sum - covered;
  }
  return frames;
}

// ---------------------------------------------------------------------------------------------
// traffic_peer processes.

std::string peer_binary() {
  if (const char* e = std::getenv("FLOWPULSE_TRAFFIC_PEER")) return e;
  return (test::build_root() / "tests" / "support" / "traffic_peer").string();
}

// What a peer says it did (its stdout): every 5-tuple with its local end first, and its totals.
struct PeerFlow {
  Tuple tuple;  // src = the peer's local end
  std::uint64_t sent = 0, received = 0;
  std::int64_t duration_us = 0;
  std::uint64_t retransmits = 0;  // TCP segments its socket sent again
};
struct PeerReport {
  int pid = 0;
  std::vector<PeerFlow> flows;
  bool complete = false;  // its "total" line came
  std::uint64_t sent = 0, received = 0;
  std::int64_t max_duration_us = 0;
};

class Peer {
 public:
  // Starts traffic_peer with `args`; inside namespace `netns` (by `ip netns exec`, which execs, so the
  // pid stays the peer's) when given.
  Peer(const TempDir& dir, std::string name, const std::vector<std::string>& args,
       const std::string& netns = "")
      : name_(std::move(name)) {
    std::vector<std::string> argv;
    if (!netns.empty()) argv = {"ip", "netns", "exec", netns};
    argv.push_back(peer_binary());
    argv.insert(argv.end(), args.begin(), args.end());
    process_ = std::make_unique<Process>(argv, dir.path(), name_);
  }

  const std::string& name() const { return name_; }

  std::vector<Json> lines() const {
    std::vector<Json> out;
    std::istringstream in(process_->out());
    for (std::string line; std::getline(in, line);) {
      if (auto j = parse_json(line)) out.push_back(std::move(*j));
    }
    return out;
  }

  std::optional<Json> event(const std::string& name) const {
    for (auto& l : lines()) {
      if (l["event"].str() == name) return l;
    }
    return std::nullopt;
  }

  // Waits for a line with this event; false when the peer failed, exited without it, or timed out.
  bool wait_event(const std::string& name, int timeout_ms) {
    const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      if (event(name)) return true;
      if (event("error") || !process_->running()) return event(name).has_value();
      if (Clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  std::uint16_t port() const {
    const auto l = event("listening");
    return l ? static_cast<std::uint16_t>((*l)["port"].u64()) : 0;
  }

  PeerReport report() const {
    PeerReport r;
    for (const auto& l : lines()) {
      if (r.pid == 0) r.pid = static_cast<int>(l["pid"].i64());
      const std::string& ev = l["event"].str();
      if (ev == "flow") {
        PeerFlow f;
        f.tuple = {static_cast<int>(l["proto"].u64()), canonical(l["local_addr"].str()),
                   canonical(l["remote_addr"].str()), static_cast<std::uint16_t>(l["local_port"].u64()),
                   static_cast<std::uint16_t>(l["remote_port"].u64())};
        f.sent = l["sent"].u64();
        f.received = l["received"].u64();
        f.duration_us = l["duration_us"].i64();
        f.retransmits = l["retransmits"].u64();
        r.flows.push_back(f);
      } else if (ev == "total") {
        r.complete = true;
        r.sent = l["sent"].u64();
        r.received = l["received"].u64();
        r.max_duration_us = l["max_duration_us"].i64();
      }
    }
    return r;
  }

  // For failure messages.
  std::string output() const {
    return name_ + " stdout (tail):\n" + tail(process_->out()) + name_ + " stderr:\n" + tail(process_->err());
  }

 private:
  static std::string tail(const std::string& s) {
    return s.size() > 2000 ? "..." + s.substr(s.size() - 2000) : s;
  }

  std::string name_;
  std::unique_ptr<Process> process_;  // its destructor kills the peer (SIGKILL, by its pid) if it lingers
};

// "ADDR:PORT" as traffic_peer reads it.
std::string endpoint(const std::string& addr, std::uint16_t port) {
  return (addr.find(':') != std::string::npos ? "[" + addr + "]" : addr) + ":" + std::to_string(port);
}

// Peers stay alive after their traffic (their process must still be there when the rank is read);
// each test ends them when its objects go.
const std::vector<std::string> linger = {"--linger-ms", "120000"};

std::vector<std::string> operator+(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// ---------------------------------------------------------------------------------------------
// What the engine charged.

struct Charged {
  std::vector<ProcessTraffic> rank;
  std::vector<UnknownTraffic> unknown;
  std::uint64_t drops = 0;
  std::uint64_t frames = 0;
};

// Called once the traffic stopped: sync() so all of it is charged, read, then stop (which closes
// the pcap store).
Charged read_and_stop(Engine& engine, std::size_t limit = 0, std::uint64_t recent_seconds = 0) {
  engine.sync();
  Charged c{engine.process_rank(limit, recent_seconds), engine.unknown(), engine.drops(),
            engine.load_counter()};
  engine.stop();
  return c;
}

const ProcessTraffic* find_pid(const std::vector<ProcessTraffic>& rank, int pid) {
  for (const auto& p : rank) {
    if (p.pid == pid) return &p;
  }
  return nullptr;
}

std::string describe(const std::vector<ProcessTraffic>& rank) {
  std::ostringstream s;
  int shown = 0;
  for (const auto& p : rank) {
    if (++shown > 20) {
      s << "  ...\n";
      break;
    }
    s << "  pid " << p.pid << " " << p.name << ": in " << p.in_bytes << " B / " << p.in_packets
      << " pkt, out " << p.out_bytes << " B / " << p.out_packets << " pkt\n";
  }
  return s.str();
}

std::uint64_t unknown_bytes(const std::vector<UnknownTraffic>& unknown, std::uint8_t protocol) {
  std::uint64_t total = 0;
  for (const auto& u : unknown) {
    if (u.protocol == protocol) total += u.bytes;
  }
  return total;
}

testing::AssertionResult within_1pct(const std::string& what, std::uint64_t reported,
                                     std::uint64_t expected) {
  const double diff = reported > expected ? static_cast<double>(reported - expected)
                                          : static_cast<double>(expected - reported);
  if (diff <= 0.01 * static_cast<double>(expected)) return testing::AssertionSuccess();
  return testing::AssertionFailure() << what << ": reported " << reported << ", expected " << expected << " ("
                                     << (expected ? 100.0 * diff / static_cast<double>(expected) : 100.0)
                                     << " % off)";
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The independent expectation for one peer, from the pcap: the frames of the 5-tuples it reported,
// out where its local end is the source, in where it is the destination.
struct Expected {
  FrameTotals out, in;
};

// TCP segments each sending 5-tuple's socket sent again, by the peers' own TCP_INFO (traffic_peer
// "retransmits"): the kernel's word that the wire carried some frames twice.
using Retransmits = std::map<Tuple, std::uint64_t>;
Retransmits retransmits_of(std::initializer_list<const PeerReport*> peers) {
  Retransmits r;
  for (const PeerReport* p : peers)
    for (const auto& f : p->flows) r[f.tuple] += f.retransmits;
  return r;
}

Expected expected_from_capture(const PeerReport& peer, const Frames& frames, const Retransmits& retransmits) {
  std::set<Tuple> tuples;  // a 5-tuple reused by a later connection is counted once
  for (const auto& f : peer.flows) tuples.insert(f.tuple);
  // Frames held twice in a direction whose sender says it sent segments again are those
  // retransmissions (identical to the first copy when sent within the same TCP timestamp tick): the
  // wire carried them twice, so they count. Anywhere else they are the capture's doing.
  auto side = [&](const Tuple& sender) {
    FrameTotals x;
    if (auto it = frames.find(sender); it != frames.end()) x = it->second;
    if (auto r = retransmits.find(sender); r != retransmits.end() && r->second != 0) {
      x.bytes += x.duplicate_bytes;
      x.packets += x.duplicate_packets;
      x.duplicates = 0;
    }
    return x;
  };
  Expected e;
  for (const auto& t : tuples) {
    e.out += side(t);
    e.in += side(t.reversed());
  }
  return e;
}

// The peer's 5-tuples and what the pcap holds of each, for failure messages.
std::string describe_capture(const PeerReport& peer, const Frames& frames) {
  std::set<Tuple> tuples;
  for (const auto& f : peer.flows) tuples.insert(f.tuple);
  std::ostringstream s;
  int shown = 0;
  for (const auto& t : tuples) {
    if (++shown > 10) {
      s << "  ... (" << tuples.size() << " 5-tuples)\n";
      break;
    }
    const auto out = frames.find(t), in = frames.find(t.reversed());
    const FrameTotals o = out == frames.end() ? FrameTotals{} : out->second;
    const FrameTotals i = in == frames.end() ? FrameTotals{} : in->second;
    auto side = [](const FrameTotals& x) {
      return std::to_string(x.bytes) + " B / " + std::to_string(x.packets) + " frames / " +
             std::to_string(x.payload) + " payload (+" + std::to_string(x.retransmitted) +
             " retransmitted, " + std::to_string(x.duplicates) + " frames held twice)";
    };
    s << "  " << describe(t) << ": out " << side(o) << ", in " << side(i) << "\n";
  }
  return s.str();
}

// The checks every case makes for each of its peers.
void expect_charged(const Peer& peer, const Charged& charged, const Frames& frames,
                    const Retransmits& retransmits) {
  const PeerReport report = peer.report();
  SCOPED_TRACE(peer.name() + " (pid " + std::to_string(report.pid) + ", " +
               std::to_string(report.flows.size()) + " flows)");
  ASSERT_TRUE(report.complete) << peer.output();
  const Expected want = expected_from_capture(report, frames, retransmits);

  // The capture lost nothing: the payload of the peer's 5-tuples in the pcap (the TCP sequence space
  // the segments cover, tshark tcp.seq and tcp.len; udp.length - 8) is what the peer says its sockets
  // moved (its "total" line). Less: the capture lost frames. More (UDP): it holds datagrams twice;
  // TCP frames held twice are counted by the next check.
  EXPECT_EQ(want.out.payload, report.sent)
      << "payload in the pcap from the peer's 5-tuples vs. what it sent\n"
      << describe_capture(report, frames);
  EXPECT_EQ(want.in.payload, report.received)
      << "payload in the pcap to the peer's 5-tuples vs. what it got\n"
      << describe_capture(report, frames);
  EXPECT_EQ(want.out.duplicates + want.in.duplicates, 0u)
      << "the pcap holds TCP frames twice (identical in every header field) where the sender reports no "
         "retransmission: the capture took them twice\n"
      << describe_capture(report, frames);
  ASSERT_GT(want.out.bytes, 0u) << "no frame of the peer's 5-tuples in the pcap\n"
                                << describe_capture(report, frames);

  const ProcessTraffic* p = find_pid(charged.rank, report.pid);
  ASSERT_NE(p, nullptr) << "pid " << report.pid << " is not in process_rank(0, 0):\n"
                        << describe(charged.rank);
  EXPECT_EQ(p->name, "traffic_peer");
  EXPECT_TRUE(ends_with(p->exe, "/traffic_peer")) << "exe: " << p->exe;
  EXPECT_EQ(p->user, "root");
  // The expected values are tshark's frame.len and frame counts over the peer's 5-tuples, each frame
  // once (expected_from_capture, decode_with_tshark).
  EXPECT_TRUE(within_1pct("out_bytes", p->out_bytes, want.out.bytes));
  EXPECT_TRUE(within_1pct("in_bytes", p->in_bytes, want.in.bytes));
  EXPECT_TRUE(within_1pct("out_packets", p->out_packets, want.out.packets));
  EXPECT_TRUE(within_1pct("in_packets", p->in_packets, want.in.packets));
  // A rank over all time (recent_seconds 0) gives the cumulative figures as its recent ones.
  EXPECT_EQ(p->recent_out_bytes, p->out_bytes);
  EXPECT_EQ(p->recent_in_bytes, p->in_bytes);
}

// ---------------------------------------------------------------------------------------------
// One conversation: a server peer and a client peer, captured by an Engine.

struct PairSpec {
  std::string device;                    // the Engine captures here
  std::string server_addr;               // the server listens on [server_addr]:0, the client connects there
  std::string server_netns;              // "" = the root namespace
  std::vector<std::string> server_args;  // mode and options, without --listen
  std::vector<std::string> client_args;  // mode and options, without --to and --go-file
  // Capture only "<proto> port <server port>". Loopback carries whatever else this host runs (other
  // test suites blast it too): unfiltered, that noise could fill the capture ring and drop frames.
  bool filter_server_port = false;
};

struct PairRun {
  TempDir dir;
  std::unique_ptr<Peer> server, client;
  Charged charged;
  Frames frames;  // the pcap the engine wrote, decoded by tshark
};

// Starts the server (it listens), then the client (it waits for the go file), then the Engine; lets
// the traffic go, waits for both peers' totals, reads the rank and decodes the pcap.
void run_pair(const PairSpec& spec, const std::string& tshark, PairRun& run) {
  run.server = std::make_unique<Peer>(
      run.dir, "server",
      spec.server_args + std::vector<std::string>{"--listen", endpoint(spec.server_addr, 0)} + linger,
      spec.server_netns);
  ASSERT_TRUE(run.server->wait_event("listening", 10'000)) << run.server->output();
  const std::uint16_t port = run.server->port();
  const auto go = run.dir / "go";
  run.client = std::make_unique<Peer>(
      run.dir, "client",
      spec.client_args +
          std::vector<std::string>{"--to", endpoint(spec.server_addr, port), "--go-file", go.string()} +
          linger);
  ASSERT_TRUE(run.client->wait_event("ready", 10'000)) << run.client->output();

  Options options;
  options.devices = {spec.device};
  options.pcap_store = (run.dir / "engine.pcap").string();
  if (spec.filter_server_port) {
    options.bpf_filter = std::string(spec.server_args.at(0).starts_with("tcp") ? "tcp" : "udp") + " port " +
                         std::to_string(port);
  }
  Engine engine(options);
  const Status started = engine.start();
  ASSERT_TRUE(started) << started.error;

  test::write_file(go, "");
  EXPECT_TRUE(run.client->wait_event("total", 120'000)) << run.client->output();
  EXPECT_TRUE(run.server->wait_event("total", 30'000)) << run.server->output();
  run.charged = read_and_stop(engine);
  EXPECT_EQ(run.charged.drops, 0u) << "the capture dropped frames: the totals cannot match";

  std::string error;
  run.frames = decode_with_tshark(tshark, run.dir / "engine.pcap", &error);
  ASSERT_TRUE(error.empty()) << error;
}

// The whole check of one conversation.
void check_pair(const PairSpec& spec, const std::string& tshark) {
  PairRun run;
  run_pair(spec, tshark, run);
  if (testing::Test::HasFatalFailure()) return;
  const PeerReport server = run.server->report(), client = run.client->report();
  const Retransmits retransmits = retransmits_of({&server, &client});
  expect_charged(*run.server, run.charged, run.frames, retransmits);
  expect_charged(*run.client, run.charged, run.frames, retransmits);
}

PairSpec tcp_pair(const std::string& device, const std::string& addr) {
  // 4 connections, each 2 MB from the client and 500 kB back.
  return {device,
          addr,
          "",
          {"tcp-server", "--echo", "500000", "--connections", "4"},
          {"tcp-client", "--send", "2000000", "--expect", "500000", "--connections", "4"},
          /*filter_server_port=*/device == "lo"};
}

PairSpec udp_pair(const std::string& addr, bool connected) {
  // 300 datagrams of 1200 bytes, each answered with one of the same size. The exchange takes ~10 ms
  // over loopback; the client keeps its socket 200 ms more before closing it. A UDP socket is found
  // by the kernel lookup its first packet triggers, which comes up to a capture timeout (10 ms) plus
  // a resolve interval after the packet: one that is closed before that is charged to unknown (the
  // limit the README states; closes are traced for TCP only).
  return {"lo",
          addr,
          "",
          {"udp-server", "--datagrams", "300"},
          {"udp-client", connected ? "--connected" : "--unconnected", "--datagrams", "300", "--size", "1200",
           "--hold-ms", "200"},
          /*filter_server_port=*/true};
}

// ---------------------------------------------------------------------------------------------
// TCP and UDP, loopback and a veth into another namespace.

TEST(Attribution, TcpLoopbackIpv4) {
  REQUIRE_ROOT();
  REQUIRE_TOOL(tshark, "tshark");
  check_pair(tcp_pair("lo", "127.0.0.1"), tshark);
}

TEST(Attribution, TcpLoopbackIpv6) {
  REQUIRE_ROOT();
  REQUIRE_TOOL(tshark, "tshark");
  check_pair(tcp_pair("lo", "::1"), tshark);
}

// The server runs inside the rig's namespace, the client in the root one; the engine captures on the
// root-side veth. Both processes must be charged, the one in the other namespace by its pid and name.
void check_tcp_into_netns(bool ipv6, const std::string& tshark) {
  NetnsRig rig;  // declared first: it outlives the peers and the engine
  ASSERT_TRUE(rig.ok()) << rig.error();
  PairSpec spec = tcp_pair(rig.outer(), ipv6 ? rig.v6(2) : rig.v4(2));
  spec.server_netns = rig.name();
  spec.server_args = {"tcp-server", "--echo", "250000", "--connections", "2"};
  spec.client_args = {"tcp-client", "--send", "1000000", "--expect", "250000", "--connections", "2"};
  check_pair(spec, tshark);
}

TEST(Attribution, TcpIntoNetnsIpv4) {
  REQUIRE_ROOT();
  REQUIRE_TOOL(tshark, "tshark");
  REQUIRE_TOOL(ip, "ip");
  check_tcp_into_netns(false, tshark);
}

TEST(Attribution, TcpIntoNetnsIpv6) {
  REQUIRE_ROOT();
  REQUIRE_TOOL(tshark, "tshark");
  REQUIRE_TOOL(ip, "ip");
  check_tcp_into_netns(true, tshark);
}

TEST(Attribution, UdpConnectedIpv4) {
  REQUIRE_ROOT();
  REQUIRE_TOOL(tshark, "tshark");
  check_pair(udp_pair("127.0.0.1", true), tshark);
}

TEST(Attribution, UdpUnconnectedIpv4) {
  REQUIRE_ROOT();
  REQUIRE_TOOL(tshark, "tshark");
  check_pair(udp_pair("127.0.0.1", false), tshark);
}

TEST(Attribution, UdpConnectedIpv6) {
  REQUIRE_ROOT();
  REQUIRE_TOOL(tshark, "tshark");
  check_pair(udp_pair("::1", true), tshark);
}

TEST(Attribution, UdpUnconnectedIpv6) {
  REQUIRE_ROOT();
  REQUIRE_TOOL(tshark, "tshark");
  check_pair(udp_pair("::1", false), tshark);
}

// ---------------------------------------------------------------------------------------------
// 1000 short connections: each lives under 50 ms, far less than a sync interval, and none of them
// may end in unknown().

TEST(Attribution, ThousandShortConnections) {
  REQUIRE_ROOT();
  REQUIRE_TOOL(tshark, "tshark");
  constexpr int connections = 1000;
  PairSpec spec{
      "lo",
      "127.0.0.1",
      "",
      {"tcp-server", "--echo", "1000", "--connections", std::to_string(connections)},
      {"tcp-client", "--send", "1000", "--expect", "1000", "--connections", std::to_string(connections)},
      /*filter_server_port=*/true};
  PairRun run;
  run_pair(spec, tshark, run);
  if (HasFatalFailure()) return;

  const PeerReport client = run.client->report();
  ASSERT_EQ(client.flows.size(), static_cast<std::size_t>(connections)) << run.client->output();
  // The premise of the case (the client measures each connection from socket() to close()).
  EXPECT_LT(client.max_duration_us, 50'000) << "a connection lived 50 ms or more";

  // The capture saw only the server port's traffic (the filter), so any TCP here is one of them.
  EXPECT_EQ(unknown_bytes(run.charged.unknown, 6), 0u) << "TCP bytes of the short connections in unknown()";
  const PeerReport server = run.server->report();
  const Retransmits retransmits = retransmits_of({&server, &client});
  expect_charged(*run.server, run.charged, run.frames, retransmits);
  expect_charged(*run.client, run.charged, run.frames, retransmits);
  // Nor was any of it charged to some other process.
  const int client_pid = client.pid, server_pid = server.pid;
  for (const auto& p : run.charged.rank) {
    if (p.pid == client_pid || p.pid == server_pid) continue;
    EXPECT_EQ(p.in_bytes + p.out_bytes, 0u) << "pid " << p.pid << " " << p.name << " was charged";
  }
}

// ---------------------------------------------------------------------------------------------
// `flowpulse top --once --json` and the SDK, side by side on the same traffic.

// The socket inodes a process holds ("socket:[N]" links in /proc/PID/fd).
std::set<std::string> socket_inodes(const std::string& pid) {
  std::set<std::string> out;
  std::error_code ec;
  for (const auto& fd : std::filesystem::directory_iterator("/proc/" + pid + "/fd", ec)) {
    const std::string target = std::filesystem::read_symlink(fd.path(), ec).string();
    if (target.starts_with("socket:[")) out.insert(target.substr(8, target.size() - 9));
  }
  return out;
}

// Whether `pid` opened a packet socket of this namespace (its capture). Sockets it inherited from this
// test process (the engine's, when they lack close-on-exec) do not count.
bool opened_packet_socket(int pid) {
  std::set<std::string> packet;
  std::ifstream net("/proc/net/packet");
  std::string line;
  std::getline(net, line);  // header; the inode is the last column
  while (std::getline(net, line)) {
    std::istringstream cols(line);
    std::string col, last;
    while (cols >> col) last = col;
    packet.insert(last);
  }
  const auto ours = socket_inodes("self");
  for (const auto& inode : socket_inodes(std::to_string(pid))) {
    if (packet.count(inode) && !ours.count(inode)) return true;
  }
  return false;
}

struct Ranked {
  int pid = 0;
  std::string name;
  std::uint64_t in_bytes = 0, out_bytes = 0;
};

std::string describe(const std::vector<Ranked>& rank) {
  std::string s;
  for (const auto& r : rank) {
    s += "  pid " + std::to_string(r.pid) + " " + r.name + ": in " + std::to_string(r.in_bytes) + ", out " +
         std::to_string(r.out_bytes) + "\n";
  }
  return s;
}

// One server, two clients moving different amounts: on loopback the server moves what both clients
// move, so the order is server, the big client, the small one (no ties).
TEST(Attribution, TopAgreesWithSdk) {
  REQUIRE_ROOT();
  TempDir dir;
  const auto go = dir / "go";
  Peer server(dir, "server",
              std::vector<std::string>{"tcp-server", "--listen", "127.0.0.1:0", "--echo", "100000",
                                       "--connections", "2"} +
                  linger);
  ASSERT_TRUE(server.wait_event("listening", 10'000)) << server.output();
  const std::string to = endpoint("127.0.0.1", server.port());
  const std::vector<std::string> client = {"tcp-client", "--to",      to,         "--expect",
                                           "100000",     "--go-file", go.string()};
  Peer big(dir, "big", client + std::vector<std::string>{"--send", "3000000"} + linger);
  Peer small(dir, "small", client + std::vector<std::string>{"--send", "1000000"} + linger);
  ASSERT_TRUE(big.wait_event("ready", 10'000)) << big.output();
  ASSERT_TRUE(small.wait_event("ready", 10'000)) << small.output();

  const std::string filter = "tcp port " + std::to_string(server.port());
  constexpr int interval_s = 6;  // top's window: it must cover start-up, the traffic and the end
  Options options;
  options.devices = {"lo"};
  options.bpf_filter = filter;
  options.capture_timeout = std::chrono::milliseconds(2);  // not the default, on both sides
  Engine engine(options);
  const Status started = engine.start();
  ASSERT_TRUE(started) << started.error;
  Process top({test::flowpulse_binary(), "top", "--once", "--json", "--device", "lo", "--interval",
               std::to_string(interval_s), "--limit", "10", "--recent", "60", "--filter", filter,
               "--capture-timeout", "2"},
              dir.path(), "top");
  const auto top_started = Clock::now();
  // top has no ready line: wait until it holds its capture socket, then a little more for its filter.
  while (!opened_packet_socket(top.pid())) {
    ASSERT_TRUE(top.running()) << "flowpulse top exited: " << top.out() << top.err();
    ASSERT_LT(Clock::now() - top_started, std::chrono::seconds(interval_s / 2))
        << "flowpulse top opened no capture";
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));

  test::write_file(go, "");
  ASSERT_TRUE(big.wait_event("total", 30'000)) << big.output();
  ASSERT_TRUE(small.wait_event("total", 30'000)) << small.output();
  ASSERT_TRUE(server.wait_event("total", 30'000)) << server.output();
  ASSERT_LT(Clock::now() - top_started, std::chrono::seconds(interval_s - 1))
      << "the traffic ran past the start of top's last second; the two would not see the same window";

  ASSERT_EQ(top.wait((interval_s + 30) * 1000), 0) << "flowpulse top: " << top.out() << top.err();
  const Charged sdk = read_and_stop(engine, 10, 60);
  std::string error;
  const auto json = parse_json(top.out(), &error);
  ASSERT_TRUE(json) << error << "\n" << top.out();
  EXPECT_EQ((*json)["drops"].u64(), 0u);
  EXPECT_EQ(sdk.drops, 0u);
  EXPECT_EQ(unknown_bytes(sdk.unknown, 6), 0u);
  for (const auto& u : (*json)["unknown"].items) {
    if (u["protocol"].u64() == 6) {
      EXPECT_EQ(u["bytes"].u64(), 0u) << "top: TCP bytes in unknown";
    }
  }
  // The same filter, and the traffic inside both windows: both captured the same frames.
  EXPECT_TRUE(within_1pct("top's frames vs. the SDK's load_counter()", (*json)["frames"].u64(), sdk.frames));

  // Processes that moved something, in rank order.
  std::vector<Ranked> from_top, from_sdk;
  for (const auto& p : (*json)["processes"].items) {
    if (p["in_bytes"].u64() + p["out_bytes"].u64() == 0) continue;
    from_top.push_back(
        {static_cast<int>(p["pid"].i64()), p["name"].str(), p["in_bytes"].u64(), p["out_bytes"].u64()});
  }
  for (const auto& p : sdk.rank) {
    if (p.in_bytes + p.out_bytes == 0) continue;
    from_sdk.push_back({p.pid, p.name, p.in_bytes, p.out_bytes});
  }
  const std::vector<int> want_order = {server.report().pid, big.report().pid, small.report().pid};
  auto pids = [](const std::vector<Ranked>& rank) {
    std::vector<int> out(rank.size());
    std::transform(rank.begin(), rank.end(), out.begin(), [](const Ranked& r) { return r.pid; });
    return out;
  };
  EXPECT_EQ(pids(from_sdk), want_order) << "SDK rank:\n" << describe(from_sdk);
  ASSERT_EQ(pids(from_top), pids(from_sdk)) << "top:\n"
                                            << describe(from_top) << "SDK:\n"
                                            << describe(from_sdk);
  for (std::size_t i = 0; i < from_top.size(); ++i) {
    SCOPED_TRACE("pid " + std::to_string(from_top[i].pid));
    EXPECT_EQ(from_top[i].name, from_sdk[i].name);
    EXPECT_TRUE(within_1pct("top in_bytes vs. SDK", from_top[i].in_bytes, from_sdk[i].in_bytes));
    EXPECT_TRUE(within_1pct("top out_bytes vs. SDK", from_top[i].out_bytes, from_sdk[i].out_bytes));
  }
}

}  // namespace
}  // namespace flowpulse
