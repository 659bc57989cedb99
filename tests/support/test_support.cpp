#include "test_support.hpp"

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include "flowpulse_build_config.hpp"

namespace flowpulse::test {

std::filesystem::path source_root() {
  if (const char* e = std::getenv("FLOWPULSE_SOURCE_ROOT")) return e;
  return FLOWPULSE_SOURCE_ROOT;
}

std::filesystem::path build_root() {
  if (const char* e = std::getenv("FLOWPULSE_BUILD_ROOT")) return e;
  return FLOWPULSE_BUILD_ROOT;
}

std::filesystem::path shared_data() { return source_root() / ".." / "shared" / "data"; }

std::vector<std::uint8_t> read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + p.string());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

}  // namespace flowpulse::test
