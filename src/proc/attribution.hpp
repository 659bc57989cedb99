// Process attribution: charges the traffic the capture workers meter to the local processes whose
// sockets it belongs to (see flowpulse/process.hpp for what is counted), and keeps per process the
// totals, rates, EWMA and per-second history that `flowpulse top`, the SDK and /metrics report.
//
// It is the engine's FlowObserver and runs on a thread of its own, never in the packet path:
//   - when a capture worker announces new flows (its NewFlowRing rings the thread's doorbell; at
//     most once per resolve_interval, so bursts are batched) it takes their 5-tuples and looks up, in the
//     kernel, the sockets of those the socket table does not know yet (SocketTable::resolve_flow): a
//     connection that lives for a few milliseconds between two refreshes is still found while it exists. Each
//     new flow is looked up once; at most max_flow_queries per pass (the rest are counted and left to the
//     tick);
//   - when built with libbpf and run as root, the kernel reports each TCP close with the closing
//     process (TcpCloseTracer): a connection that opened and closed between two refreshes is
//     still charged to its process;
//   - once per tick it takes the tick's flow deltas (handed over by the stats core), refreshes the
//     socket table every sync_interval, and charges each delta: `out` to the owner of its source
//     socket, `in` to the owner of its destination socket, both when both ends are local
//     (loopback). A match on a listening or unconnected socket (not the exact 5-tuple) counts only
//     when its address is one of this host's. What matches no socket is charged to `unknown` by
//     protocol, never dropped.
#pragma once

#include <array>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/result.hpp"
#include "engine/flow_observer.hpp"
#include "flowpulse/process.hpp"
#include "proc/socket_table.hpp"
#include "proc/tcp_close_tracer.hpp"

namespace flowpulse::proc {

struct AttributionOptions {
  SocketTableOptions sockets;
  std::uint64_t sync_interval_ns = 1'000'000'000ULL;  // socket and process refresh
  std::uint64_t resolve_interval_ns = 2'000'000ULL;   // at least this long between new-flow passes
  std::size_t max_flow_queries = 2048;                // per resolve pass
  // Trace TCP closes (TcpCloseTracer) so that connections shorter than a refresh are charged to
  // their process; when it cannot be set up (no libbpf, not root) a warning says so.
  bool trace_tcp_close = true;
  // With TCP closes traced, connected TCP sockets are dumped every this many refreshes
  // (SocketTableOptions::tcp_connected_dump_every); without, every refresh.
  std::size_t tcp_connected_dump_every_traced = 10;
  std::size_t history_seconds = 60;
  double ewma_alpha = 0.3;
  // A process that has exited, or that moved nothing for this long, is dropped from the report.
  std::uint64_t forget_after_ns = 300'000'000'000ULL;
};

// What the attribution thread publishes after each tick; immutable once published.
struct AttributionReport {
  std::uint64_t time_ns = 0;              // realtime of the tick
  std::uint64_t generation = 0;           // ticks charged since start
  std::vector<ProcessTraffic> processes;  // every process charged with traffic, by pid
  std::vector<UnknownTraffic> unknown;    // by protocol
  // Health.
  std::uint64_t sockets = 0;  // in the last refresh (dumped, or connected TCP kept), all namespaces
  std::uint64_t namespaces = 0;
  std::uint64_t namespace_errors = 0;  // cumulative
  std::uint64_t refreshes = 0;
  std::uint64_t refresh_errors = 0;
  double last_refresh_seconds = 0;
  std::uint64_t new_flows = 0;          // new-flow notices taken from the rings
  std::uint64_t new_flows_dropped = 0;  // notices lost to full rings
  std::uint64_t new_flows_skipped = 0;  // notices over max_flow_queries in one pass
  std::uint64_t flow_queries = 0;       // kernel lookups of new flows
  std::uint64_t flow_ends_placed = 0;   // socket ends they found an owner for
  bool close_tracer = false;            // TCP closes are traced (TcpCloseTracer)
  std::uint64_t closes_recorded = 0;    // TCP closes recorded with their process
  std::uint64_t closes_dropped = 0;     // lost by the kernel (ring full) or of unknown pids
  std::uint64_t charged_bytes = 0;      // to processes (a loopback byte counts once per side)
  std::uint64_t unknown_bytes = 0;
};

// The `limit` processes (0 = all) with the most bytes, in + out, over the last `recent_seconds`
// (0 = since start), most first, ties by pid; recent_{in,out}_bytes set.
std::vector<ProcessTraffic> rank(const AttributionReport& report, std::size_t limit,
                                 std::uint64_t recent_seconds);

class Attribution final : public engine::FlowObserver {
 public:
  // Opens the socket table, reads sockets and processes once, and starts the thread.
  static core::Result<std::unique_ptr<Attribution>> start(AttributionOptions options);
  ~Attribution() override;
  Attribution(const Attribution&) = delete;
  Attribution& operator=(const Attribution&) = delete;

  void stop();  // joins the thread; what was handed over is charged first

  std::shared_ptr<const AttributionReport> report() const;
  // Blocks until a report of a tick at or after `time_ns` (realtime) is published, at most
  // `timeout_ns`; false on timeout.
  bool wait_for_report(std::uint64_t time_ns, std::uint64_t timeout_ns) const;

  // engine::FlowObserver
  engine::NewFlowRing* new_flow_ring(unsigned worker) override;
  void on_flows(std::span<const engine::FlowDelta> flows, std::span<const engine::FlowDelta> lost,
                std::uint64_t now_ns) override;
  void on_tick(std::uint64_t now_ns) override;

 private:
  struct Account {
    ProcessTraffic traffic;  // identity and counters; history is a ring in `samples`
    std::vector<ProcessSample> samples;
    std::size_t next = 0;  // ring position
    std::uint64_t tick_in = 0, tick_out = 0;
    std::uint64_t last_active_ns = 0;
  };
  struct Unknown {
    std::uint64_t bytes = 0, packets = 0;
  };

  Attribution(AttributionOptions options, SocketTable table);
  void run(std::stop_token stop);
  void resolve_new_flows(std::uint64_t now_mono);
  void charge_tick(std::vector<engine::FlowDelta>& flows, std::uint64_t now_ns);
  void charge(const engine::FlowDelta& d, std::uint64_t now_mono);
  Account& account(const ProcessKey& key, std::uint64_t now_mono);
  bool is_local(const IpAddress& a) const;
  void refresh_local_addresses();
  void publish(std::uint64_t now_ns);

  void drain_closes(std::uint64_t now_mono);

  AttributionOptions options_;
  SocketTable table_;
  std::unique_ptr<TcpCloseTracer> tracer_;
  std::uint64_t unplaced_closes_ = 0;
  engine::Doorbell bell_;  // the thread sleeps until new flows, a tick or stop

  // Rings: created by new_flow_ring before the workers start, read by the thread.
  mutable std::mutex rings_mu_;
  std::vector<std::unique_ptr<engine::NewFlowRing>> rings_;

  // Handed over by the stats core.
  mutable std::mutex inbox_mu_;
  std::vector<engine::FlowDelta> inbox_;
  std::vector<std::uint64_t> inbox_ticks_;  // realtime of each tick handed over, in order

  // The thread's own state.
  std::unordered_map<ProcessKey, Account, ProcessKeyHash> accounts_;
  std::unordered_map<std::uint8_t, Unknown> unknown_;
  std::vector<std::array<std::uint8_t, 16>> local_;  // this host's addresses, sorted
  std::uint64_t last_refresh_mono_ = 0;
  std::uint64_t last_tick_ns_ = 0;
  AttributionReport health_;

  mutable std::mutex report_mu_;
  mutable std::condition_variable report_cv_;
  std::shared_ptr<const AttributionReport> report_;

  std::jthread thread_;
};

}  // namespace flowpulse::proc
