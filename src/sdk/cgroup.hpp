// cgroup v2 limits for this whole process (the SDK's Options::cpu_max / memory_max): a cgroup of
// its own under the cgroup2 mount, the limits written to it, and the process moved in. Undone when
// the object goes: the process moves back to where it was, the cgroup is removed, and the
// controllers it enabled in the parent's cgroup.subtree_control are disabled again (unless another
// cgroup is under the parent by then). A failed apply() undoes what it did.
#pragma once

#include <memory>
#include <string>
#include <vector>

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

  // Each is set once its step is done (empty: not done), for the destructor to undo.
  std::string parent_;                // the directory the cgroup is made under
  std::vector<std::string> enabled_;  // controllers enabled in parent_'s cgroup.subtree_control
  std::string path_;                  // the cgroup created
  std::string previous_;              // the cgroup the process was in, once it has moved
};

// The cgroup2 mount point from /proc/self/mountinfo, or an error when there is none.
core::Result<std::string> cgroup2_mount();

}  // namespace flowpulse::sdk
