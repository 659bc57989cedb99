// Text form of flowpulse::IpAddress (RFC 5952 for IPv6, dotted quad for IPv4) and parsing from text.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "flowpulse/flow_record.hpp"

namespace flowpulse::core {

// Writes the address into `out` (at least 46 bytes) without a trailing NUL; returns the length.
// An absent address gives "".
std::size_t format_ip(const IpAddress& a, char* out) noexcept;
std::string to_string(const IpAddress& a);
std::optional<IpAddress> parse_ip(std::string_view text);

// "aa:bb:cc:dd:ee:ff"
std::string format_mac(const std::array<std::uint8_t, 6>& mac);

}  // namespace flowpulse::core
