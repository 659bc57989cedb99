// `flowpulse check-config FILE`: validate a config file and print the effective configuration.
#include <cstdio>
#include <cstring>
#include <string>

#include "cli/commands.hpp"
#include "config/config.hpp"

namespace flowpulse::cli {

int cmd_check_config(Args args) {
  if (wants_help(args)) {
    std::printf(
        "usage: flowpulse check-config [--quiet] FILE\n\n"
        "Validates FILE and prints the effective configuration (every key, defaults filled in) as YAML.\n"
        "On an error prints one line 'FILE:LINE:COLUMN: KEY: what was expected' and exits 2.\n\n"
        "  -q, --quiet   print nothing when the file is valid\n");
    return 0;
  }
  bool quiet = false;
  const char* file = nullptr;
  for (char* a : args) {
    if (std::strcmp(a, "-q") == 0 || std::strcmp(a, "--quiet") == 0) {
      quiet = true;
    } else if (a[0] == '-') {
      std::fprintf(stderr, "flowpulse check-config: unknown option '%s'\n", a);
      return 2;
    } else if (file == nullptr) {
      file = a;
    } else {
      std::fprintf(stderr, "flowpulse check-config: one FILE only\n");
      return 2;
    }
  }
  if (file == nullptr) {
    std::fprintf(stderr, "flowpulse check-config: missing FILE; see 'flowpulse check-config --help'\n");
    return 2;
  }
  auto c = config::load_file(file);
  if (!c) {
    std::fprintf(stderr, "flowpulse: %s\n", c.error().c_str());
    return 2;
  }
  if (!quiet) std::fputs(config::to_yaml(*c).c_str(), stdout);
  return 0;
}

}  // namespace flowpulse::cli
