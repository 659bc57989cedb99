#include "sdk/cgroup.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace flowpulse::sdk {
namespace {

core::Status write_text(const std::string& file, const std::string& text) {
  std::ofstream out(file);
  if (!out) return core::Error{"cannot open " + file + ": " + std::strerror(errno)};
  out << text;
  out.flush();
  if (!out) return core::Error{"cannot write '" + text + "' to " + file + ": " + std::strerror(errno)};
  return core::Ok{};
}

std::string read_text(const std::string& file) {
  std::ifstream in(file);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The process's cgroup v2 path relative to the mount ("0::/path" in /proc/self/cgroup).
std::string own_cgroup() {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("0::", 0) == 0) return line.substr(3);
  return "/";
}

bool has_word(const std::string& text, std::string_view word) {
  std::istringstream words(text);
  for (std::string w; words >> w;)
    if (w == word) return true;
  return false;
}

}  // namespace

core::Result<std::string> cgroup2_mount() {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    // "<id> <parent> <dev> <root> <mount point> <options> ... - <fstype> <source> <super options>"
    const std::size_t dash = line.find(" - ");
    if (dash == std::string::npos || line.compare(dash + 3, 8, "cgroup2 ") != 0) continue;
    std::istringstream fields(line.substr(0, dash));
    std::string id, parent, dev, root, mount;
    fields >> id >> parent >> dev >> root >> mount;
    return mount;
  }
  return core::Error{"no cgroup v2 hierarchy is mounted (see /proc/self/mountinfo)"};
}

core::Result<std::unique_ptr<CgroupLimit>> CgroupLimit::apply(const std::string& parent_in,
                                                              const std::string& cpu_max,
                                                              const std::string& memory_max) {
  std::string parent = parent_in;
  std::string mount;
  if (auto m = cgroup2_mount()) mount = *m;
  if (parent.empty()) {
    if (mount.empty()) return core::Error{"cgroup limits: " + cgroup2_mount().error()};
    parent = mount;
  }
  // The controllers the limits need must be available to children of `parent`.
  if (::access((parent + "/cgroup.controllers").c_str(), R_OK) != 0)
    return core::Error{"cgroup limits: cannot read " + parent + "/cgroup.controllers: " +
                       std::strerror(errno) + " (is " + parent + " a cgroup v2 directory?)"};
  const std::string available = read_text(parent + "/cgroup.controllers");
  // What is done is recorded in `c` as it is done, so that a failure part way is undone by its
  // destructor.
  std::unique_ptr<CgroupLimit> c(new CgroupLimit());
  c->parent_ = parent;
  for (const auto& [limit, controller] : {std::pair{cpu_max, "cpu"}, std::pair{memory_max, "memory"}}) {
    if (limit.empty()) continue;
    if (!has_word(available, controller)) {
      return core::Error{
          std::string("cgroup limits: the ") + controller + " controller is not available in " + parent +
          " (cgroup.controllers: '" + available.substr(0, available.find('\n')) +
          "'); on a host with cgroup v1 controllers mounted it is bound to v1 and cannot be used"};
    }
    if (has_word(read_text(parent + "/cgroup.subtree_control"), controller)) continue;
    if (auto st = write_text(parent + "/cgroup.subtree_control", std::string("+") + controller); !st.ok())
      return core::Error{"cgroup limits: enabling " + std::string(controller) + ": " + st.error()};
    c->enabled_.emplace_back(controller);
  }
  const std::string path = parent + "/flowpulse-" + std::to_string(::getpid());
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST)
    return core::Error{"cgroup limits: cannot create " + path + ": " + std::strerror(errno)};
  c->path_ = path;
  if (!cpu_max.empty())
    if (auto st = write_text(path + "/cpu.max", cpu_max); !st.ok())
      return core::Error{"cgroup limits: " + st.error()};
  if (!memory_max.empty())
    if (auto st = write_text(path + "/memory.max", memory_max); !st.ok())
      return core::Error{"cgroup limits: " + st.error()};
  const std::string previous = (mount.empty() ? parent : mount) + own_cgroup();
  if (auto st = write_text(path + "/cgroup.procs", std::to_string(::getpid())); !st.ok())
    return core::Error{"cgroup limits: " + st.error()};
  c->previous_ = previous;
  return c;
}

CgroupLimit::~CgroupLimit() {
  // Back where it was, then the (now empty) cgroup goes, then the controllers it enabled.
  if (!previous_.empty()) (void)write_text(previous_ + "/cgroup.procs", std::to_string(::getpid()));
  if (!path_.empty()) ::rmdir(path_.c_str());
  if (enabled_.empty()) return;
  // Only while no other cgroup is under the parent: disabling a controller takes it from every
  // child, and another program's cgroup there may rely on it.
  // (Nothing here throws: a destructor. A parent that cannot be listed counts as not empty.)
  std::error_code ec;
  for (std::filesystem::directory_iterator it(parent_, ec), end; it != end; it.increment(ec)) {
    if (ec || it->is_directory(ec)) return;
  }
  if (ec) return;
  for (const std::string& controller : enabled_)
    (void)write_text(parent_ + "/cgroup.subtree_control", "-" + controller);
}

}  // namespace flowpulse::sdk
