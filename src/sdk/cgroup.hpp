// cgroup v2 limits for this whole process (the SDK's Options::cpu_max / memory_max): a cgroup of
// its own under the cgroup2 mount, the limits written to it, and the process moved in. Undone when
// the object goes: the process moves back to where it was and the cgroup is removed.
#pragma once

#include <memory>
#include <string>

#include "core/result.hpp"

namespace flowpulse::sdk {

class CgroupLimit {
 public:
  // `parent`: a cgroup v2 directory to create the cgroup under; empty = the cgroup2 mount point.
  // An empty limit is not written. Errors say which file could not be written and why (no cgroup2
  // mount, the controller not enabled or bound to cgroup v1, no permission).
  static core::Result<std::unique_ptr<CgroupLimit>> apply(const std::string& parent,
                                                          const std::string& cpu_max,
                                                          const std::string& memory_max);
  ~CgroupLimit();
  CgroupLimit(const CgroupLimit&) = delete;
  CgroupLimit& operator=(const CgroupLimit&) = delete;

  const std::string& path() const noexcept { return path_; }

 private:
  CgroupLimit() = default;
  std::string path_;      // the cgroup created
  std::string previous_;  // the cgroup the process was in (absolute directory)
};

// The cgroup2 mount point from /proc/self/mountinfo, or an error when there is none.
core::Result<std::string> cgroup2_mount();

}  // namespace flowpulse::sdk
