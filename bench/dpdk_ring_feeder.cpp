// The net_ring producer of bench_dpdk_meter; DPDK's headers are seen here only (as system headers).
#include "dpdk_ring_feeder.hpp"

#include <pthread.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include <emmintrin.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>

namespace flowpulse::bench {

core::Result<std::string> create_ring_port(std::size_t size) {
  const std::string name = "fp_bench_ring";
  rte_ring* ring = rte_ring_create(name.c_str(), static_cast<unsigned>(size),
                                   static_cast<int>(rte_socket_id()), RING_F_SP_ENQ | RING_F_SC_DEQ);
  if (ring == nullptr) {
    return core::Error{"cannot create a ring of " + std::to_string(size) +
                       " (a power of two): " + rte_strerror(rte_errno)};
  }
  const int port_id = rte_eth_from_ring(ring);  // the device is named net_ring_<ring name>
  if (port_id < 0) {
    rte_ring_free(ring);
    return core::Error{std::string("cannot make a net_ring port of the ring: ") + rte_strerror(rte_errno)};
  }
  return std::to_string(port_id);
}

core::Result<std::unique_ptr<RingFeeder>> RingFeeder::create(std::uint16_t port_id,
                                                             std::span<const std::uint8_t> frames,
                                                             std::size_t frame_size, RingFeed feed,
                                                             std::size_t pool_mbufs) {
  if (frame_size == 0 || frames.size() % frame_size != 0 || frames.empty()) {
    return core::Error{"ring feeder: frames must be whole frames of " + std::to_string(frame_size) +
                       " bytes"};
  }
  const bool recycled = feed == RingFeed::recycled;
  if (recycled && pool_mbufs < 2 * 256)
    return core::Error{"ring feeder: a recycled pool needs at least 512 mbufs"};
  if (recycled && frame_size % 64 != 0)
    return core::Error{"ring feeder: a recycled feed writes whole 64-byte lines"};
  std::unique_ptr<RingFeeder> feeder(new RingFeeder());
  feeder->port_id_ = port_id;
  feeder->feed_ = feed;
  feeder->frame_size_ = frame_size;
  // Pre-built: one mbuf per frame. Recycled: a NIC queue's pool, with a per-lcore cache as
  // DpdkPort's pools have (the worker, an EAL lcore, frees into its cache, which spills to the
  // pool's ring in bulk; the producer, not an lcore, takes from the ring). Either way each mbuf has
  // room for exactly one frame after the headroom: 1M mbufs take ~400 MB, not the 2.4 GB of
  // default-sized ones.
  const std::size_t n = recycled ? pool_mbufs : frames.size() / frame_size;
  feeder->pool_ =
      rte_pktmbuf_pool_create("fp_bench_feed", static_cast<unsigned>(n), recycled ? 256 : 0, 0,
                              static_cast<std::uint16_t>(RTE_PKTMBUF_HEADROOM + frame_size), rte_socket_id());
  if (feeder->pool_ == nullptr) {
    return core::Error{"ring feeder: cannot create a pool of " + std::to_string(n) +
                       " mbufs: " + rte_strerror(rte_errno) + " (raise the EAL memory, -m N)"};
  }
  // Every mbuf's header is set once, as for a frame of frame_size bytes (the worker's frees keep it).
  std::vector<rte_mbuf*> all(n);
  for (std::size_t at = 0; at < n; at += 4096) {
    const auto chunk = static_cast<unsigned>(std::min<std::size_t>(4096, n - at));
    if (rte_pktmbuf_alloc_bulk(feeder->pool_, all.data() + at, chunk) != 0) {
      return core::Error{"ring feeder: cannot allocate the mbufs of its own pool"};
    }
  }
  for (rte_mbuf* m : all) {
    if (rte_pktmbuf_append(m, static_cast<std::uint16_t>(frame_size)) == nullptr)
      return core::Error{"ring feeder: a frame does not fit its mbuf"};
    m->port = port_id;
  }
  if (recycled) {
    rte_pktmbuf_free_bulk(all.data(), static_cast<unsigned>(n));  // back to the pool, for the producer
    feeder->frames_.assign(frames.begin(), frames.end());
    return feeder;
  }
  for (std::size_t i = 0; i < n; ++i) {
    std::memcpy(rte_pktmbuf_mtod(all[i], void*), frames.data() + i * frame_size, frame_size);
    // Two refills ahead: a pass sends each mbuf once, so it never drops to 1 (see run()).
    rte_mbuf_refcnt_set(all[i], static_cast<std::uint16_t>(1 + 2 * refill_passes));
  }
  feeder->mbufs_ = std::move(all);
  return feeder;
}

RingFeeder::~RingFeeder() {
  stop();
  // The worker decremented the counts, nothing was returned: free the pool with its mbufs in it.
  if (pool_ != nullptr) rte_mempool_free(pool_);
}

core::Status RingFeeder::start(int cpu, std::uint16_t burst) {
  if (thread_.joinable()) return core::Error{"ring feeder: already running"};
  stop_.store(false, std::memory_order_relaxed);
  thread_ = std::thread([this, cpu, burst] {
    if (cpu >= 0) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(cpu, &set);
      (void)pthread_setaffinity_np(pthread_self(), sizeof set,
                                   &set);  // best effort: the EAL's mask is inherited
    }
    run(burst);
  });
  return core::Ok{};
}

void RingFeeder::stop() {
  stop_.store(true, std::memory_order_relaxed);
  if (thread_.joinable()) thread_.join();
}

bool RingFeeder::stage(rte_mbuf** into, std::size_t first, std::uint16_t count) noexcept {
  // Raw: the headers keep what create() set (the worker's free leaves lengths and offsets alone).
  if (rte_mempool_get_bulk(pool_, reinterpret_cast<void**>(into), count) != 0) return false;
  // Streaming stores, as a NIC's DMA: to memory, not into this core's cache, so the producer does
  // not first fetch each line from the worker's cache (which stalls it below the worker's rate).
  // The frames are 64-byte lines at 64-byte aligned data (room after a 128-byte headroom).
  for (std::uint16_t i = 0; i < count; ++i) {
    auto* dst = rte_pktmbuf_mtod(into[i], __m128i*);
    const auto* src = reinterpret_cast<const __m128i*>(frames_.data() + (first + i) * frame_size_);
    for (std::size_t w = 0; w < frame_size_ / 16; ++w) _mm_stream_si128(dst + w, _mm_loadu_si128(src + w));
  }
  _mm_sfence();  // the frames are in memory before the ring hands the mbufs over
  return true;
}

void RingFeeder::run(std::uint16_t burst) noexcept {
  const bool recycled = feed_ == RingFeed::recycled;
  const std::size_t n = recycled ? frames_.size() / frame_size_ : mbufs_.size();
  std::vector<rte_mbuf*> staged(recycled ? burst : 0);
  std::size_t pos = 0;
  RingFeederStats s;
  while (!stop_.load(std::memory_order_relaxed)) {
    const auto want = static_cast<std::uint16_t>(std::min<std::size_t>(burst, n - pos));
    rte_mbuf** out = mbufs_.data() + pos;
    if (recycled) {
      if (!stage(staged.data(), pos, want)) {
        // Every mbuf is in the ring or the worker's hands: it is the bottleneck, as it should be.
        // Spin, as a NIC waits for descriptors: the pool holds under a millisecond of packets,
        // less than a sleep takes here.
        ++s.pool_empty;
        rte_pause();
        continue;
      }
      out = staged.data();
    }
    const std::uint16_t took = rte_eth_tx_burst(port_id_, 0, out, want);
    ++s.tx_calls;
    s.sent += took;
    if (recycled && took < want)
      rte_mempool_put_bulk(pool_, reinterpret_cast<void* const*>(out + took), want - took);
    if (took == 0) {
      // The ring is full: the worker is the bottleneck, as it should be. Sleep rather than spin: the
      // ring holds milliseconds of packets, the other core is shared, and a thread that slept is
      // the one the scheduler runs first when it wakes.
      ++s.ring_full;
      std::this_thread::sleep_for(std::chrono::microseconds(50));
      continue;
    }
    pos += took;
    if (pos == n) {
      pos = 0;
      // Pre-built: each pass sends each mbuf once and the worker frees it at most once per send:
      // raising the counts by refill_passes every refill_passes passes keeps every count >= 1 +
      // refill_passes (they start at 1 + 2 * refill_passes) and below 2^16.
      if (++s.passes % refill_passes == 0 && !recycled) {
        for (rte_mbuf* m : mbufs_) rte_mbuf_refcnt_update(m, static_cast<std::int16_t>(refill_passes));
      }
    }
  }
  stats_ = s;
}

}  // namespace flowpulse::bench
