// `flowpulse decode FILE...`: decodes flow exports from pcap/pcapng files (every UDP datagram, the
// protocol by version field, with --port saying what a port carries) or from raw UDP payload files
// (--payload, one datagram per file, in the order given), prints one JSON object per record on
// stdout, and a summary (datagrams, records, errors by reason, per exporter) on stderr. This is how a
// user checks what the collector would see.
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/commands.hpp"
#include "core/ip_address.hpp"
#include "decode/flow_decoder.hpp"
#include "decode/packet.hpp"
#include "export/flow_json.hpp"
#include "io/pcap_file.hpp"

namespace flowpulse::cli {
namespace {

constexpr const char* help_text =
    "usage: flowpulse decode [OPTIONS] FILE...\n"
    "\n"
    "Decodes NetFlow v1/v5/v7/v9, IPFIX and sFlow v5 and prints one JSON object per record on stdout\n"
    "(flows, and sFlow interface counters as \"kind\":\"interface_counters\"), then a summary on stderr:\n"
    "datagrams, records, errors by reason, per exporter.\n"
    "\n"
    "FILEs are pcap or pcapng captures (libpcap): every UDP datagram is read; its protocol comes from\n"
    "its version field, or from the port it was sent to. Datagrams on ports not listed whose version\n"
    "is not a flow protocol's are skipped (counted as not_flow).\n"
    "\n"
    "options:\n"
    "  --port PORT=PROTO  UDP port PORT carries PROTO (netflow5, netflow9, ipfix, sflow); repeatable.\n"
    "                     Defaults: 2055=netflow9 2056=netflow5 4739=ipfix 6343=sflow. A version field\n"
    "                     of another flow protocol still wins (v5 on a v9 port decodes as v5).\n"
    "  --payload          FILEs are raw UDP payloads, one datagram per file, decoded in the order given\n"
    "                     (give template files before data files of the same exporter)\n"
    "  --protocol PROTO   protocol of --payload files when the version field does not say\n"
    "  --exporter ADDR    exporter address of --payload datagrams (default 127.0.0.1); templates are\n"
    "                     kept per exporter\n"
    "  -q, --quiet        print only the summary\n"
    "  -h, --help         this help\n"
    "\n"
    "Exit status: 0 when every file was read (decode errors are in the summary), 1 when a file could\n"
    "not be read, 2 on bad usage.\n";

struct Options {
  decode::PortMap ports = decode::PortMap::defaults();
  bool payload = false;
  std::optional<decode::Protocol> protocol;
  IpAddress exporter = IpAddress::v4(0x7f000001);
  bool quiet = false;
  std::vector<std::string> files;
};

int usage_error(const std::string& message) {
  std::fprintf(stderr, "flowpulse decode: %s (see 'flowpulse decode --help')\n", message.c_str());
  return 2;
}

// Parses the arguments; returns an exit code when it should stop (help or bad usage).
std::optional<int> parse_args(Args args, Options& o) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view a = args[i];
    std::string_view value;
    bool has_value = false;
    auto take_value = [&](std::string_view name) -> bool {
      if (a.size() > name.size() && a.substr(0, name.size()) == name && a[name.size()] == '=') {
        value = a.substr(name.size() + 1);
        has_value = true;
        return true;
      }
      if (a == name) {
        if (i + 1 < args.size()) {
          value = args[++i];
          has_value = true;
        }
        return true;
      }
      return false;
    };
    if (a == "-h" || a == "--help") {
      std::fputs(help_text, stdout);
      return 0;
    }
    if (a == "--payload") {
      o.payload = true;
    } else if (a == "-q" || a == "--quiet") {
      o.quiet = true;
    } else if (take_value("--port")) {
      if (!has_value) return usage_error("--port needs PORT=PROTO");
      const auto eq = value.find('=');
      if (eq == std::string_view::npos)
        return usage_error("--port needs PORT=PROTO, got '" + std::string(value) + "'");
      const std::string port_text(value.substr(0, eq));
      char* end = nullptr;
      errno = 0;
      const unsigned long port = std::strtoul(port_text.c_str(), &end, 10);
      if (port_text.empty() || *end != '\0' || errno != 0 || port == 0 || port > 65535) {
        return usage_error("--port: '" + port_text + "' is not a UDP port (1-65535)");
      }
      const auto proto = decode::parse_protocol(value.substr(eq + 1));
      if (!proto) {
        return usage_error("--port: unknown protocol '" + std::string(value.substr(eq + 1)) +
                           "' (netflow5, netflow9, ipfix, sflow)");
      }
      o.ports.set(static_cast<std::uint16_t>(port), *proto);
    } else if (take_value("--protocol")) {
      if (!has_value) return usage_error("--protocol needs a value");
      if (value == "auto") {
        o.protocol.reset();
      } else {
        o.protocol = decode::parse_protocol(value);
        if (!o.protocol) {
          return usage_error("--protocol: unknown protocol '" + std::string(value) +
                             "' (netflow5, netflow9, ipfix, sflow, auto)");
        }
      }
    } else if (take_value("--exporter")) {
      if (!has_value) return usage_error("--exporter needs an address");
      auto addr = core::parse_ip(value);
      if (!addr) return usage_error("--exporter: '" + std::string(value) + "' is not an IP address");
      o.exporter = *addr;
    } else if (a.size() > 1 && a[0] == '-') {
      return usage_error("unknown option '" + std::string(a) + "'");
    } else {
      o.files.emplace_back(a);
    }
  }
  if (o.files.empty()) return usage_error("no FILE given");
  return std::nullopt;
}

// Writes records as JSON lines through one buffer per batch.
class JsonSink : public decode::RecordSink {
 public:
  explicit JsonSink(bool quiet) : quiet_(quiet) {}
  void on_records(std::span<const FlowRecord> records) override {
    if (quiet_) return;
    line_.clear();
    for (const auto& r : records) {
      exporting::append_json(line_, r);
      line_.push_back('\n');
    }
    std::fwrite(line_.data(), 1, line_.size(), stdout);
  }
  void on_counters(std::span<const InterfaceCounters> counters) override {
    if (quiet_) return;
    line_.clear();
    for (const auto& c : counters) {
      exporting::append_json(line_, c);
      line_.push_back('\n');
    }
    std::fwrite(line_.data(), 1, line_.size(), stdout);
  }

 private:
  bool quiet_;
  std::string line_;
};

struct PcapTotals {
  std::uint64_t frames = 0;
  std::uint64_t udp = 0;
  std::uint64_t not_udp = 0;
  std::uint64_t fragments = 0;
  std::uint64_t truncated = 0;
  std::uint64_t bad_link = 0;
  std::uint64_t not_flow = 0;  // UDP to an unlisted port whose version is no flow protocol's
};

std::string stats_fields(const decode::DecodeStats& s) {
  std::string out = "datagrams=" + std::to_string(s.datagrams) + " records=" + std::to_string(s.records) +
                    " counter_records=" + std::to_string(s.counter_records) +
                    " templates=" + std::to_string(s.templates_received) +
                    " pending_held=" + std::to_string(s.pending_held) +
                    " errors=" + std::to_string(s.total_errors());
  for (std::size_t i = 0; i < decode::drop_reason_count; ++i) {
    if (s.errors[i] != 0) {
      out += std::string(" ") + decode::to_string(static_cast<decode::DropReason>(i)) + "=" +
             std::to_string(s.errors[i]);
    }
  }
  return out;
}

void print_summary(const decode::FlowDecoder& dec, const Options& o, const PcapTotals& p) {
  if (!o.payload) {
    std::fprintf(
        stderr,
        "decode: pcap frames=%llu udp=%llu not_udp=%llu ip_fragments=%llu truncated=%llu bad_link=%llu "
        "not_flow=%llu\n",
        static_cast<unsigned long long>(p.frames), static_cast<unsigned long long>(p.udp),
        static_cast<unsigned long long>(p.not_udp), static_cast<unsigned long long>(p.fragments),
        static_cast<unsigned long long>(p.truncated), static_cast<unsigned long long>(p.bad_link),
        static_cast<unsigned long long>(p.not_flow));
  }
  std::fprintf(stderr, "decode: total %s\n", stats_fields(dec.total()).c_str());
  for (const auto& e : dec.exporters()) {
    std::fprintf(stderr, "decode: exporter=%s %s\n", core::to_string(e.exporter).c_str(),
                 stats_fields(e.stats).c_str());
  }
  const decode::DecodeStats& other = dec.other();
  if (other.datagrams != 0 || other.total_errors() != 0) {
    std::fprintf(stderr, "decode: exporter=other %s\n", stats_fields(other).c_str());
  }
}

// Reads one payload file whole; the error names the file.
core::Result<std::vector<std::uint8_t>> read_payload(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return core::Error{path + ": cannot open: " + std::strerror(errno)};
  std::vector<std::uint8_t> bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (in.bad()) return core::Error{path + ": read error"};
  if (bytes.size() > 65535) {
    return core::Error{path + ": " + std::to_string(bytes.size()) + " bytes is larger than a UDP datagram"};
  }
  return bytes;
}

core::Status decode_pcap(const std::string& path, const Options& o, decode::FlowDecoder& dec,
                         decode::RecordWriter& out, PcapTotals& totals) {
  auto file = io::PcapFile::open(path);
  if (!file) return core::Error{file.error()};
  if (!decode::link_type_supported(file->link_type())) {
    return core::Error{path + ": link type " + std::to_string(file->link_type()) +
                       " is not supported (Ethernet, raw IP, Linux cooked SLL/SLL2, loopback are)"};
  }
  io::PcapUdpReader reader(*file);
  io::UdpDatagram u;
  core::Status status = core::Ok{};
  for (;;) {
    auto more = reader.next(u);
    if (!more) {
      status = core::Error{more.error()};
      break;
    }
    if (!more.value()) break;
    const std::optional<decode::Protocol> hint = o.ports.find(u.dst_port);
    if (!hint && !decode::detect_protocol(u.payload, u.size)) {
      ++totals.not_flow;
      continue;
    }
    decode::Datagram dg;
    dg.data = u.payload;
    dg.size = u.size;
    dg.exporter = u.src_addr;
    dg.exporter_port = u.src_port;
    dg.time_received_ns = u.time_ns;
    dec.decode(dg, out, hint);
  }
  const io::UdpReadStats& s = reader.stats();
  totals.frames += s.frames;
  totals.udp += s.udp_datagrams;
  totals.not_udp += s.not_udp;
  totals.fragments += s.fragments;
  totals.truncated += s.truncated;
  totals.bad_link += s.bad_link;
  return status;
}

}  // namespace

int cmd_decode(Args args) {
  Options o;
  if (auto rc = parse_args(args, o)) return *rc;

  decode::FlowDecoder dec;
  JsonSink sink(o.quiet);
  PcapTotals totals;
  int rc = 0;
  std::string error;
  {
    decode::RecordWriter out(sink);
    for (const auto& path : o.files) {
      if (o.payload) {
        auto bytes = read_payload(path);
        if (!bytes) {
          error = bytes.error();
          rc = 1;
          break;
        }
        decode::Datagram dg;
        dg.data = bytes->data();
        dg.size = bytes->size();
        dg.exporter = o.exporter;
        dec.decode(dg, out, o.protocol);
        continue;
      }
      auto st = decode_pcap(path, o, dec, out, totals);
      out.flush();
      if (!st) {
        error = st.error();
        rc = 1;
        break;
      }
    }
    // Data sets still waiting for a template at the end never get one: count them as expired.
    dec.expire_pending(std::numeric_limits<std::uint64_t>::max());
  }
  std::fflush(stdout);
  // A file that could not be read at all leaves nothing to summarize: the error line says it all.
  if (totals.frames != 0 || dec.total().datagrams != 0) print_summary(dec, o, totals);
  if (!error.empty()) std::fprintf(stderr, "flowpulse decode: %s\n", error.c_str());
  return rc;
}

}  // namespace flowpulse::cli
