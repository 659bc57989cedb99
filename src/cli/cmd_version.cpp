// `flowpulse version`: the version and which optional parts were built in.
#include <cstdio>

#include "cli/commands.hpp"
#include "flowpulse_build_config.hpp"

namespace flowpulse::cli {

int cmd_version(Args args) {
  if (wants_help(args)) {
    std::printf(
        "usage: flowpulse version\n\nPrints the version and the optional parts built in (DPDK, AF_XDP).\n");
    return 0;
  }
  std::printf("flowpulse %s (dpdk: %s, afxdp: %s)\n", FLOWPULSE_VERSION, FLOWPULSE_HAVE_DPDK ? "yes" : "no",
              FLOWPULSE_HAVE_AFXDP ? "yes" : "no");
  return 0;
}

}  // namespace flowpulse::cli
