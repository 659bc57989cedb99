// Shared by the test suites: where the test data is, reading files, and the process and HTTP
// helpers the integration tests use to drive the real binary and real peers.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace flowpulse::test {

std::filesystem::path source_root();
std::filesystem::path build_root();
// ../shared/data relative to the project root, as the issues specify.
std::filesystem::path shared_data();
std::vector<std::uint8_t> read_file(const std::filesystem::path& p);

// True when running under CI (CI=true): tests that need root or a kernel feature must then run.
bool in_ci();

}  // namespace flowpulse::test
