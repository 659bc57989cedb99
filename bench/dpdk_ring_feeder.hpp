// The producer that keeps a net_ring port's RX side full for bench_dpdk_meter. net_ring with no
// arguments is a loopback (one rte_ring per queue: what its TX enqueues, its RX dequeues), so a
// thread on another core that tx_bursts into queue 0 feeds the worker that rx_bursts from it.
// `--vdev net_ring0` makes rings of 1,024; create_ring_port() makes the same PMD's port on a ring
// of any size (rte_eth_from_ring), deep enough to ride out the producer being descheduled for a
// few milliseconds on a busy machine.
//
// Two ways to feed it (RingFeed):
// - prebuilt: the mbufs are built once, one per frame, in a pool of their own, and sent over and
//   over in frame order: the producer moves pointers only, it never writes an mbuf per packet. Each
//   mbuf carries a large reference count, raised by the producer every `refill_passes` passes over
//   the frames, so the worker's free (rte_pktmbuf_free_bulk) only decrements it (an atomic) and
//   never returns it to the pool. With a million frames the worker meets every mbuf header cold, in
//   memory, and takes it with an atomic: harsher than a NIC.
// - recycled, as a NIC's RX queue: a pool of `pool_mbufs` that the worker frees into (reference
//   count 1, no atomic) and the producer takes back from, writing the next frame's bytes into each
//   mbuf as a NIC's DMA would; the header fields (lengths, offsets) were set once and stay. So per
//   packet one line of frame data comes from another agent, and the mbuf headers, few, stay warm.
//   The ring then holds at most `pool_mbufs` packets.
//
// This file's .cpp is the only one of the benchmark that sees DPDK's headers (as system headers,
// like src/io/dpdk); this header includes none.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <thread>
#include <vector>

#include "core/result.hpp"

struct rte_mbuf;
struct rte_mempool;

namespace flowpulse::bench {

struct RingFeederStats {
  std::uint64_t sent = 0;        // mbufs the port's TX took
  std::uint64_t tx_calls = 0;    // rte_eth_tx_burst calls
  std::uint64_t ring_full = 0;   // calls that found the ring full (took nothing)
  std::uint64_t passes = 0;      // full passes over the frames
  std::uint64_t pool_empty = 0;  // recycled: times every mbuf was in flight (the worker behind)
};

// A net_ring port whose TX and RX are one single-producer single-consumer ring of `size` slots (a
// power of two); returns its port id, as DpdkPort::open takes it. The ring lives as long as the
// process.
core::Result<std::string> create_ring_port(std::size_t size);

enum class RingFeed : std::uint8_t { prebuilt, recycled };

class RingFeeder {
 public:
  // `frames` is `frame_size`-byte frames back to back, sent in that order to (port_id, queue 0).
  // `pool_mbufs` is the recycled feed's pool size (ignored when prebuilt).
  static core::Result<std::unique_ptr<RingFeeder>> create(std::uint16_t port_id,
                                                          std::span<const std::uint8_t> frames,
                                                          std::size_t frame_size, RingFeed feed,
                                                          std::size_t pool_mbufs);
  ~RingFeeder();  // stops the thread and frees the pool: drain the port's RX first
  RingFeeder(const RingFeeder&) = delete;
  RingFeeder& operator=(const RingFeeder&) = delete;

  // Starts the producer thread, pinned to `cpu` (-1: not pinned), sending `burst` mbufs per call.
  core::Status start(int cpu, std::uint16_t burst);
  // Stops it and waits for it; stats() is then final.
  void stop();
  RingFeederStats stats() const noexcept { return stats_; }

 private:
  RingFeeder() = default;
  void run(std::uint16_t burst) noexcept;
  // Recycled feed: takes `count` mbufs from the pool and writes frames first, first + 1, ... into them; false
  // when the pool has fewer.
  bool stage(rte_mbuf** into, std::size_t first, std::uint16_t count) noexcept;

  static constexpr std::uint32_t refill_passes = 20'000;

  std::uint16_t port_id_ = 0;
  RingFeed feed_ = RingFeed::prebuilt;
  rte_mempool* pool_ = nullptr;
  std::vector<rte_mbuf*> mbufs_;      // prebuilt: one per frame
  std::vector<std::uint8_t> frames_;  // recycled: the frames, copied into mbufs as they are sent
  std::size_t frame_size_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  RingFeederStats stats_;  // written by the thread, read after stop()
};

}  // namespace flowpulse::bench
