// JSON text of the normalized records: one object per FlowRecord (every member, in declaration
// order, so output is stable line for line and diffs well), and one per InterfaceCounters with
// "kind":"interface_counters". Addresses and MACs are text, times integer nanoseconds, the record
// type and direction names. `flowpulse decode` prints these and `replay` reuses them; the key names
// are an interface, documented in docs/flow-record.md: change them only with a deprecation.
#pragma once

#include <string>

#include "flowpulse/flow_record.hpp"

namespace flowpulse::exporting {

const char* to_string(FlowType type) noexcept;
const char* to_string(FlowDirection direction) noexcept;

// Appends one JSON object (no newline).
void append_json(std::string& out, const FlowRecord& r);
void append_json(std::string& out, const InterfaceCounters& c);

}  // namespace flowpulse::exporting
