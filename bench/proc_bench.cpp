// Process attribution's refresh with many open sockets (issue 7: 100k sockets under 100 ms).
//
// A socket farm of child processes holds the sockets ($FLOWPULSE_BENCH_SOCKETS, default 100000):
//   udp: unconnected UDP sockets bound to distinct 127.1.<child>.<n>:<port>;
//   tcp: connected TCP pairs over loopback (client and accepted end in the same child), half as
//        many pairs as sockets, plus one listener per child.
// Children, not this process, hold them because RLIMIT_NOFILE's hard limit may be lower than the
// count and cannot be raised without CAP_SYS_RESOURCE: each child takes what its limit allows. The
// limit and the split are printed in the benchmark context.
//
//   SockDiag/netlink, SockDiag/procfs: one dump of every TCP and UDP socket of the namespace;
//     SockDiag/netlink_per_family/tcp: the same with one TCP dump per family (not one walk).
//   SocketTable/refresh: one steady-state SocketTable::refresh (processes known; the default
//     bounded re-reads; the dump; owners; the index). Counters split it by phase; cold_ms is the
//     first refresh, which reads every fd of every process once.
//     SocketTable/refresh_connected_every10/tcp: the mean refresh when connected TCP sockets are
//     dumped every 10th refresh only (what Attribution does when TCP closes are traced).
//   SocketTable/lookup: one lookup of a random farm socket's 5-tuple.
// `--hold-farm tcp|udp` instead builds one farm and holds it (see hold_farm).
// Time is wall time per refresh; CPU is this thread's CPU time (user + system: the kernel's dump
// work runs in the refresh's recvmmsg calls and is included).
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "proc/sock_diag.hpp"
#include "proc/socket_table.hpp"

namespace {

using namespace flowpulse;

enum class Kind { udp, tcp };

std::size_t wanted_sockets() {
  if (const char* e = std::getenv("FLOWPULSE_BENCH_SOCKETS")) return static_cast<std::size_t>(std::atol(e));
  return 100'000;
}

// Child: opens `count` sockets, reports how many it got through `report`, then waits to be killed
// (or dies with the parent).
[[noreturn]] void farm_child(Kind kind, int index, std::size_t count, int report) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  std::size_t opened = 0;
  auto addr = [&](int third, int fourth, int port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl((127U << 24) | (static_cast<unsigned>(third) << 16) |
                              (static_cast<unsigned>(index) << 8) | static_cast<unsigned>(fourth));
    return a;
  };
  if (kind == Kind::udp) {
    for (std::size_t k = 0; k < count; ++k) {
      const int fd = socket(AF_INET, SOCK_DGRAM, 0);
      if (fd < 0) break;
      const sockaddr_in a = addr(1, 1 + static_cast<int>(k / 50'000), 10'000 + static_cast<int>(k % 50'000));
      if (bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
        close(fd);
        break;
      }
      ++opened;
    }
  } else {
    const int listener = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a = addr(2, 1, 0);
    if (listener >= 0 && bind(listener, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0 &&
        listen(listener, 1024) == 0) {
      socklen_t len = sizeof a;
      getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len);
      ++opened;
      while (opened + 2 <= count) {
        const int c = socket(AF_INET, SOCK_STREAM, 0);
        if (c < 0) break;
        if (connect(c, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
          close(c);
          break;
        }
        const int s = accept(listener, nullptr, nullptr);
        if (s < 0) {
          close(c);
          break;
        }
        opened += 2;
      }
    }
  }
  const std::uint64_t n = opened;
  (void)!write(report, &n, sizeof n);
  close(report);
  for (;;) pause();
}

class SocketFarm {
 public:
  SocketFarm(Kind kind, std::size_t total) : kind_(kind) {
    rlimit rl{};
    getrlimit(RLIMIT_NOFILE, &rl);
    hard_limit_ = rl.rlim_max;
    const std::size_t per_child =
        std::min<std::size_t>(rl.rlim_max > 256 ? static_cast<std::size_t>(rl.rlim_max) - 128 : 128,
                              kind == Kind::udp ? 49'000 : 16'000);
    for (int i = 0; sockets_ < total && i < 250; ++i) {
      const std::size_t n = std::min(per_child, total - sockets_);
      int fds[2];
      if (pipe(fds) != 0) break;
      const pid_t pid = fork();
      if (pid == 0) {
        close(fds[0]);
        farm_child(kind, i, n, fds[1]);
      }
      close(fds[1]);
      if (pid < 0) {
        close(fds[0]);
        break;
      }
      children_.push_back(pid);
      std::uint64_t got = 0;
      if (read(fds[0], &got, sizeof got) != sizeof got) got = 0;
      close(fds[0]);
      sockets_ += got;
      if (got + 1 < n)
        break;  // out of ports, memory or fds: stop here, report what there is (a TCP
                // child may fall one short: pairs plus one listener)
    }
  }
  ~SocketFarm() {
    for (const pid_t pid : children_) kill(pid, SIGKILL);
    for (const pid_t pid : children_) waitpid(pid, nullptr, 0);
  }
  SocketFarm(const SocketFarm&) = delete;
  SocketFarm& operator=(const SocketFarm&) = delete;

  Kind kind() const { return kind_; }
  std::size_t sockets() const { return sockets_; }
  std::size_t children() const { return children_.size(); }
  std::uint64_t hard_limit() const { return hard_limit_; }

 private:
  Kind kind_;
  std::vector<pid_t> children_;
  std::size_t sockets_ = 0;
  std::uint64_t hard_limit_ = 0;
};

std::unique_ptr<SocketFarm> farm;

SocketFarm& farm_of(Kind kind) {
  if (!farm || farm->kind() != kind) {
    farm.reset();
    farm = std::make_unique<SocketFarm>(kind, wanted_sockets());
    std::fprintf(stderr,
                 "socket farm: %zu %s sockets in %zu child processes (RLIMIT_NOFILE hard limit %llu per "
                 "process%s)\n",
                 farm->sockets(), kind == Kind::udp ? "UDP" : "TCP", farm->children(),
                 static_cast<unsigned long long>(farm->hard_limit()),
                 farm->hard_limit() < wanted_sockets() ? ", too low for one process: split" : "");
  }
  return *farm;
}

// This thread's user and system CPU time, in ms.
struct ThreadCpu {
  double user_ms = 0, sys_ms = 0;
  static ThreadCpu now() {
    rusage ru{};
    getrusage(RUSAGE_THREAD, &ru);
    auto ms = [](const timeval& tv) {
      return static_cast<double>(tv.tv_sec) * 1e3 + static_cast<double>(tv.tv_usec) / 1e3;
    };
    return {ms(ru.ru_utime), ms(ru.ru_stime)};
  }
};

void add_cpu_counters(benchmark::State& state, const ThreadCpu& start) {
  const ThreadCpu end = ThreadCpu::now();
  const double n = static_cast<double>(state.iterations());
  state.counters["user_ms"] = (end.user_ms - start.user_ms) / n;
  state.counters["sys_ms"] = (end.sys_ms - start.sys_ms) / n;
}

void add_farm_counters(benchmark::State& state, const SocketFarm& f) {
  state.counters["farm_sockets"] = static_cast<double>(f.sockets());
  state.counters["farm_children"] = static_cast<double>(f.children());
}

void bm_dump(benchmark::State& state, Kind kind, proc::SockDiag::Mode mode, bool tcp_one_walk) {
  SocketFarm& f = farm_of(kind);
  auto diag = proc::SockDiag::open(mode);
  if (!diag) {
    state.SkipWithError(diag.error().c_str());
    return;
  }
  std::vector<proc::SocketEntry> out;
  out.reserve(f.sockets() + 65536);
  proc::DumpFilter filter;
  filter.tcp_one_walk = tcp_one_walk;
  const ThreadCpu cpu = ThreadCpu::now();
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores): the benchmark loop idiom
    out.clear();
    auto st = diag->dump(out, filter);
    if (!st.ok()) {
      state.SkipWithError(st.error().c_str());
      return;
    }
    benchmark::DoNotOptimize(out.data());
  }
  add_cpu_counters(state, cpu);
  state.counters["sockets"] = static_cast<double>(out.size());
  add_farm_counters(state, f);
}

void bm_refresh(benchmark::State& state, Kind kind, std::size_t tcp_connected_dump_every) {
  SocketFarm& f = farm_of(kind);
  proc::SocketTableOptions options;
  options.tcp_connected_dump_every = tcp_connected_dump_every;
  auto table = proc::SocketTable::open(options);
  if (!table) {
    state.SkipWithError(table.error().c_str());
    return;
  }
  std::uint64_t now = core::monotonic_ns();
  const std::uint64_t cold_start = core::monotonic_ns();
  if (auto st = table->refresh(now); !st.ok()) {
    state.SkipWithError(st.error().c_str());
    return;
  }
  const double cold_ms = static_cast<double>(core::monotonic_ns() - cold_start) / 1e6;
  double process_ns = 0, dump_ns = 0, resolve_ns = 0, index_ns = 0;
  std::size_t max_fds = 0;
  std::uint64_t max_total_ns = 0;
  const ThreadCpu cpu = ThreadCpu::now();
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores): the benchmark loop idiom
    now += 1'000'000'000ULL;
    if (auto st = table->refresh(now); !st.ok()) {
      state.SkipWithError(st.error().c_str());
      return;
    }
    const auto& s = table->last_refresh();
    process_ns += static_cast<double>(s.process_ns);
    dump_ns += static_cast<double>(s.dump_ns);
    resolve_ns += static_cast<double>(s.resolve_ns);
    index_ns += static_cast<double>(s.index_ns);
    max_fds = std::max(max_fds, table->processes().last_refresh().fds_read);
    max_total_ns = std::max(max_total_ns, s.total_ns);
  }
  add_cpu_counters(state, cpu);
  const double n = static_cast<double>(state.iterations()) * 1e6;
  const auto& s = table->last_refresh();
  state.counters["sockets"] = static_cast<double>(s.sockets);
  state.counters["owned"] = static_cast<double>(s.owned);
  state.counters["cold_ms"] = cold_ms;
  state.counters["process_ms"] = process_ns / n;
  state.counters["dump_ms"] = dump_ns / n;
  state.counters["resolve_ms"] = resolve_ns / n;
  state.counters["index_ms"] = index_ns / n;
  state.counters["max_fds_read"] = static_cast<double>(max_fds);
  state.counters["max_ms"] = static_cast<double>(max_total_ns) / 1e6;
  add_farm_counters(state, f);
}

void bm_lookup(benchmark::State& state, Kind kind) {
  SocketFarm& f = farm_of(kind);
  auto table = proc::SocketTable::open();
  if (!table) {
    state.SkipWithError(table.error().c_str());
    return;
  }
  const std::uint64_t now = core::monotonic_ns();
  if (auto st = table->refresh(now); !st.ok()) {
    state.SkipWithError(st.error().c_str());
    return;
  }
  struct Tuple {
    std::uint8_t proto;
    IpAddress local, remote;
    std::uint16_t lport, rport;
  };
  std::vector<Tuple> tuples;
  for (const auto& e : table->sockets())
    tuples.push_back({e.proto, e.local, e.remote, e.local_port, e.remote_port});
  std::shuffle(tuples.begin(), tuples.end(), std::mt19937(7));
  tuples.resize(std::min<std::size_t>(tuples.size(), 65536));
  std::size_t i = 0, hits = 0;
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores): the benchmark loop idiom
    const Tuple& t = tuples[i++ & (tuples.size() - 1)];
    const auto o = table->lookup(t.proto, t.local, t.lport, t.remote, t.rport, now);
    hits += o.has_value() ? 1 : 0;
    benchmark::DoNotOptimize(o);
  }
  state.counters["hit_ratio"] = static_cast<double>(hits) / static_cast<double>(state.iterations());
  add_farm_counters(state, f);
}

}  // namespace

// `bench_proc --hold-farm tcp|udp`: builds the farm, prints "ready SOCKETS" on stdout and holds it
// until stdin closes or a signal ends it, for a whole tool to be measured beside it
// (bench/attribution_bench.sh --farm).
int hold_farm(const char* kind_name) {
  const std::string k = kind_name;
  if (k != "tcp" && k != "udp") {
    std::fprintf(stderr, "bench_proc: --hold-farm takes tcp or udp, not '%s'\n", kind_name);
    return 2;
  }
  SocketFarm& f = farm_of(k == "tcp" ? Kind::tcp : Kind::udp);
  std::printf("ready %zu\n", f.sockets());
  std::fflush(stdout);
  char c;
  while (read(STDIN_FILENO, &c, 1) > 0) {
  }
  farm.reset();
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "--hold-farm") == 0) return hold_farm(argv[2]);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  benchmark::AddCustomContext("rlimit_nofile_hard", std::to_string(rl.rlim_max));
  benchmark::AddCustomContext("farm_sockets_wanted", std::to_string(wanted_sockets()));
  using proc::SockDiag;
  // Registered kind by kind, so the farm is built once per kind.
  for (const Kind kind : {Kind::udp, Kind::tcp}) {
    const std::string k = kind == Kind::udp ? "udp" : "tcp";
    benchmark::RegisterBenchmark(("SockDiag/netlink/" + k).c_str(), bm_dump, kind,
                                 SockDiag::Mode::netlink_only, true)
        ->Unit(benchmark::kMillisecond)
        ->Repetitions(5);
    if (kind == Kind::tcp)  // what one dump per family costs (the TCP default is one walk for both)
      benchmark::RegisterBenchmark("SockDiag/netlink_per_family/tcp", bm_dump, kind,
                                   SockDiag::Mode::netlink_only, false)
          ->Unit(benchmark::kMillisecond)
          ->Repetitions(5);
    benchmark::RegisterBenchmark(("SockDiag/procfs/" + k).c_str(), bm_dump, kind, SockDiag::Mode::procfs_only,
                                 true)
        ->Unit(benchmark::kMillisecond)
        ->Repetitions(5);
    benchmark::RegisterBenchmark(("SocketTable/refresh/" + k).c_str(), bm_refresh, kind, 1)
        ->Unit(benchmark::kMillisecond)
        ->Repetitions(7);
    if (kind == Kind::tcp)  // with closes traced: connected TCP dumped every 10th refresh (the mean)
      benchmark::RegisterBenchmark("SocketTable/refresh_connected_every10/tcp", bm_refresh, kind, 10)
          ->Unit(benchmark::kMillisecond)
          ->Iterations(50)
          ->Repetitions(5);
    benchmark::RegisterBenchmark(("SocketTable/lookup/" + k).c_str(), bm_lookup, kind)->Repetitions(3);
  }
  benchmark::RunSpecifiedBenchmarks();
  farm.reset();
  benchmark::Shutdown();
  return 0;
}
