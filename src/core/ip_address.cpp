#include "core/ip_address.hpp"

#include <arpa/inet.h>

#include <cstdio>
#include <cstring>

namespace flowpulse::core {

std::size_t format_ip(const IpAddress& a, char* out) noexcept {
  if (a.family == 4) {
    char buf[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &a.bytes[12], buf, sizeof buf);
    std::size_t n = std::strlen(buf);
    std::memcpy(out, buf, n);
    return n;
  }
  if (a.family == 6) {
    char buf[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, a.bytes.data(), buf, sizeof buf);
    std::size_t n = std::strlen(buf);
    std::memcpy(out, buf, n);
    return n;
  }
  return 0;
}

std::string to_string(const IpAddress& a) {
  char buf[INET6_ADDRSTRLEN];
  return {buf, format_ip(a, buf)};
}

std::optional<IpAddress> parse_ip(std::string_view text) {
  std::string s(text);
  std::uint8_t buf[16];
  if (inet_pton(AF_INET, s.c_str(), buf) == 1) return IpAddress::v4_bytes(buf);
  if (inet_pton(AF_INET6, s.c_str(), buf) == 1) return IpAddress::v6_bytes(buf);
  return std::nullopt;
}

std::string format_mac(const std::array<std::uint8_t, 6>& mac) {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
                mac[5]);
  return buf;
}

}  // namespace flowpulse::core
