#include "engine/flow_key.hpp"

#include <netdb.h>

#include <bit>

#include "core/ip_address.hpp"

namespace flowpulse::engine {
namespace {

constexpr const char* label_names[label_count] = {
    "src_addr", "dst_addr", "src_port", "dst_port",   "protocol",    "in_if",       "out_if",
    "exporter", "src_as",   "dst_as",   "direction",  "src_country", "dst_country", "src_city",
    "dst_city", "src_asn",  "dst_asn",  "src_as_org", "dst_as_org"};

constexpr std::uint32_t bit(Label l) { return 1U << static_cast<unsigned>(l); }
constexpr std::uint32_t src_enrichment =
    bit(Label::src_country) | bit(Label::src_city) | bit(Label::src_asn) | bit(Label::src_as_org);
constexpr std::uint32_t dst_enrichment =
    bit(Label::dst_country) | bit(Label::dst_city) | bit(Label::dst_asn) | bit(Label::dst_as_org);

// Zeroes the host bits of an address kept as IpAddress bytes (IPv4 lives in the last 4 bytes).
void mask_address(std::array<std::uint8_t, 16>& a, bool v4, unsigned prefix) noexcept {
  unsigned bits = v4 ? 96 + prefix : prefix;
  for (unsigned i = 0; i < 16; ++i) {
    if (bits >= 8) {
      bits -= 8;
    } else {
      a[i] &= static_cast<std::uint8_t>(0xff00U >> bits);
      bits = 0;
    }
  }
}

IpAddress to_ip(const std::array<std::uint8_t, 16>& b) {
  static constexpr std::uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(b.data(), mapped, 12) == 0) return IpAddress::v4_bytes(&b[12]);
  return IpAddress::v6_bytes(b.data());
}

// Dimensions::key_words and the word masks make_key_with applies.
void compile_key_words(Dimensions& d) {
  using WordMasks = std::array<std::array<std::uint64_t, 2>, 2>;  // [IPv6?][word]
  WordMasks prefix;  // an address's 16 bytes as two words in memory order, masked to the set's prefix
  for (const bool v6 : {false, true}) {
    std::array<std::uint8_t, 16> ones;
    ones.fill(0xff);
    mask_address(ones, !v6, v6 ? d.ipv6_prefix : d.ipv4_prefix);
    std::memcpy(prefix[v6].data(), ones.data(), 16);
  }
  auto side = [&d, &prefix](bool lookup, Label label, KeyWords word, WordMasks& mask) {
    if (!lookup && !d.has(label)) return;
    d.key_words |= word;
    mask = lookup ? WordMasks{{{~0ULL, ~0ULL}, {~0ULL, ~0ULL}}} : prefix;  // looked up: kept whole
  };
  side(d.src_lookup, Label::src_addr, key_src, d.src_word_mask);
  side(d.dst_lookup, Label::dst_addr, key_dst, d.dst_word_mask);
  if (d.has(Label::exporter)) {
    d.key_words |= key_exporter;
    d.exporter_mask = ~0ULL;
  }
  auto field = [&d](Label label, unsigned shift, std::uint64_t bits) {
    return d.has(label) ? bits << shift : std::uint64_t{0};
  };
  d.ifs_mask = field(Label::in_if, 0, 0xffffffffULL) | field(Label::out_if, 32, 0xffffffffULL);
  // The export's AS rides along with an address looked up for an ASN, in case it wins over the
  // database's (config enrichment.as_source: flow).
  const bool src_as = d.has(Label::src_as) || (d.src_lookup && d.has(Label::src_asn));
  const bool dst_as = d.has(Label::dst_as) || (d.dst_lookup && d.has(Label::dst_asn));
  d.as_mask = (src_as ? 0xffffffffULL : 0) | (dst_as ? 0xffffffffULL << 32 : 0);
  d.rest_mask = field(Label::src_port, 0, 0xffff) | field(Label::dst_port, 16, 0xffff) |
                field(Label::protocol, 32, 0xff) | field(Label::direction, 40, 0xff);
  if (d.ifs_mask != 0) d.key_words |= key_ifs;
  if (d.as_mask != 0) d.key_words |= key_as;
}

}  // namespace

const char* to_string(Label l) noexcept {
  auto i = static_cast<std::size_t>(l);
  return i < label_count ? label_names[i] : "?";
}

core::Result<std::vector<Dimensions>> compile_dimensions(const std::vector<config::DimensionSet>& sets) {
  if (sets.size() > 255) return core::Error{"metrics.dimensions: at most 255 sets"};
  std::vector<Dimensions> out;
  for (const auto& s : sets) {
    Dimensions d;
    d.name = s.name;
    d.ipv4_prefix = s.ipv4_prefix;
    d.ipv6_prefix = s.ipv6_prefix;
    for (const auto& name : s.labels) {
      std::size_t i = 0;
      while (i < label_count && name != label_names[i]) ++i;
      if (i == label_count)
        return core::Error{"metrics.dimensions '" + s.name + "': unknown label '" + name + "'"};
      d.labels.push_back(static_cast<Label>(i));
      d.mask |= 1U << i;
    }
    d.src_lookup = (d.mask & src_enrichment) != 0;
    d.dst_lookup = (d.mask & dst_enrichment) != 0;
    compile_key_words(d);
    out.push_back(std::move(d));
  }
  return out;
}

static_assert(std::endian::native == std::endian::little);  // make_key packs fields into words

std::uint64_t make_key(const FlowRecord& r, const Dimensions& d, std::uint8_t set_index, ShardKey& out,
                       bool* narrow) noexcept {
  return make_key_with<key_words_all>(r, d, set_index, out, narrow);
}

namespace {

// One side (source or destination) of enrich_key.
void enrich_side(std::array<std::uint8_t, 16>& addr, std::uint32_t& flow_as, std::uint16_t& country,
                 std::uint32_t& asn, std::uint32_t& city, std::uint32_t& org, const Dimensions& d,
                 Label addr_label, Label as_label, Label country_label, Label city_label, Label asn_label,
                 Label org_label, AddressEnricher& enricher, bool flow_as_wins) {
  const IpAddress ip = to_ip(addr);
  const Enrichment e = enricher.lookup(ip);
  if (d.has(country_label)) country = e.country;
  if (d.has(city_label)) city = e.city;
  if (d.has(asn_label)) asn = flow_as_wins && flow_as != 0 ? flow_as : e.asn;
  if (d.has(org_label)) org = e.as_org;
  if (!d.has(as_label)) flow_as = 0;
  if (d.has(addr_label)) {
    mask_address(addr, ip.family != 6, ip.family == 6 ? d.ipv6_prefix : d.ipv4_prefix);
  } else {
    addr = {};
  }
}

}  // namespace

void enrich_key(FlowKey& k, const Dimensions& d, AddressEnricher& enricher, bool flow_as_wins) {
  if (k.overflow) return;
  if (d.src_lookup) {
    enrich_side(k.src_addr, k.src_as, k.src_country, k.src_asn, k.src_city, k.src_as_org, d, Label::src_addr,
                Label::src_as, Label::src_country, Label::src_city, Label::src_asn, Label::src_as_org,
                enricher, flow_as_wins);
  }
  if (d.dst_lookup) {
    enrich_side(k.dst_addr, k.dst_as, k.dst_country, k.dst_asn, k.dst_city, k.dst_as_org, d, Label::dst_addr,
                Label::dst_as, Label::dst_country, Label::dst_city, Label::dst_asn, Label::dst_as_org,
                enricher, flow_as_wins);
  }
}

ShardKey shard_overflow_key(std::uint8_t set_index) noexcept {
  ShardKey k;
  k.set = set_index;
  k.overflow = 1;
  return k;
}

std::string label_value(const FlowKey& k, Label l, const EnrichmentNames* names) {
  if (k.overflow) return "other";
  auto name = [names](const std::vector<std::string> EnrichmentNames::*table,
                      std::uint32_t id) -> std::string {
    if (id == 0 || names == nullptr || id >= (names->*table).size()) return "unknown";
    return (names->*table)[id];
  };
  switch (l) {
    case Label::src_addr: return core::to_string(to_ip(k.src_addr));
    case Label::dst_addr: return core::to_string(to_ip(k.dst_addr));
    case Label::exporter: return core::to_string(to_ip(k.exporter));
    case Label::src_port: return std::to_string(k.src_port);
    case Label::dst_port: return std::to_string(k.dst_port);
    case Label::protocol: {
      switch (k.proto) {
        case 1: return "icmp";
        case 6: return "tcp";
        case 17: return "udp";
        case 58: return "ipv6-icmp";
        default: {
          const protoent* p = getprotobynumber(k.proto);  // /etc/protocols names the rest
          return p != nullptr ? p->p_name : std::to_string(k.proto);
        }
      }
    }
    case Label::in_if: return std::to_string(k.in_if);
    case Label::out_if: return std::to_string(k.out_if);
    case Label::src_as: return std::to_string(k.src_as);
    case Label::dst_as: return std::to_string(k.dst_as);
    case Label::direction: {
      switch (static_cast<FlowDirection>(k.direction)) {
        case FlowDirection::ingress: return "ingress";
        case FlowDirection::egress: return "egress";
        default: return "unknown";
      }
    }
    case Label::src_country: return k.src_country != 0 ? unpack_country(k.src_country) : "unknown";
    case Label::dst_country: return k.dst_country != 0 ? unpack_country(k.dst_country) : "unknown";
    case Label::src_city: return name(&EnrichmentNames::cities, k.src_city);
    case Label::dst_city: return name(&EnrichmentNames::cities, k.dst_city);
    case Label::src_asn: return k.src_asn != 0 ? std::to_string(k.src_asn) : "unknown";
    case Label::dst_asn: return k.dst_asn != 0 ? std::to_string(k.dst_asn) : "unknown";
    case Label::src_as_org: return name(&EnrichmentNames::as_orgs, k.src_as_org);
    case Label::dst_as_org: return name(&EnrichmentNames::as_orgs, k.dst_as_org);
    case Label::count_: break;
  }
  return "";
}

}  // namespace flowpulse::engine
