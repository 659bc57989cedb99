// flowpulse: the command-line entry point. Dispatches to one subcommand per file (commands.hpp).
#include <cstdio>
#include <cstring>
#include <string_view>

#include "cli/commands.hpp"

namespace flowpulse::cli {
namespace {

struct Command {
  std::string_view name;
  int (*run)(Args);
  std::string_view summary;
};

int cmd_help(Args args);

constexpr Command commands[] = {
    {"run", cmd_run, "run the collector: UDP listeners, capture sources, /metrics"},
    {"check-config", cmd_check_config, "validate a config file and print the effective configuration"},
    {"decode", cmd_decode, "decode flow exports from pcap or payload files, one JSON record per line"},
    {"replay", cmd_replay, "run the whole pipeline over a capture and print the final flow metrics"},
    {"top", cmd_top, "show which local processes send and receive how much, live (like nethogs)"},
    {"version", cmd_version, "print the version and the parts built in"},
    {"help", cmd_help, "show this help, or the help of a command"},
};

void usage(std::FILE* out) {
  std::fprintf(out,
               "flowpulse - flow collector, packet meter and per-process traffic (NetFlow v5/v9, IPFIX, "
               "sFlow v5 -> Prometheus)\n\n"
               "usage: flowpulse COMMAND [OPTIONS]\n\ncommands:\n");
  for (const auto& c : commands) {
    std::fprintf(out, "  %-14.*s %.*s\n", static_cast<int>(c.name.size()), c.name.data(),
                 static_cast<int>(c.summary.size()), c.summary.data());
  }
  std::fprintf(out, "\n'flowpulse COMMAND --help' shows a command's options.\n");
}

int cmd_help(Args args) {
  if (args.empty()) {
    usage(stdout);
    return 0;
  }
  for (const auto& c : commands) {
    if (c.name == args[0] && c.run != cmd_help) {
      char help[] = "--help";
      char* const argv[] = {help};
      return c.run(Args(argv, 1));
    }
  }
  std::fprintf(stderr, "flowpulse: unknown command '%s'; see 'flowpulse help'\n", args[0]);
  return 2;
}

}  // namespace

bool wants_help(Args args) {
  for (char* a : args) {
    if (std::strcmp(a, "-h") == 0 || std::strcmp(a, "--help") == 0) return true;
  }
  return false;
}

}  // namespace flowpulse::cli

int main(int argc, char** argv) {
  using namespace flowpulse::cli;
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  std::string_view name = argv[1];
  if (name == "-h" || name == "--help") name = "help";
  if (name == "--version" || name == "-V") name = "version";
  for (const auto& c : commands) {
    if (c.name == name) return c.run(Args(argv + 2, static_cast<std::size_t>(argc - 2)));
  }
  std::fprintf(stderr, "flowpulse: unknown command '%s'; see 'flowpulse help'\n", argv[1]);
  return 2;
}
