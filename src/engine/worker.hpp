// A run-to-completion worker (one thread) of one of two kinds:
//   - a collector worker owns one SO_REUSEPORT socket per listener. Loop: wait on its sockets,
//     receive a batch with recvmmsg, decode each datagram, add the records into the active shard;
//   - a capture worker owns one packet source (a DPDK or AF_XDP queue, an AF_PACKET fanout member,
//     a libpcap handle or file) and a Meter. Loop: receive a burst, meter it (flow exports in it are
//     decoded), copy it to the pcap store if one is set, release it; the meter's flows go into the
//     shard at each hand-over.
// Either owns its template cache (FlowDecoder) and its flow-table shard. Nothing on this path is
// shared, locked or allocated.
//
// Hand-over (no lock on the worker side): the stats core stores a clean spare table in
// `swap_request_` and pokes the worker's eventfd; at the next batch boundary the worker copies its
// cumulative counters into the active table's snapshot, publishes it in `retired_`, and carries on
// with the spare. The stats core reads only retired tables.
#pragma once

#include <pthread.h>
#include <sys/socket.h>

#include <atomic>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "decode/flow_decoder.hpp"
#include "engine/flow_table.hpp"
#include "engine/meter.hpp"
#include "io/packet_source.hpp"
#include "io/udp_socket.hpp"

namespace flowpulse::engine {

struct WorkerSettings {
  std::vector<config::Listener> listeners;
  std::vector<Dimensions> dimensions;
  decode::Limits limits;
  std::uint32_t batch_size = 64;
  std::uint32_t table_capacity = 65536;
  MeterSettings meter;  // capture workers
  // Capture workers: the 5-tuple feed of each shard for a FlowObserver (0 = none), and the ring
  // their meter announces new flows on (null = none).
  std::size_t feed_capacity = 0;
  NewFlowRing* new_flows = nullptr;
};

class Worker final : public decode::RecordSink {
 public:
  // Opens the worker's sockets (SO_REUSEPORT on every listener's address and port).
  static core::Result<std::unique_ptr<Worker>> create(unsigned id, const WorkerSettings& settings);
  // A capture worker reading `source`; `store` (may be null) gets a copy of every burst.
  static core::Result<std::unique_ptr<Worker>> create_capture(unsigned id, const WorkerSettings& settings,
                                                              std::unique_ptr<io::PacketSource> source,
                                                              std::unique_ptr<io::FrameSink> store);
  ~Worker() override;

  void start();
  void stop();  // joins the thread
  // Keeps the started thread on CPU `cpu` (config performance.worker_cpus).
  core::Status pin(unsigned cpu);
  // Keeps `thread` off the CPUs of `worker_cpus` when this process may use others, so that pinned
  // workers have their CPUs to themselves (the stats core's tick, a scrape, DPDK's threads would
  // otherwise share them, and a capture ring lasts a few ms at line rate). Returns the CPUs left
  // to `thread` as a list ("0,2-3"), or "" when nothing changed (no pinned workers, or they take
  // every CPU).
  static std::string keep_off_worker_cpus(pthread_t thread, const std::vector<std::uint32_t>& worker_cpus);

  // Stats core side of the hand-over.
  void request_swap(FlowTable* spare) noexcept;
  FlowTable* take_retired() noexcept { return retired_.exchange(nullptr, std::memory_order_acquire); }

  unsigned id() const noexcept { return id_; }
  const std::vector<io::UdpSocket>& sockets() const noexcept { return sockets_; }
  // The capture worker's source (null for a collector worker).
  const io::PacketSource* source() const noexcept { return source_.get(); }

  // Decodes one datagram received on listener `listener` into the active table (the receive loop
  // calls it; replay tools may too, on a worker that is not started).
  void handle_datagram(std::size_t listener, const decode::Datagram& dg) noexcept;
  // Runs the hand-over check now (for workers driven without their thread).
  void poll_swap() noexcept;

  // decode::RecordSink
  void on_records(std::span<const FlowRecord> records) override;

 private:
  Worker(unsigned id, const WorkerSettings& settings);
  core::Status open_wakeup();  // the epoll set with the wake-up eventfd in it
  void run(std::stop_token stop);
  void run_capture(std::stop_token stop);
  void receive(std::size_t listener);
  void count_batch(std::uint64_t started_ns) noexcept;
  void idle(int timeout_ms) noexcept;  // waits on the wake-up eventfd
  void fill_snapshot(WorkerSnapshot& s);

  unsigned id_;
  WorkerSettings settings_;
  std::vector<io::UdpSocket> sockets_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  decode::FlowDecoder decoder_;
  std::vector<std::optional<decode::Protocol>> hints_;  // per listener

  std::unique_ptr<FlowTable> initial_table_;
  FlowTable* active_;
  std::atomic<FlowTable*> swap_request_{nullptr};
  std::atomic<FlowTable*> retired_{nullptr};

  // Cumulative counters, copied into each retired table.
  std::vector<ListenerCounters> listeners_;
  std::uint64_t overflow_records_ = 0;
  std::array<std::uint64_t, duration_buckets> duration_counts_{};
  double duration_sum_ = 0;
  std::uint64_t batches_ = 0;

  // recvmmsg state, allocated once.
  std::vector<std::uint8_t> buffers_;
  std::vector<mmsghdr> msgs_;
  std::vector<iovec> iovecs_;
  std::vector<sockaddr_storage> names_;

  // One writer for the worker's life, flushed after each datagram: constructing one per datagram
  // value-initializes its 64 FlowRecords (a ~16 KB memset), which cost more than the decoding.
  decode::RecordWriter writer_{*this};

  ShardAggregator aggregator_;

  // Capture workers.
  std::unique_ptr<io::PacketSource> source_;
  std::unique_ptr<io::FrameSink> store_;
  std::unique_ptr<Meter> meter_;
  std::vector<io::Frame> frames_;
  std::uint64_t capture_errors_ = 0;

  std::jthread thread_;
};

}  // namespace flowpulse::engine
