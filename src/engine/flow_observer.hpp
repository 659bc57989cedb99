// What process attribution (or any other per-flow consumer on the stats core's side) sees of the
// metered traffic, without a dependency from the engine on it:
//   - once per tick, every 5-tuple the capture workers metered since the last tick, with its bytes
//     and packets (FlowTable::feed, handed over with the shard: no lock, no copy on the worker);
//   - as soon as a capture worker meters the first packet of a TCP or UDP flow, its 5-tuple, on a
//     single-producer ring per worker, so that a socket that lives for a few milliseconds can still
//     be looked up while it exists. A full ring drops the notice (counted); the flow is then only
//     resolved at the tick, like any other.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>

#include "flowpulse/flow_record.hpp"

namespace flowpulse::engine {

struct FiveTuple {
  IpAddress src;
  IpAddress dst;
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
  std::uint8_t proto = 0;
};

struct FlowDelta {
  FiveTuple flow;
  std::uint64_t bytes = 0;  // wire (frame) bytes
  std::uint64_t packets = 0;
};

// Wakes a consumer that sleeps until there is work (new flows, a tick, stop): a producer pays one
// relaxed load when the consumer is awake, and one futex wake when it sleeps. Consumer:
//   const auto b = bell.arm(); if (nothing to do) bell.wait(b); bell.disarm();
class Doorbell {
 public:
  // Producers of new flows: wakes the consumer if it is (about to be) asleep.
  void ring() noexcept {
    if (armed_.load() && armed_.exchange(false)) wake();  // seq_cst: ordered after the ring's head store
  }
  // Always wakes (ticks, stop).
  void wake() noexcept {
    bell_.fetch_add(1);
    bell_.notify_all();
  }
  std::uint32_t arm() noexcept {
    const std::uint32_t b = bell_.load();
    armed_.store(true);
    return b;
  }
  void wait(std::uint32_t b) const noexcept { bell_.wait(b); }
  void disarm() noexcept { armed_.store(false); }

 private:
  std::atomic<bool> armed_{false};
  std::atomic<std::uint32_t> bell_{0};
};

// Single producer (a capture worker), single consumer (the observer's thread). Wait-free both ways.
class NewFlowRing {
 public:
  explicit NewFlowRing(Doorbell* bell = nullptr, std::size_t capacity_pow2 = 4096)
      : mask_(capacity_pow2 - 1), slots_(new FiveTuple[capacity_pow2]), bell_(bell) {}

  bool push(const FiveTuple& t) noexcept {
    const std::uint64_t head = head_.load(std::memory_order_relaxed);
    if (head - tail_.load(std::memory_order_acquire) > mask_) {
      dropped_.store(dropped_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      return false;
    }
    slots_[head & mask_] = t;
    head_.store(head + 1, std::memory_order_seq_cst);
    if (bell_ != nullptr) bell_->ring();
    return true;
  }
  bool empty() const noexcept {
    return tail_.load(std::memory_order_relaxed) == head_.load(std::memory_order_seq_cst);
  }
  bool pop(FiveTuple& out) noexcept {
    const std::uint64_t tail = tail_.load(std::memory_order_relaxed);
    if (tail == head_.load(std::memory_order_acquire)) return false;
    out = slots_[tail & mask_];
    tail_.store(tail + 1, std::memory_order_release);
    return true;
  }
  std::uint64_t dropped() const noexcept { return dropped_.load(std::memory_order_relaxed); }

 private:
  std::uint64_t mask_;
  std::unique_ptr<FiveTuple[]> slots_;
  Doorbell* bell_;
  alignas(64) std::atomic<std::uint64_t> head_{0};
  alignas(64) std::atomic<std::uint64_t> tail_{0};
  std::atomic<std::uint64_t> dropped_{0};
};

class FlowObserver {
 public:
  virtual ~FlowObserver() = default;
  // The ring capture worker `worker` pushes new flows to (null: it pushes none). Called before the
  // workers start; the ring must outlive them.
  virtual NewFlowRing* new_flow_ring(unsigned worker) = 0;
  // On the stats core, once per tick, for each retired shard of a capture worker. `lost` is what
  // did not fit in the shard's feed, by protocol (only `flow.proto` set): the observer charges
  // it as unknown, so it is never dropped from the totals.
  virtual void on_flows(std::span<const FlowDelta> flows, std::span<const FlowDelta> lost,
                        std::uint64_t now_ns) = 0;
  // On the stats core, after every shard of a tick was handed over.
  virtual void on_tick(std::uint64_t now_ns) = 0;
};

}  // namespace flowpulse::engine
