#include "export/flow_json.hpp"

#include <charconv>
#include <cstdio>

#include "core/ip_address.hpp"

namespace flowpulse::exporting {

namespace {

// Builds "key":value pairs; the first member opens the object without a comma.
class ObjectWriter {
 public:
  explicit ObjectWriter(std::string& out) : out_(out) { out_.push_back('{'); }
  ~ObjectWriter() { out_.push_back('}'); }
  ObjectWriter(const ObjectWriter&) = delete;
  ObjectWriter& operator=(const ObjectWriter&) = delete;

  void number(const char* key, std::uint64_t v) {
    this->key(key);
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    (void)ec;  // 24 bytes hold any uint64
    out_.append(buf, end);
  }
  // Only for values known to need no escaping (names from this file, addresses, MACs).
  void text(const char* key, const char* s, std::size_t n) {
    this->key(key);
    out_.push_back('"');
    out_.append(s, n);
    out_.push_back('"');
  }
  void text(const char* key, const char* s) { text(key, s, std::char_traits<char>::length(s)); }
  void address(const char* key, const IpAddress& a) {
    char buf[64];
    text(key, buf, core::format_ip(a, buf));
  }
  void mac(const char* key, const std::array<std::uint8_t, 6>& m) {
    char buf[18];
    std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
    text(key, buf, 17);
  }
  void labels(const char* key, const std::uint32_t* v, std::size_t n) {
    this->key(key);
    out_.push_back('[');
    for (std::size_t i = 0; i < n; ++i) {
      if (i != 0) out_.push_back(',');
      char buf[12];
      auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v[i]);
      (void)ec;
      out_.append(buf, end);
    }
    out_.push_back(']');
  }

 private:
  void key(const char* k) {
    if (!first_) out_.push_back(',');
    first_ = false;
    out_.push_back('"');
    out_.append(k);
    out_.append("\":");
  }

  std::string& out_;
  bool first_ = true;
};

}  // namespace

const char* to_string(FlowType type) noexcept {
  switch (type) {
    case FlowType::unknown: return "unknown";
    case FlowType::netflow1: return "netflow1";
    case FlowType::netflow5: return "netflow5";
    case FlowType::netflow7: return "netflow7";
    case FlowType::netflow9: return "netflow9";
    case FlowType::ipfix: return "ipfix";
    case FlowType::sflow5: return "sflow5";
    case FlowType::raw: return "raw";
  }
  return "unknown";
}

const char* to_string(FlowDirection direction) noexcept {
  switch (direction) {
    case FlowDirection::unknown: return "unknown";
    case FlowDirection::ingress: return "ingress";
    case FlowDirection::egress: return "egress";
  }
  return "unknown";
}

void append_json(std::string& out, const FlowRecord& r) {
  ObjectWriter w(out);
  w.text("kind", "flow");
  w.text("type", to_string(r.type));
  w.text("direction", to_string(r.direction));
  w.number("time_received_ns", r.time_received_ns);
  w.number("time_flow_start_ns", r.time_flow_start_ns);
  w.number("time_flow_end_ns", r.time_flow_end_ns);
  w.number("sequence_number", r.sequence_number);
  w.number("sampling_rate", r.sampling_rate);
  w.number("observation_domain", r.observation_domain);
  w.address("sampler_address", r.sampler_address);
  w.number("bytes", r.bytes);
  w.number("packets", r.packets);
  w.number("raw_bytes", r.raw_bytes);
  w.number("raw_packets", r.raw_packets);
  w.address("src_addr", r.src_addr);
  w.address("dst_addr", r.dst_addr);
  w.address("next_hop", r.next_hop);
  w.address("bgp_next_hop", r.bgp_next_hop);
  w.number("etype", r.etype);
  w.number("proto", r.proto);
  w.number("src_port", r.src_port);
  w.number("dst_port", r.dst_port);
  w.number("in_if", r.in_if);
  w.number("out_if", r.out_if);
  w.mac("src_mac", r.src_mac);
  w.mac("dst_mac", r.dst_mac);
  w.number("src_vlan", r.src_vlan);
  w.number("dst_vlan", r.dst_vlan);
  w.number("vlan_id", r.vlan_id);
  w.number("ip_tos", r.ip_tos);
  w.number("ip_ttl", r.ip_ttl);
  w.number("tcp_flags", r.tcp_flags);
  w.number("icmp_type", r.icmp_type);
  w.number("icmp_code", r.icmp_code);
  w.number("forwarding_status", r.forwarding_status);
  w.number("ipv6_flow_label", r.ipv6_flow_label);
  w.number("fragment_id", r.fragment_id);
  w.number("fragment_offset", r.fragment_offset);
  w.number("src_as", r.src_as);
  w.number("dst_as", r.dst_as);
  w.number("next_hop_as", r.next_hop_as);
  w.number("src_prefix_len", r.src_prefix_len);
  w.number("dst_prefix_len", r.dst_prefix_len);
  // A hostile count cannot read past the array.
  const std::size_t n =
      r.mpls_count < FlowRecord::max_mpls_labels ? r.mpls_count : FlowRecord::max_mpls_labels;
  w.labels("mpls_labels", r.mpls_labels.data(), n);
}

void append_json(std::string& out, const InterfaceCounters& c) {
  ObjectWriter w(out);
  w.text("kind", "interface_counters");
  w.number("time_received_ns", c.time_received_ns);
  w.address("sampler_address", c.sampler_address);
  w.number("observation_domain", c.observation_domain);
  w.number("sequence_number", c.sequence_number);
  w.number("if_index", c.if_index);
  w.number("if_type", c.if_type);
  w.number("if_speed", c.if_speed);
  w.number("if_direction", c.if_direction);
  w.number("if_status", c.if_status);
  w.number("in_octets", c.in_octets);
  w.number("in_ucast_pkts", c.in_ucast_pkts);
  w.number("in_multicast_pkts", c.in_multicast_pkts);
  w.number("in_broadcast_pkts", c.in_broadcast_pkts);
  w.number("in_discards", c.in_discards);
  w.number("in_errors", c.in_errors);
  w.number("in_unknown_protos", c.in_unknown_protos);
  w.number("out_octets", c.out_octets);
  w.number("out_ucast_pkts", c.out_ucast_pkts);
  w.number("out_multicast_pkts", c.out_multicast_pkts);
  w.number("out_broadcast_pkts", c.out_broadcast_pkts);
  w.number("out_discards", c.out_discards);
  w.number("out_errors", c.out_errors);
  w.number("promiscuous_mode", c.promiscuous_mode);
}

}  // namespace flowpulse::exporting
