// Minimal JSON writing for log lines and `flowpulse decode` output: string escaping only. The
// project writes JSON, it never parses it.
#pragma once

#include <string>
#include <string_view>

namespace flowpulse::core {

// Appends `s` to `out` as a quoted JSON string.
void append_json_string(std::string& out, std::string_view s);

}  // namespace flowpulse::core
