// The subcommands of the `flowpulse` binary. Each lives in its own file (cmd_<name>.cpp), takes the
// arguments after its name, prints its own --help, and returns the process exit code.
#pragma once

#include <span>
#include <string_view>

namespace flowpulse::cli {

using Args = std::span<char* const>;

int cmd_run(Args args);
int cmd_check_config(Args args);
int cmd_version(Args args);
int cmd_decode(Args args);
int cmd_replay(Args args);
int cmd_top(Args args);

// True when args hold -h or --help.
bool wants_help(Args args);

}  // namespace flowpulse::cli
