// The SDK as its users get it (issue 7): libflowpulse.so, its public headers and its pkg-config file.
//
// - An installed flowpulse (`meson install` into a DESTDIR) is enough to build tests/sdk/example.cpp
//   with `pkg-config --cflags --libs flowpulse` and run it: the .pc file names the library and the
//   include directory, and exactly the three public headers are installed.
// - The example meson builds (tests/sdk/example.cpp against flowpulse_dep) captures on lo, counts the
//   frames, and stops at its deadline or on SIGINT.
// - cgroup v2 limits (Options::cpu_max, memory_max): where the controller is available, the limit is
//   written and the process is moved into flowpulse-<pid> and back at stop(); where it is not (a host
//   whose cpu and memory controllers are bound to cgroup v1), start() fails and says so. Each case runs
//   in a forked child, so the test process is never moved.
// - Engine's contract: start() twice, stop() twice, wait_for(), the stop token, an unknown interface.
//
// Needs root (capture, cgroups): skipped without it, failed under CI=true.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "flowpulse/engine.hpp"
#include "test_support.hpp"

namespace flowpulse {
namespace {

namespace fs = std::filesystem;
using test::Process;
using test::TempDir;
using namespace std::chrono_literals;

#define REQUIRE_ROOT()                                                                   \
  if (geteuid() != 0) {                                                                  \
    if (test::in_ci()) FAIL() << "SDK tests need root (capture, cgroups) under CI=true"; \
    GTEST_SKIP() << "SDK tests need root (capture, cgroups)";                            \
  }

std::vector<std::string> split_words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// The first file named `name` under `root`, or an empty path.
fs::path find_file(const fs::path& root, const std::string& name) {
  for (const auto& e : fs::recursive_directory_iterator(root))
    if (e.is_regular_file() && e.path().filename() == name) return e.path();
  return {};
}

// A pkg-config file's variables (name=value lines), ${var} expanded, and its fields (Name: value).
struct PcFile {
  std::map<std::string, std::string> vars;
  std::map<std::string, std::string> fields;
};

PcFile parse_pc(const std::string& text) {
  PcFile pc;
  std::istringstream in(text);
  auto expand = [&](std::string v) {
    for (std::size_t at; (at = v.find("${")) != std::string::npos;) {
      const std::size_t end = v.find('}', at);
      if (end == std::string::npos) break;
      v.replace(at, end - at + 1, pc.vars[v.substr(at + 2, end - at - 2)]);
    }
    return v;
  };
  for (std::string line; std::getline(in, line);) {
    const std::size_t eq = line.find('='), colon = line.find(':');
    if (eq != std::string::npos && (colon == std::string::npos || eq < colon)) {
      pc.vars[line.substr(0, eq)] = expand(line.substr(eq + 1));
    } else if (colon != std::string::npos) {
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      pc.fields[line.substr(0, colon)] = value;  // unexpanded: the test checks ${libdir} etc.
    }
  }
  return pc;
}

// `p` (absolute) under `root`: where a DESTDIR install put it.
fs::path under(const fs::path& root, const std::string& p) { return root / fs::path(p).relative_path(); }

// ---------------------------------------------------------------------------------------------
// a. An installed flowpulse builds and runs tests/sdk/example.cpp through pkg-config.

TEST(SdkInstall, PkgConfigConsumerBuildsAndRunsTheExample) {
  REQUIRE_ROOT();
  REQUIRE_TOOL(meson, "meson");
  REQUIRE_TOOL(pkg_config, "pkg-config");
  REQUIRE_TOOL(gxx, "g++");
  TempDir dest;

  auto install = test::run({"env", "DESTDIR=" + dest.path().string(), meson, "install", "-C",
                            test::build_root().string(), "--no-rebuild", "--quiet"},
                           300'000);
  ASSERT_EQ(install.code, 0) << install.out << install.err;

  const fs::path pc_path = find_file(dest.path(), "flowpulse.pc");
  ASSERT_FALSE(pc_path.empty()) << "meson install put no flowpulse.pc under " << dest.path();
  const PcFile pc = parse_pc(test::read_text(pc_path));
  ASSERT_TRUE(pc.vars.count("includedir") && pc.vars.count("libdir")) << test::read_text(pc_path);
  const std::string libs = pc.fields.count("Libs") ? pc.fields.at("Libs") : "";
  const std::string cflags = pc.fields.count("Cflags") ? pc.fields.at("Cflags") : "";
  EXPECT_EQ(pc.fields.count("Name") ? pc.fields.at("Name") : "", "flowpulse");
  EXPECT_TRUE(contains(libs, "-lflowpulse")) << "Libs: " << libs;
  EXPECT_TRUE(contains(libs, "-L${libdir}")) << "Libs: " << libs;
  EXPECT_TRUE(contains(cflags, "-I${includedir}")) << "Cflags: " << cflags;

  // Exactly the public headers, where Cflags points (the example includes <flowpulse/engine.hpp>).
  const fs::path include_dir = under(dest.path(), pc.vars.at("includedir"));
  const fs::path lib_dir = under(dest.path(), pc.vars.at("libdir"));
  std::set<std::string> headers;
  if (fs::is_directory(include_dir / "flowpulse"))
    for (const auto& e : fs::directory_iterator(include_dir / "flowpulse"))
      headers.insert(e.path().filename().string());
  EXPECT_EQ(headers, (std::set<std::string>{"engine.hpp", "flow_record.hpp", "process.hpp"}));
  EXPECT_TRUE(fs::exists(lib_dir / "libflowpulse.so")) << lib_dir;

  // The flags pkg-config gives a consumer, with the DESTDIR as sysroot.
  auto flags = test::run({"env", "PKG_CONFIG_PATH=" + pc_path.parent_path().string(),
                          "PKG_CONFIG_SYSROOT_DIR=" + dest.path().string(), pkg_config, "--cflags", "--libs",
                          "flowpulse"});
  ASSERT_EQ(flags.code, 0) << flags.err;
  const std::vector<std::string> words = split_words(flags.out);
  auto has_word = [&](const std::string& w) {
    return std::find(words.begin(), words.end(), w) != words.end();
  };
  EXPECT_TRUE(has_word("-I" + include_dir.string())) << flags.out;
  EXPECT_TRUE(has_word("-L" + lib_dir.string())) << flags.out;
  EXPECT_TRUE(has_word("-lflowpulse")) << flags.out;

  // The example, compiled against the installed tree only (the source tree's include/ is not on
  // the command line) and linked as a shared-library consumer.
  const fs::path exe = dest / "sdk_example_installed";
  std::vector<std::string> compile = {gxx,
                                      "-std=c++20",
                                      "-Wall",
                                      "-Wextra",
                                      (test::source_root() / "tests" / "sdk" / "example.cpp").string(),
                                      "-o",
                                      exe.string()};
  compile.insert(compile.end(), words.begin(), words.end());
  auto built = test::run(compile, 300'000);
  ASSERT_EQ(built.code, 0) << "g++ against the installed SDK failed (flags: " << flags.out << "):\n"
                           << built.err;

  // It loads the installed library, not the build tree's.
  const std::string ld_path = "LD_LIBRARY_PATH=" + lib_dir.string();
  auto ldd = test::run({"env", ld_path, "ldd", exe.string()});
  EXPECT_TRUE(contains(ldd.out, "libflowpulse.so") && contains(ldd.out, lib_dir.string())) << ldd.out;

  // The library exports the SDK's API and nothing of the engine inside it (src/sdk/libflowpulse.map):
  // every symbol it defines for the dynamic linker is a member of flowpulse::Engine.
  REQUIRE_TOOL(nm, "nm");
  auto symbols = test::run({nm, "-D", "--defined-only", "-C", (lib_dir / "libflowpulse.so").string()});
  ASSERT_EQ(symbols.code, 0) << symbols.err;
  std::size_t engine_members = 0;
  std::istringstream lines(symbols.out);
  for (std::string line; std::getline(lines, line);) {
    // "<address> <type> <name>"
    const std::size_t name_at = line.find(' ', line.find(' ') + 1);
    const std::string name = name_at == std::string::npos ? line : line.substr(name_at + 1);
    if (name.rfind("flowpulse::Engine::", 0) == 0)
      ++engine_members;
    else
      ADD_FAILURE() << "libflowpulse.so exports an internal symbol: " << name;
  }
  EXPECT_TRUE(contains(symbols.out, "flowpulse::Engine::start()")) << symbols.out;
  EXPECT_GE(engine_members, 10u) << symbols.out;

  auto ran =
      test::run({"env", ld_path, exe.string(), "--device", "lo", "--seconds", "2", "--limit", "5"}, 30'000);
  EXPECT_EQ(ran.code, 0) << ran.out << ran.err;
  EXPECT_TRUE(contains(ran.out, "capturing on lo for 2 s")) << ran.out;
  EXPECT_TRUE(contains(ran.out, "--- final rank\n")) << ran.out;
  EXPECT_TRUE(contains(ran.out, "{\"load_counter\":")) << ran.out;
}

// ---------------------------------------------------------------------------------------------
// b. The example meson builds: counts loopback traffic, stops at its deadline and on SIGINT.

fs::path sdk_example() { return test::build_root() / "tests" / "sdk" / "sdk_example"; }

// Datagrams to a socket of this process on 127.0.0.1, every few milliseconds until destroyed.
class UdpNoise {
 public:
  UdpNoise() {
    rx_ = ::socket(AF_INET, SOCK_DGRAM, 0);
    tx_ = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(rx_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(rx_, reinterpret_cast<sockaddr*>(&a), &len);
    thread_ = std::thread([this, a] {
      const char payload[200] = {};
      char sink[2048];
      while (!done_.load()) {
        if (::sendto(tx_, payload, sizeof payload, 0, reinterpret_cast<const sockaddr*>(&a), sizeof a) > 0)
          sent_.fetch_add(1);
        while (::recv(rx_, sink, sizeof sink, MSG_DONTWAIT) > 0) {
        }
        std::this_thread::sleep_for(5ms);
      }
    });
  }
  ~UdpNoise() {
    done_.store(true);
    thread_.join();
    ::close(rx_);
    ::close(tx_);
  }
  std::uint64_t sent() const { return sent_.load(); }

 private:
  int rx_ = -1, tx_ = -1;
  std::atomic<bool> done_{false};
  std::atomic<std::uint64_t> sent_{0};
  std::thread thread_;
};

// The N of the example's closing {"load_counter":N,...} line, or -1.
long long load_counter_of(const std::string& out) {
  const std::string key = "{\"load_counter\":";
  const std::size_t at = out.rfind(key);
  if (at == std::string::npos) return -1;
  return std::stoll(out.substr(at + key.size()));
}

TEST(SdkExample, CountsLoopbackTrafficAndStopsAfterItsSeconds) {
  REQUIRE_ROOT();
  ASSERT_TRUE(fs::exists(sdk_example())) << sdk_example();
  TempDir dir;
  std::uint64_t sent = 0;
  Process example({sdk_example().string(), "--device", "lo", "--seconds", "2", "--limit", "100"}, dir.path(),
                  "example");
  const auto started = std::chrono::steady_clock::now();
  int code = -1;
  {
    UdpNoise noise;
    code = example.wait(30'000);
    sent = noise.sent();
  }
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_EQ(code, 0) << example.out() << example.err();
  EXPECT_GT(sent, 0u);
  EXPECT_GE(took, 1900ms);
  EXPECT_LT(took, 15s);
  const std::string out = example.out();
  EXPECT_TRUE(contains(out, "--- top 100 processes (last second)\n")) << out;
  EXPECT_TRUE(contains(out, "--- final rank\n")) << out;
  EXPECT_GT(load_counter_of(out), 0) << out;
  EXPECT_TRUE(contains(out, ",\"drops\":")) << out;
  // Both ends of the datagrams are this process's sockets: it is in the final rank.
  EXPECT_TRUE(contains(out, "\"pid\":" + std::to_string(::getpid()) + ",")) << out;
}

TEST(SdkExample, SigintStopsItEarlyWithItsSummary) {
  REQUIRE_ROOT();
  ASSERT_TRUE(fs::exists(sdk_example())) << sdk_example();
  TempDir dir;
  Process example({sdk_example().string(), "--device", "lo", "--seconds", "60", "--limit", "3"}, dir.path(),
                  "example");
  ASSERT_TRUE(example.wait_for_output("capturing on lo", 10'000)) << example.err();
  const auto sent_at = std::chrono::steady_clock::now();
  example.signal(SIGINT);
  EXPECT_EQ(example.wait(10'000), 0) << example.err();
  EXPECT_LT(std::chrono::steady_clock::now() - sent_at, 5s);
  EXPECT_TRUE(contains(example.out(), "--- final rank\n")) << example.out();
  EXPECT_GE(load_counter_of(example.out()), 0) << example.out();
}

TEST(SdkExample, BadArgumentsPrintUsageAndExit2) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{},
        {"--device", "lo"},
        {"--device", "lo", "--seconds", "x", "--limit", "1"},
        {"--device", "lo", "--seconds", "1", "--limit", "1", "--bogus", "1"}}) {
    std::vector<std::string> argv = {sdk_example().string()};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = test::run(argv, 10'000);
    EXPECT_EQ(r.code, 2) << r.out << r.err;
    EXPECT_TRUE(contains(r.err, "usage: sdk_example")) << r.err;
  }
}

// ---------------------------------------------------------------------------------------------
// c. cgroup v2 limits.

// Where cgroup2 is mounted ("" if nowhere), from /proc/self/mountinfo.
std::string cgroup2_mount() {
  std::ifstream in("/proc/self/mountinfo");
  for (std::string line; std::getline(in, line);) {
    const std::size_t dash = line.find(" - ");
    if (dash == std::string::npos || line.compare(dash + 3, 8, "cgroup2 ") != 0) continue;
    const auto fields = split_words(line.substr(0, dash));
    if (fields.size() >= 5) return fields[4];
  }
  return "";
}

bool controller_available(const std::string& mount, const std::string& controller) {
  const auto words = split_words(test::read_text(fs::path(mount) / "cgroup.controllers"));
  return std::find(words.begin(), words.end(), controller) != words.end();
}

// This process's cgroup v2 path ("0::PATH" in /proc/self/cgroup).
std::string own_cgroup() {
  std::ifstream in("/proc/self/cgroup");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("0::", 0) == 0) return line.substr(3);
  return "";
}

// Runs `child` in a forked process and returns what it reported (key -> value) and its pid.
// The child only gathers facts; the parent asserts.
struct ChildReport {
  int pid = -1;
  std::map<std::string, std::string> facts;
};

ChildReport in_child(const std::function<void(std::map<std::string, std::string>&)>& child) {
  int fds[2];
  if (::pipe(fds) != 0) return {};
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    std::map<std::string, std::string> facts;
    child(facts);
    std::string text;
    for (auto [k, v] : facts) {
      for (char& c : v)
        if (c == '\n') c = '|';
      text += k + "=" + v + "\n";
    }
    for (std::size_t off = 0; off < text.size();) {
      const ssize_t n = ::write(fds[1], text.data() + off, text.size() - off);
      if (n <= 0) break;
      off += static_cast<std::size_t>(n);
    }
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ChildReport r;
  r.pid = pid;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    const std::size_t eq = line.find('=');
    if (eq != std::string::npos) r.facts[line.substr(0, eq)] = line.substr(eq + 1);
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) r.facts["child_status"] = std::to_string(status);
  return r;
}

// Starts an engine on lo with `options`' limits in a child and reports what happened to its cgroup.
ChildReport start_with_limits(Options options, const std::string& mount, const std::string& limit_file) {
  return in_child([&](std::map<std::string, std::string>& f) {
    const std::string dir = mount + "/flowpulse-" + std::to_string(::getpid());
    f["before"] = own_cgroup();
    options.devices = {"lo"};
    Engine engine(options);
    const Status st = engine.start();
    f["started"] = st ? "yes" : "no";
    f["error"] = st.error;
    if (st) {
      f["limit"] = test::read_text(fs::path(dir) / limit_file);
      f["during"] = own_cgroup();
      engine.stop();
    }
    f["after"] = own_cgroup();
    f["dir_left"] = fs::exists(dir) ? "yes" : "no";
  });
}

struct LimitCase {
  const char* name;
  const char* controller;
  const char* file;      // the limit file in the cgroup
  const char* value;     // what the option is set to
  const char* readback;  // what the file reads afterwards
};

class SdkCgroup : public ::testing::TestWithParam<LimitCase> {};

TEST_P(SdkCgroup, LimitIsAppliedOrStartSaysWhyNot) {
  REQUIRE_ROOT();
  const LimitCase& c = GetParam();
  const std::string mount = cgroup2_mount();
  ASSERT_FALSE(mount.empty()) << "no cgroup2 mount in /proc/self/mountinfo";
  Options options;
  (std::string(c.controller) == "cpu" ? options.cpu_max : options.memory_max) = c.value;
  const std::string subtree_before = test::read_text(fs::path(mount) / "cgroup.subtree_control");
  const ChildReport r = start_with_limits(options, mount, c.file);
  ASSERT_EQ(r.facts.count("child_status"), 0u) << "the child died: " << r.facts.at("child_status");
  ASSERT_EQ(r.facts.count("started"), 1u) << "the child reported nothing";
  const auto& f = r.facts;
  if (controller_available(mount, c.controller)) {
    ASSERT_EQ(f.at("started"), "yes") << f.at("error");
    EXPECT_EQ(f.at("limit"), std::string(c.readback) + "|");
    // `mount` is the cgroup2 root here, so the cgroup the child was in is /flowpulse-<pid>.
    EXPECT_EQ(f.at("during"), "/flowpulse-" + std::to_string(r.pid));
  } else {
    EXPECT_EQ(f.at("started"), "no");
    EXPECT_TRUE(contains(f.at("error"), c.controller) && contains(f.at("error"), "controller"))
        << "cgroup.controllers of " << mount << " has no " << c.controller << "; error: " << f.at("error");
  }
  // Either way nothing is left behind: the process is where it was and the cgroup is gone, and
  // a controller the engine enabled for the mount's children is disabled again (when the mount has
  // no other child cgroup; with systemd's slices there the controllers were enabled already).
  EXPECT_EQ(f.at("after"), f.at("before"));
  EXPECT_EQ(f.at("dir_left"), "no");
  EXPECT_EQ(test::read_text(fs::path(mount) / "cgroup.subtree_control"), subtree_before);
}

INSTANTIATE_TEST_SUITE_P(
    Limits, SdkCgroup,
    ::testing::Values(LimitCase{"cpu_max", "cpu", "cpu.max", "50000 100000", "50000 100000"},
                      LimitCase{"memory_max", "memory", "memory.max", "256M", "268435456"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(SdkCgroupParent, AMissingParentIsAnErrorNamingIt) {
  REQUIRE_ROOT();
  const std::string parent = "/nonexistent/fp-no-such-cgroup-" + std::to_string(::getpid());
  for (const bool cpu : {true, false}) {
    Options options;
    options.cgroup_parent = parent;
    (cpu ? options.cpu_max : options.memory_max) = cpu ? "50000 100000" : "256M";
    const ChildReport r = in_child([&](std::map<std::string, std::string>& f) {
      options.devices = {"lo"};
      Engine engine(options);
      const Status st = engine.start();
      f["started"] = st ? "yes" : "no";
      f["error"] = st.error;
    });
    ASSERT_EQ(r.facts.count("started"), 1u) << "the child reported nothing";
    EXPECT_EQ(r.facts.at("started"), "no") << (cpu ? "cpu_max" : "memory_max");
    const std::string& error = r.facts.at("error");
    EXPECT_TRUE(contains(error, parent)) << error;
    // The reason is that the directory is not there, not a controller bound to cgroup v1.
    EXPECT_TRUE(contains(error, "No such file or directory") || contains(error, "does not exist")) << error;
  }
}

// ---------------------------------------------------------------------------------------------
// d. Engine's contract.

Options on_lo() {
  Options o;
  o.devices = {"lo"};
  return o;
}

TEST(SdkEngine, StartTwiceIsAnErrorAndStopTwiceIsFine) {
  REQUIRE_ROOT();
  Engine engine(on_lo());
  const Status first = engine.start();
  ASSERT_TRUE(first) << first.error;
  const Status second = engine.start();
  EXPECT_FALSE(second);
  EXPECT_TRUE(contains(second.error, "already running")) << second.error;
  EXPECT_TRUE(engine.running());  // the failed second start did not stop the first
  engine.stop();
  EXPECT_FALSE(engine.running());
  engine.stop();
  EXPECT_FALSE(engine.running());
}

TEST(SdkEngine, WaitForIsFalseWhileRunningAndTrueAfterStop) {
  REQUIRE_ROOT();
  Engine engine(on_lo());
  const Status st = engine.start();
  ASSERT_TRUE(st) << st.error;
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(engine.wait_for(100ms));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 95ms);
  engine.stop();
  EXPECT_TRUE(engine.wait_for(100ms));
  auto waited = std::async(std::launch::async, [&] { engine.wait(); });
  EXPECT_EQ(waited.wait_for(5s), std::future_status::ready);
}

TEST(SdkEngine, StopTokenStopsTheEngine) {
  REQUIRE_ROOT();
  std::stop_source source;
  Options options = on_lo();
  options.stop_token = source.get_token();
  Engine engine(options);
  const Status st = engine.start();
  ASSERT_TRUE(st) << st.error;
  EXPECT_TRUE(engine.running());
  auto waited = std::async(std::launch::async, [&] { engine.wait(); });
  EXPECT_EQ(waited.wait_for(200ms), std::future_status::timeout);  // still running
  source.request_stop();
  EXPECT_FALSE(engine.running());
  EXPECT_EQ(waited.wait_for(5s), std::future_status::ready);
  EXPECT_TRUE(engine.wait_for(0ms));
}

// The engine's log goes to Options::log_sink at Options::log_level and above, or to stderr without
// a sink. The engine logs "collector started" at info on every start (src/engine/collector.cpp).
TEST(SdkEngine, LogLinesGoToTheSinkAtTheLevelAskedOrToStderr) {
  REQUIRE_ROOT();
  const ChildReport r = in_child([](std::map<std::string, std::string>& f) {
    const TempDir dir;
    const int fd = ::open((dir / "stderr").c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || ::dup2(fd, STDERR_FILENO) < 0) return;  // the parent sees no facts
    auto stderr_size = [&] { return std::to_string(::lseek(fd, 0, SEEK_END)); };
    const std::pair<const char*, LogLevel> runs[] = {
        {"debug", LogLevel::debug}, {"warn", LogLevel::warn}, {"off", LogLevel::off}};
    for (const auto& [name, level] : runs) {
      std::mutex mu;
      std::vector<std::pair<LogLevel, std::string>> lines;
      Options o = on_lo();
      o.log_level = level;
      o.log_sink = [&](LogLevel l, std::string_view line) {
        std::lock_guard lock(mu);
        lines.emplace_back(l, std::string(line));
      };
      Engine engine(o);
      const Status st = engine.start();
      f[std::string(name) + ".error"] = st.error;
      engine.stop();
      std::lock_guard lock(mu);
      std::string started, mismatched;
      for (const auto& [l, line] : lines) {
        if (contains(line, "msg=\"collector started\"")) started += "x";
        // The level handed to the sink is the one the line names.
        static constexpr const char* names[] = {"debug", "info", "warn", "error", "off"};
        if (!contains(line, std::string("level=") + names[static_cast<int>(l)]) || line.rfind("ts=", 0) != 0)
          mismatched += line + "|";
      }
      f[std::string(name) + ".started_lines"] = started;
      f[std::string(name) + ".mismatched"] = mismatched;
      f[std::string(name) + ".stderr"] = stderr_size();
    }
    // No sink: the lines go to stderr.
    Options o = on_lo();
    o.log_level = LogLevel::info;
    Engine engine(o);
    f["stderr.error"] = engine.start().error;
    engine.stop();
    std::string text(static_cast<std::size_t>(::lseek(fd, 0, SEEK_END)), '\0');
    if (::pread(fd, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) text = "(unreadable)";
    f["stderr.text"] = text;
  });
  ASSERT_EQ(r.facts.count("child_status"), 0u) << "the child died: " << r.facts.at("child_status");
  ASSERT_EQ(r.facts.count("stderr.text"), 1u) << "the child reported nothing";
  const auto& f = r.facts;
  for (const char* run : {"debug", "warn", "off"}) {
    const std::string n = run;
    EXPECT_EQ(f.at(n + ".error"), "") << run;
    EXPECT_EQ(f.at(n + ".mismatched"), "") << run;
    EXPECT_EQ(f.at(n + ".stderr"), "0") << run << ": a sink was set, yet stderr got lines";
  }
  EXPECT_EQ(f.at("debug.started_lines"), "x");  // info is above debug: passed, once
  EXPECT_EQ(f.at("warn.started_lines"), "");    // info is below warn: held back
  EXPECT_EQ(f.at("off.started_lines"), "");
  EXPECT_EQ(f.at("stderr.error"), "");
  EXPECT_TRUE(contains(f.at("stderr.text"), "level=info msg=\"collector started\"")) << f.at("stderr.text");
}

TEST(SdkEngine, AnUnknownInterfaceIsAnErrorNamingIt) {
  REQUIRE_ROOT();
  Options options;
  options.devices = {"fp-nosuchif0"};
  Engine engine(options);
  const Status st = engine.start();
  EXPECT_FALSE(st);
  EXPECT_TRUE(contains(st.error, "fp-nosuchif0")) << st.error;
  EXPECT_FALSE(engine.running());
  EXPECT_TRUE(engine.wait_for(0ms));
}

}  // namespace
}  // namespace flowpulse
