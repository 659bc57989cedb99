// A network namespace joined to the root namespace by a veth pair (scripts/netns-rig), for the tests
// of live capture paths: traffic sent from inside the namespace arrives on the root-side end, and
// nothing else uses the link. The rig is removed when the object goes, also when a test fails half-way.
// Needs root.
#pragma once

#include <string>
#include <vector>

#include "bytes.hpp"

namespace flowpulse::test {

class NetnsRig {
 public:
  // Namespace "fpcap<pid>" (and "fpcap<pid>b", "c", ... for `index` 1, 2, ...: a second rig in one
  // process), subnet derived from the pid and index so parallel runs do not share routes. A
  // leftover of a killed run with the same name is removed first.
  explicit NetnsRig(int index = 0);
  ~NetnsRig();
  NetnsRig(const NetnsRig&) = delete;
  NetnsRig& operator=(const NetnsRig&) = delete;

  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  const std::string& name() const { return name_; }
  // The root-side end of the veth pair (the capture interface); the namespace's end is "eth0".
  std::string outer() const { return "fp-" + name_; }
  // Host 1 is the root-side end, host 2 the namespace's.
  std::string v4(int host) const;
  std::string v6(int host) const;

  // Writes each frame, as it is, out of the namespace's end (an AF_PACKET socket on eth0 opened by a
  // thread that joined the namespace), so it arrives on outer() as it would from a host on the link.
  // Paced at `per_ms` frames per millisecond: veth's XDP ring holds 256 frames and the tests count
  // exactly, they do not measure capacity. Returns "" or what failed.
  std::string inject(const std::vector<Bytes>& frames, int per_ms = 32) const;

 private:
  std::string name_, script_, error_;
  int subnet_ = 0;
  bool ok_ = false;
};

}  // namespace flowpulse::test
