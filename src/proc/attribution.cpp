#include "proc/attribution.hpp"

#include <ifaddrs.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "core/clock.hpp"
#include "core/log.hpp"

namespace flowpulse::proc {
namespace {

constexpr std::uint64_t ns_per_s = 1'000'000'000ULL;

std::array<std::uint8_t, 16> bytes_of(const sockaddr* sa) {
  std::array<std::uint8_t, 16> b{};
  if (sa->sa_family == AF_INET) {
    b = IpAddress::v4_bytes(
            reinterpret_cast<const std::uint8_t*>(&reinterpret_cast<const sockaddr_in*>(sa)->sin_addr))
            .bytes;
  } else {
    std::memcpy(b.data(), &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, 16);
  }
  return b;
}

}  // namespace

std::vector<ProcessTraffic> rank(const AttributionReport& report, std::size_t limit,
                                 std::uint64_t recent_seconds) {
  std::vector<ProcessTraffic> out;
  out.reserve(report.processes.size());
  const std::uint64_t now_s = report.time_ns / ns_per_s;
  for (const ProcessTraffic& p : report.processes) {
    ProcessTraffic r = p;
    if (recent_seconds == 0) {
      r.recent_in_bytes = p.in_bytes;
      r.recent_out_bytes = p.out_bytes;
    } else {
      r.recent_in_bytes = r.recent_out_bytes = 0;
      for (const ProcessSample& s : p.history) {
        if (s.time_s + recent_seconds <= now_s) continue;  // the last `recent_seconds` seconds
        r.recent_in_bytes += s.in_bytes;
        r.recent_out_bytes += s.out_bytes;
      }
    }
    if (r.recent_in_bytes + r.recent_out_bytes == 0) continue;
    out.push_back(std::move(r));
  }
  std::sort(out.begin(), out.end(), [](const ProcessTraffic& a, const ProcessTraffic& b) {
    const std::uint64_t ta = a.recent_in_bytes + a.recent_out_bytes,
                        tb = b.recent_in_bytes + b.recent_out_bytes;
    if (ta != tb) return ta > tb;
    if (a.pid != b.pid) return a.pid < b.pid;
    return a.start_time < b.start_time;
  });
  if (limit != 0 && out.size() > limit) out.resize(limit);
  return out;
}

Attribution::Attribution(AttributionOptions options, SocketTable table)
    : options_(std::move(options)), table_(std::move(table)) {}

core::Result<std::unique_ptr<Attribution>> Attribution::start(AttributionOptions options) {
  std::unique_ptr<TcpCloseTracer> tracer;
  if (options.trace_tcp_close) {
    auto t = TcpCloseTracer::open();
    if (t) {
      tracer = std::move(t).value();
    } else {
      log::warn(
          "process attribution without TCP close tracing: connections shorter than a refresh may be "
          "charged to unknown",
          {{"error", t.error()}});
    }
  }
  // The kernel reports TCP closes: the connected sockets need not be dumped every refresh.
  if (tracer) options.sockets.tcp_connected_dump_every = options.tcp_connected_dump_every_traced;
  auto table = SocketTable::open(options.sockets);
  if (!table) return core::Error{"process attribution: " + table.error()};
  std::unique_ptr<Attribution> a(new Attribution(std::move(options), std::move(table).value()));
  a->tracer_ = std::move(tracer);
  const std::uint64_t now = core::monotonic_ns();
  if (auto st = a->table_.refresh(now); !st.ok()) return core::Error{"process attribution: " + st.error()};
  a->last_refresh_mono_ = now;
  ++a->health_.refreshes;
  a->refresh_local_addresses();
  a->last_tick_ns_ = core::realtime_ns();
  a->publish(a->last_tick_ns_);
  a->thread_ = std::jthread([p = a.get()](std::stop_token st) { p->run(st); });
  pthread_setname_np(a->thread_.native_handle(), "fp-attribution");
  return a;
}

Attribution::~Attribution() { stop(); }

void Attribution::stop() {
  if (!thread_.joinable()) return;
  thread_.request_stop();
  bell_.wake();
  thread_.join();
}

engine::NewFlowRing* Attribution::new_flow_ring(unsigned /*worker*/) {
  std::lock_guard lock(rings_mu_);
  rings_.push_back(std::make_unique<engine::NewFlowRing>(&bell_));
  return rings_.back().get();
}

void Attribution::on_flows(std::span<const engine::FlowDelta> flows, std::span<const engine::FlowDelta> lost,
                           std::uint64_t /*now_ns*/) {
  std::lock_guard lock(inbox_mu_);
  inbox_.insert(inbox_.end(), flows.begin(), flows.end());
  for (const engine::FlowDelta& l : lost)
    if (l.packets != 0) inbox_.push_back(l);  // no addresses: charged to unknown by protocol
}

void Attribution::on_tick(std::uint64_t now_ns) {
  {
    std::lock_guard lock(inbox_mu_);
    inbox_ticks_.push_back(now_ns);
  }
  bell_.wake();
}

std::shared_ptr<const AttributionReport> Attribution::report() const {
  std::lock_guard lock(report_mu_);
  return report_;
}

bool Attribution::wait_for_report(std::uint64_t time_ns, std::uint64_t timeout_ns) const {
  std::unique_lock lock(report_mu_);
  return report_cv_.wait_for(lock, std::chrono::nanoseconds(timeout_ns),
                             [&] { return report_ && report_->time_ns >= time_ns; });
}

void Attribution::run(std::stop_token stop) {
  std::vector<engine::FlowDelta> flows;
  std::vector<std::uint64_t> ticks;
  auto idle = [&] {
    if (stop.stop_requested()) return false;
    {
      std::lock_guard lock(rings_mu_);
      for (const auto& ring : rings_)
        if (!ring->empty()) return false;
    }
    std::lock_guard lock(inbox_mu_);
    return inbox_ticks_.empty();
  };
  for (;;) {
    // Asleep until there is work: no timer, so an idle host costs nothing.
    const std::uint32_t b = bell_.arm();
    if (idle()) bell_.wait(b);
    bell_.disarm();
    const std::uint64_t woke = core::monotonic_ns();
    {
      std::lock_guard lock(inbox_mu_);
      // Deltas handed over after the last tick call belong to the next tick: take them with it.
      if (!inbox_ticks_.empty()) {
        flows.swap(inbox_);
        ticks.swap(inbox_ticks_);
      }
    }
    resolve_new_flows(woke);
    drain_closes(woke);
    if (!ticks.empty()) charge_tick(flows, ticks.back());
    flows.clear();
    ticks.clear();
    if (stop.stop_requested()) {
      std::lock_guard lock(inbox_mu_);
      if (inbox_ticks_.empty()) break;
      continue;
    }
    // Batch: new flows of the next few milliseconds are looked up together.
    const std::uint64_t spent = core::monotonic_ns() - woke;
    if (spent < options_.resolve_interval_ns)
      std::this_thread::sleep_for(std::chrono::nanoseconds(options_.resolve_interval_ns - spent));
  }
}

void Attribution::resolve_new_flows(std::uint64_t now_mono) {
  std::lock_guard lock(rings_mu_);
  std::size_t queries = 0;
  engine::FiveTuple t;
  for (auto& ring : rings_) {
    while (ring->pop(t)) {
      ++health_.new_flows;
      if (queries >= options_.max_flow_queries) {
        ++health_.new_flows_skipped;
        continue;
      }
      ++queries;
      table_.resolve_flow(t.proto, t.src, t.src_port, t.dst, t.dst_port, now_mono);
    }
  }
}

void Attribution::drain_closes(std::uint64_t now_mono) {
  if (!tracer_) return;
  tracer_->drain([&](const TcpCloseEvent& e) {
    if (!table_.record_close(e.pid, e.local, e.local_port, e.remote, e.remote_port, now_mono))
      ++unplaced_closes_;
  });
}

void Attribution::charge_tick(std::vector<engine::FlowDelta>& flows, std::uint64_t tick_ns) {
  const std::uint64_t mono = core::monotonic_ns();
  // Refresh when due (a little early rather than a tick late).
  if (mono - last_refresh_mono_ + options_.sync_interval_ns / 10 >= options_.sync_interval_ns) {
    ++health_.refreshes;
    if (auto st = table_.refresh(mono); !st.ok()) {
      ++health_.refresh_errors;
      log::limited(log::Level::error, "attribution_refresh", "sockets", "process attribution refresh failed",
                   {{"error", st.error()}});
    }
    last_refresh_mono_ = mono;
    const SocketTableStats& rs = table_.last_refresh();
    health_.namespace_errors += rs.namespace_errors;
    if (rs.namespace_errors != 0)
      log::limited(log::Level::warn, "attribution_netns", "netns", "a network namespace cannot be read",
                   {{"error", rs.last_error}});
    refresh_local_addresses();
  }
  drain_closes(mono);  // after the refresh: a recorded close is not aged by it before it is used
  for (const engine::FlowDelta& d : flows) charge(d, mono);

  const double seconds = tick_ns > last_tick_ns_ ? static_cast<double>(tick_ns - last_tick_ns_) / 1e9
                                                 : options_.sync_interval_ns / 1e9;
  last_tick_ns_ = tick_ns;
  const std::uint64_t tick_s = tick_ns / ns_per_s;
  const double alpha = options_.ewma_alpha;
  for (auto it = accounts_.begin(); it != accounts_.end();) {
    Account& a = it->second;
    ProcessTraffic& t = a.traffic;
    t.in_rate = static_cast<double>(a.tick_in) / seconds;
    t.out_rate = static_cast<double>(a.tick_out) / seconds;
    t.in_ewma = alpha * t.in_rate + (1 - alpha) * t.in_ewma;
    t.out_ewma = alpha * t.out_rate + (1 - alpha) * t.out_ewma;
    if (!a.samples.empty()) {
      ProcessSample& last = a.samples[(a.next + a.samples.size() - 1) % a.samples.size()];
      if (last.time_s == tick_s && tick_s != 0) {  // two ticks in one second: one sample
        last.in_bytes += a.tick_in;
        last.out_bytes += a.tick_out;
      } else {
        a.samples[a.next] = {tick_s, a.tick_in, a.tick_out};
        a.next = (a.next + 1) % a.samples.size();
      }
    }
    a.tick_in = a.tick_out = 0;
    const ProcessInfo* info = table_.processes().find(ProcessKey{t.pid, t.start_time});
    if (info != nullptr) {
      t.state = info->state;
      t.alive = info->alive;
      t.inodes = info->socket_inodes;
    } else {
      t.alive = false;
      t.state = 'X';
    }
    if (mono - a.last_active_ns > options_.forget_after_ns)
      it = accounts_.erase(it);
    else
      ++it;
  }
  ++health_.generation;
  publish(tick_ns);
}

void Attribution::charge(const engine::FlowDelta& d, std::uint64_t now_mono) {
  const engine::FiveTuple& f = d.flow;
  std::optional<SocketOwner> out, in;
  if ((f.proto == proto_tcp || f.proto == proto_udp) && !f.src.empty()) {
    out = table_.lookup(f.proto, f.src, f.src_port, f.dst, f.dst_port, now_mono);
    if (out && out->match != MatchKind::exact && !is_local(f.src)) out.reset();
    in = table_.lookup(f.proto, f.dst, f.dst_port, f.src, f.src_port, now_mono);
    if (in && in->match != MatchKind::exact && !is_local(f.dst)) in.reset();
  }
  if (!out && !in) {
    Unknown& u = unknown_[f.proto];
    u.bytes += d.bytes;
    u.packets += d.packets;
    health_.unknown_bytes += d.bytes;
    return;
  }
  auto charge_side = [&](const SocketOwner& owner, bool outbound) {
    Account& a = account(owner.process, now_mono);
    (outbound ? a.traffic.out_bytes : a.traffic.in_bytes) += d.bytes;
    (outbound ? a.traffic.out_packets : a.traffic.in_packets) += d.packets;
    (outbound ? a.tick_out : a.tick_in) += d.bytes;
    health_.charged_bytes += d.bytes;
  };
  if (out) charge_side(*out, true);
  if (in) charge_side(*in, false);
}

Attribution::Account& Attribution::account(const ProcessKey& key, std::uint64_t now_mono) {
  auto [it, inserted] = accounts_.try_emplace(key);
  Account& a = it->second;
  a.last_active_ns = now_mono;
  if (!inserted) return a;
  a.samples.resize(std::max<std::size_t>(1, options_.history_seconds));
  ProcessTraffic& t = a.traffic;
  t.pid = key.pid;
  t.start_time = key.start_time;
  if (const ProcessInfo* info = table_.processes().find(key)) {
    t.name = info->name;
    t.exe = info->exe;
    t.cmdline = info->cmdline;
    t.user = info->user;
    t.state = info->state;
    t.alive = info->alive;
    t.inodes = info->socket_inodes;
  }
  return a;
}

bool Attribution::is_local(const IpAddress& a) const {
  if (a.family == 4 && a.bytes[12] == 127) return true;  // 127.0.0.0/8
  static constexpr std::array<std::uint8_t, 16> v6_loopback = {0, 0, 0, 0, 0, 0, 0, 0,
                                                               0, 0, 0, 0, 0, 0, 0, 1};
  if (a.family == 6 && a.bytes == v6_loopback) return true;
  return std::binary_search(local_.begin(), local_.end(), a.bytes);
}

void Attribution::refresh_local_addresses() {
  local_.clear();
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) == 0) {
    for (const ifaddrs* i = list; i != nullptr; i = i->ifa_next)
      if (i->ifa_addr != nullptr && (i->ifa_addr->sa_family == AF_INET || i->ifa_addr->sa_family == AF_INET6))
        local_.push_back(bytes_of(i->ifa_addr));
    ::freeifaddrs(list);
  }
  // Other namespaces of this host: the addresses their sockets are bound to.
  const IpAddress any4 = IpAddress::v4(0);
  for (const SocketEntry& s : table_.sockets()) {
    if (s.netns == table_.own_netns() || s.local == any4 || s.local.bytes == std::array<std::uint8_t, 16>{})
      continue;
    local_.push_back(s.local.bytes);
  }
  std::sort(local_.begin(), local_.end());
  local_.erase(std::unique(local_.begin(), local_.end()), local_.end());
}

void Attribution::publish(std::uint64_t now_ns) {
  auto r = std::make_shared<AttributionReport>(health_);
  r->time_ns = now_ns;
  r->processes.reserve(accounts_.size());
  for (const auto& [key, a] : accounts_) {
    ProcessTraffic& t = r->processes.emplace_back(a.traffic);
    t.history.clear();
    for (std::size_t k = 0; k < a.samples.size(); ++k) {
      const ProcessSample& s = a.samples[(a.next + k) % a.samples.size()];
      if (s.time_s != 0) t.history.push_back(s);
    }
  }
  std::sort(r->processes.begin(), r->processes.end(), [](const ProcessTraffic& a, const ProcessTraffic& b) {
    return a.pid != b.pid ? a.pid < b.pid : a.start_time < b.start_time;
  });
  for (const auto& [proto, u] : unknown_) r->unknown.push_back({proto, u.bytes, u.packets});
  std::sort(r->unknown.begin(), r->unknown.end(),
            [](const UnknownTraffic& a, const UnknownTraffic& b) { return a.protocol < b.protocol; });
  const SocketTableStats& rs = table_.last_refresh();
  r->sockets = rs.sockets + rs.carried;
  r->namespaces = rs.namespaces;
  r->last_refresh_seconds = static_cast<double>(rs.total_ns) / 1e9;
  r->flow_queries = table_.flow_queries();
  r->flow_ends_placed = table_.flow_ends_placed();
  r->close_tracer = tracer_ != nullptr;
  r->closes_recorded = table_.closes_recorded();
  r->closes_dropped = unplaced_closes_ + (tracer_ ? tracer_->dropped() : 0);
  {
    std::lock_guard lock(rings_mu_);
    for (const auto& ring : rings_) r->new_flows_dropped += ring->dropped();
  }
  {
    std::lock_guard lock(report_mu_);
    report_ = std::move(r);
  }
  report_cv_.notify_all();
}

}  // namespace flowpulse::proc
