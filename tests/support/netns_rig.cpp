#include "netns_rig.hpp"

#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include "test_support.hpp"

namespace flowpulse::test {
namespace {

RunResult rig_script(const std::vector<std::string>& argv) { return run(argv, 30'000); }

}  // namespace

NetnsRig::NetnsRig(int index) {
  const int pid = static_cast<int>(getpid());
  name_ = "fpcap" + std::to_string(pid % 100000);  // "fp-" + name_ fits an interface name (15)
  if (index > 0) name_ += static_cast<char>('a' + index);
  subnet_ = (100 + pid % 150 + 17 * index) % 256;
  script_ = (source_root() / "scripts" / "netns-rig").string();
  rig_script({script_, "down", name_});  // a leftover of a killed run with the same pid
  const auto r = rig_script({script_, "up", name_, std::to_string(subnet_)});
  ok_ = r.code == 0;
  error_ = r.out + r.err;
}

NetnsRig::~NetnsRig() {
  const auto r = rig_script({script_, "down", name_});
  if (r.code != 0) std::fprintf(stderr, "netns-rig down %s failed: %s\n", name_.c_str(), r.err.c_str());
}

std::string NetnsRig::v4(int host) const {
  return "10.99." + std::to_string(subnet_) + "." + std::to_string(host);
}

std::string NetnsRig::v6(int host) const {
  return "fd99:0:0:" + std::to_string(subnet_) + "::" + std::to_string(host);
}

std::string NetnsRig::inject(const std::vector<Bytes>& frames, int per_ms) const {
  std::string error;
  // setns() moves only the calling thread, so the test's own threads stay in the root namespace.
  std::thread t([&] {
    const int ns = open(("/run/netns/" + name_).c_str(), O_RDONLY | O_CLOEXEC);
    if (ns < 0 || setns(ns, CLONE_NEWNET) != 0) {
      error = "setns " + name_ + ": " + std::strerror(errno);
      if (ns >= 0) close(ns);
      return;
    }
    close(ns);
    const int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);  // protocol 0: send only
    sockaddr_ll to{};
    to.sll_family = AF_PACKET;
    to.sll_ifindex = static_cast<int>(if_nametoindex("eth0"));
    if (fd < 0 || to.sll_ifindex == 0 || bind(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
      error = std::string("AF_PACKET socket on eth0 in ") + name_ + ": " + std::strerror(errno);
      if (fd >= 0) close(fd);
      return;
    }
    for (std::size_t i = 0; i < frames.size(); ++i) {
      const ssize_t n = send(fd, frames[i].data(), frames[i].size(), 0);
      if (n != static_cast<ssize_t>(frames[i].size())) {
        error = "send of frame " + std::to_string(i) + " (" + std::to_string(frames[i].size()) +
                " bytes): " + (n < 0 ? std::strerror(errno) : "short write");
        break;
      }
      if (per_ms > 0 && i % static_cast<std::size_t>(per_ms) == static_cast<std::size_t>(per_ms) - 1) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
    close(fd);
  });
  t.join();
  return error;
}

}  // namespace flowpulse::test
