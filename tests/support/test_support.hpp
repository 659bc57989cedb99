// Shared by the test suites: where the test data is, reading files, and the process and HTTP
// helpers the integration tests use to drive the real binary and real peers.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
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

namespace flowpulse::test {

// A directory removed (with its contents) when the object goes.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

void write_file(const std::filesystem::path& p, const std::string& text);
std::string read_text(const std::filesystem::path& p);

// A socket address for an IPv4 or IPv6 address in text ("::1" has a colon) and a port; `len` gets
// its length for bind/connect.
sockaddr_storage make_sockaddr(const std::string& addr, int port, socklen_t& len);

// The local port (host order) of a socket fd, IPv4 or IPv6; 0 when it has none.
std::uint16_t local_port(int fd);
// The inode of a socket fd, as /proc/<pid>/fd and sock_diag name it.
std::uint64_t inode_of(int fd);

// A free port on loopback for `type` (SOCK_STREAM or SOCK_DGRAM), found by binding port 0.
std::uint16_t free_port(int type);

// A child process with stdout and stderr captured to files in `dir`. The destructor kills it
// (SIGKILL) if it still runs, by its own PID only.
class Process {
 public:
  Process(std::vector<std::string> argv, const std::filesystem::path& dir, const std::string& name);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  int pid() const { return pid_; }
  bool running();
  void signal(int sig);
  // Waits for exit; returns the exit code, 128+signal if killed, or -1 on timeout.
  int wait(int timeout_ms);
  std::string out() const;
  std::string err() const;
  // Waits until `needle` appears in stdout or stderr; false on timeout or exit.
  bool wait_for_output(const std::string& needle, int timeout_ms);

 private:
  int pid_ = -1;
  int status_ = -1;
  std::filesystem::path out_, err_;
};

// Runs a command to completion (stdout, stderr, exit code).
struct RunResult {
  int code;
  std::string out;
  std::string err;
};
RunResult run(const std::vector<std::string>& argv, int timeout_ms = 60'000);

// The built flowpulse binary (FLOWPULSE_BINARY, set by meson for the integration suite).
std::string flowpulse_binary();
// The path of a tool, or "": PATH, then /usr/sbin and /sbin (pmacctd and softflowd live there and
// are often not on a user's PATH).
std::string find_tool(const std::string& name);
// Whether find_tool finds `tool`.
bool have_tool(const std::string& tool);

// HTTP GET over loopback. status 0 = could not connect.
struct HttpResponse {
  int status = 0;
  std::string headers;
  std::string body;
};
HttpResponse http_get(const std::string& host, std::uint16_t port, const std::string& path,
                      int timeout_ms = 5000);

// Prometheus text format, parsed strictly enough for tests: every sample line as name, labels and
// value; comment lines (# HELP / # TYPE) recorded per name.
struct Sample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;
  double value;
  std::string label(const std::string& key) const;
};
struct Exposition {
  std::vector<Sample> samples;
  std::vector<std::pair<std::string, std::string>> types;  // name -> counter/gauge/...
  // Sum of the samples named `name` whose labels include all of `match`.
  double sum(const std::string& name,
             const std::vector<std::pair<std::string, std::string>>& match = {}) const;
  bool has(const std::string& name) const;
};
// Fails (returns nullopt and the line in `error`) on a line that is not valid text format.
std::optional<Exposition> parse_exposition(const std::string& text, std::string* error = nullptr);

}  // namespace flowpulse::test

// Finds a tool into `var`, or skips the test, or fails it under CI=true (tests must run there).
#define REQUIRE_TOOL(var, name)                                                                   \
  const std::string var = ::flowpulse::test::find_tool(name);                                     \
  if (var.empty()) {                                                                              \
    if (::flowpulse::test::in_ci()) FAIL() << name << " is required under CI=true but not found"; \
    GTEST_SKIP() << name << " not installed";                                                     \
  }
