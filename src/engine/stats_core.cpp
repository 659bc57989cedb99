#include "engine/stats_core.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>

#include "core/clock.hpp"
#include "core/log.hpp"
#include "io/udp_socket.hpp"

namespace flowpulse::engine {
namespace {

constexpr std::size_t buckets_per_window = 12;

// A strict total order: more bytes first, then the key's bytes. The series kept under the budget
// and their order then never depend on hash-map order, so a replay prints the same every time.
bool heavier(const FlowKey& ka, const Counters& a, const FlowKey& kb, const Counters& b) {
  if (a.bytes != b.bytes) return a.bytes > b.bytes;
  return std::memcmp(&ka, &kb, sizeof ka) < 0;
}

bool is_zero(const Counters& c) { return c.bytes == 0 && c.packets == 0 && c.flows == 0; }

void subtract(Counters& a, const Counters& b) {
  a.bytes -= b.bytes;
  a.packets -= b.packets;
  a.flows -= b.flows;
}

}  // namespace

StatsCore::StatsCore(StatsSettings settings, std::vector<Worker*> workers)
    : settings_(std::move(settings)),
      workers_(std::move(workers)),
      awaiting_(workers_.size(), false),
      budget_per_set_(std::max<std::size_t>(
          2, settings_.series_budget / std::max<std::size_t>(1, settings_.dimensions.size()))),
      last_(workers_.size()),
      last_entries_(workers_.size(), 0) {
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    tables_.push_back(std::make_unique<FlowTable>(settings_.table_capacity, settings_.dimensions.size()));
    if (settings_.observer != nullptr) tables_.back()->set_feed(settings_.feed_capacity);
    spares_.push_back(tables_.back().get());
  }
  for (std::uint64_t w : settings_.windows_ns) {
    Window win;
    win.length_ns = w;
    // Buckets are whole ticks, about a twelfth of the window each.
    const std::uint64_t ticks = std::max<std::uint64_t>(1, w / settings_.tick_ns / buckets_per_window);
    win.bucket_ns = ticks * settings_.tick_ns;
    win.buckets = static_cast<std::size_t>((w + win.bucket_ns - 1) / win.bucket_ns) - 1;
    windows_.push_back(std::move(win));
  }
  for (auto& l : last_) l.listeners.resize(settings_.listeners);
  // Before the first tick a scrape already sees every listener, at zero.
  auto first = std::make_shared<Snapshot>();
  first->listeners.resize(settings_.listeners);
  first->kernel_drops.assign(settings_.listeners, 0);
  snapshot_.store(std::move(first));
}

void StatsCore::merge(const FlowTable& t) {
  AddressEnricher* enricher = settings_.enricher;
  t.for_each([&](const ShardKey& shard_key, const Counters& c) {
    FlowKey k = widen(shard_key);
    const Dimensions& d = settings_.dimensions[k.set];
    if (enricher != nullptr && (d.src_lookup || d.dst_lookup))
      enrich_key(k, d, *enricher, settings_.flow_as_wins);
    slice_[k] += c;
  });
}

void StatsCore::tick(std::uint64_t now_ns, bool drive_workers) {
  // Database reloads happen here, between merges, on this thread.
  if (settings_.enricher != nullptr) settings_.enricher->tick(core::monotonic_ns());
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    if (!awaiting_[i] && !spares_.empty()) {
      workers_[i]->request_swap(spares_.back());
      spares_.pop_back();
      awaiting_[i] = true;
    }
    if (drive_workers) workers_[i]->poll_swap();
  }
  // Workers answer at their next batch boundary; a wake-up makes that immediate when idle.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
  std::size_t pending = workers_.size();
  while (pending != 0) {
    pending = 0;
    for (std::size_t i = 0; i < workers_.size(); ++i) {
      if (!awaiting_[i]) continue;
      if (FlowTable* t = workers_[i]->take_retired()) {
        awaiting_[i] = false;
        merge(*t);
        if (settings_.observer != nullptr && t->feeds())
          settings_.observer->on_flows(t->feed(), t->feed_lost(), now_ns);
        last_entries_[i] = t->size();
        std::swap(last_[i], t->snapshot);
        t->clear();
        spares_.push_back(t);
      } else {
        ++pending;
      }
    }
    if (pending == 0) break;
    if (std::chrono::steady_clock::now() > deadline) {
      log::limited(log::Level::warn, "worker_slow", "stats", "a worker did not hand over its table this tick",
                   {{"pending", pending}});
      break;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  if (settings_.observer != nullptr) settings_.observer->on_tick(now_ns);
  publish(now_ns);
}

void StatsCore::truncate(SeriesMap& m, SeriesMap* mirror) const {
  const std::size_t sets = settings_.dimensions.size();
  std::vector<std::size_t> per_set(sets, 0);
  for (const auto& [k, c] : m) {
    if (!k.overflow) ++per_set[k.set];
  }
  for (std::size_t s = 0; s < sets; ++s) {
    const std::size_t keep = budget_per_set_ - 1;  // one series is "other"
    if (per_set[s] <= keep) continue;
    std::vector<SeriesMap::iterator> its;
    its.reserve(per_set[s]);
    for (auto it = m.begin(); it != m.end(); ++it) {
      if (it->first.set == s && !it->first.overflow) its.push_back(it);
    }
    std::nth_element(
        its.begin(), its.begin() + static_cast<std::ptrdiff_t>(keep), its.end(),
        [](const auto& a, const auto& b) { return heavier(a->first, a->second, b->first, b->second); });
    const FlowKey other = overflow_key(static_cast<std::uint8_t>(s));
    Counters folded;
    for (auto it = its.begin() + static_cast<std::ptrdiff_t>(keep); it != its.end(); ++it) {
      folded += (*it)->second;
      if (mirror != nullptr) {
        auto mit = mirror->find((*it)->first);
        subtract(mit->second, (*it)->second);
        if (is_zero(mit->second)) mirror->erase(mit);
      }
      m.erase(*it);
    }
    m[other] += folded;
    if (mirror != nullptr) (*mirror)[other] += folded;
  }
}

std::vector<Series> StatsCore::top(const SeriesMap& m) const {
  std::vector<Series> all;
  all.reserve(m.size());
  for (const auto& [k, c] : m) all.push_back({k, c});
  // Per set: largest first, "other" (the overflow key) folded in after the budget.
  std::sort(all.begin(), all.end(), [](const Series& a, const Series& b) {
    if (a.key.set != b.key.set) return a.key.set < b.key.set;
    if (a.key.overflow != b.key.overflow) return a.key.overflow < b.key.overflow;
    return heavier(a.key, a.counters, b.key, b.counters);
  });
  std::vector<Series> out;
  std::size_t in_set = 0;
  std::uint8_t set = 0;
  for (const Series& s : all) {
    if (out.empty() || s.key.set != set) {
      set = s.key.set;
      in_set = 0;
    }
    const bool fits = !s.key.overflow && in_set < budget_per_set_ - 1;
    if (fits) {
      out.push_back(s);
      ++in_set;
      continue;
    }
    const FlowKey other = overflow_key(set);
    if (out.empty() || !(out.back().key == other)) out.push_back({other, {}});
    out.back().counters += s.counters;
  }
  return out;
}

void StatsCore::publish(std::uint64_t now_ns) {
  if (start_ns_ == 0) start_ns_ = now_ns;
  ++ticks_;

  for (const auto& [k, c] : slice_) cumulative_[k] += c;
  truncate(cumulative_, nullptr);

  // The slice covers [now - tick, now). A bucket covers bucket_ns from open_start_ns; roll before
  // adding when the slice starts past the open bucket.
  const std::uint64_t slice_start = now_ns - std::min(now_ns, settings_.tick_ns);
  for (Window& w : windows_) {
    if (w.open_start_ns == 0) w.open_start_ns = slice_start;
    if (slice_start >= w.open_start_ns + w.bucket_ns) {
      w.closed.push_back(std::move(w.open));
      w.open = SeriesMap{};
      w.open_start_ns = slice_start;
      while (w.closed.size() > w.buckets) {
        for (const auto& [k, c] : w.closed.front()) {
          auto it = w.running.find(k);
          subtract(it->second, c);
          if (is_zero(it->second)) w.running.erase(it);
        }
        w.closed.pop_front();
      }
    }
    for (const auto& [k, c] : slice_) {
      w.open[k] += c;
      w.running[k] += c;
    }
    truncate(w.open, &w.running);
  }
  slice_.clear();

  auto snap = std::make_shared<Snapshot>();
  if (settings_.enricher != nullptr) {
    snap->names = settings_.enricher->names();
    snap->enrichment = settings_.enricher->stats();
  }
  snap->time_ns = now_ns;
  snap->ticks = ticks_;
  snap->listeners.resize(settings_.listeners);
  std::unordered_map<std::string, std::size_t> exporter_index;  // address bytes -> index in snap->exporters
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    const WorkerSnapshot& ws = last_[i];
    snap->all += ws.totals;
    for (std::size_t l = 0; l < ws.listeners.size() && l < snap->listeners.size(); ++l) {
      ListenerCounters& dst = snap->listeners[l];
      const ListenerCounters& src = ws.listeners[l];
      dst.received += src.received;
      dst.received_bytes += src.received_bytes;
      dst.parsed += src.parsed;
      dst.records += src.records;
      dst.receive_errors += src.receive_errors;
      for (std::size_t r = 0; r < dst.dropped.size(); ++r) dst.dropped[r] += src.dropped[r];
    }
    snap->decode += ws.decode;
    for (const ExporterSnapshot& e : ws.exporters) {
      const std::string key(reinterpret_cast<const char*>(e.exporter.bytes.data()), e.exporter.bytes.size());
      auto [it, added] = exporter_index.try_emplace(key, snap->exporters.size());
      if (added) {
        snap->exporters.push_back(e);
      } else {
        snap->exporters[it->second].decode += e.decode;
        snap->exporters[it->second].templates += e.templates;
      }
    }
    snap->table_overflow += ws.table_overflow;
    for (std::size_t b = 0; b < duration_buckets; ++b) snap->duration_counts[b] += ws.duration_counts[b];
    snap->duration_sum += ws.duration_sum;
    snap->batches += ws.batches;
    snap->workers.push_back({workers_[i]->id(), last_entries_[i], 0});
    if (ws.capture) snap->captures.push_back({workers_[i]->source()->name(), *ws.capture});
  }

  // Kernel drops and queued bytes, per socket, from /proc/net/udp{,6}.
  const auto proc = io::read_proc_udp();
  snap->kernel_drops.assign(settings_.listeners, 0);
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    const auto& socks = workers_[i]->sockets();
    for (std::size_t l = 0; l < socks.size(); ++l) {
      auto it = proc.find(socks[l].inode());
      if (it == proc.end()) continue;
      snap->kernel_drops[l] += it->second.drops;
      snap->workers[i].queue_bytes += it->second.rx_queue;
    }
  }

  if (snap->table_overflow > last_overflow_) {
    log::limited(log::Level::warn, "table_full", "flow_table",
                 "flow-table shards are full; records go to the overflow entry (totals stay exact)",
                 {{"records", snap->table_overflow - last_overflow_},
                  {"hint", "raise performance.table_capacity or mask addresses"}});
  }
  last_overflow_ = snap->table_overflow;

  history_.emplace_back(now_ns, snap->all);
  const std::uint64_t longest = settings_.windows_ns.empty() ? 0
                                                             : *std::max_element(settings_.windows_ns.begin(),
                                                                                 settings_.windows_ns.end());
  while (history_.size() > 1 && now_ns - history_[1].first >= longest) history_.pop_front();
  for (const Window& w : windows_) {
    WindowSnapshot ws;
    ws.length_ns = w.length_ns;
    ws.covered_ns = std::min(w.length_ns, now_ns - start_ns_ + settings_.tick_ns);
    // The cumulative totals as they were one window ago (or at start: zero).
    Counters before;
    for (auto it = history_.rbegin(); it != history_.rend(); ++it) {
      if (now_ns - it->first >= w.length_ns) {
        before = it->second;
        break;
      }
    }
    ws.total = snap->all;
    subtract(ws.total, before);
    ws.top = top(w.running);
    ws.top_covered_ns = w.closed.size() * w.bucket_ns + (now_ns - w.open_start_ns);
    snap->windows.push_back(std::move(ws));
  }
  snap->totals = top(cumulative_);
  snapshot_.store(std::move(snap), std::memory_order_release);
}

}  // namespace flowpulse::engine
