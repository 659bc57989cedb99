#include "engine/worker.hpp"

#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/clock.hpp"
#include "core/ip_address.hpp"
#include "core/log.hpp"

namespace flowpulse::engine {
namespace {

constexpr std::size_t max_datagram = 65536;
constexpr int idle_wait_ms = 100;

IpAddress source_address(const sockaddr_storage& ss, std::uint16_t& port) {
  if (ss.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    port = ntohs(a->sin_port);
    return IpAddress::v4_bytes(reinterpret_cast<const std::uint8_t*>(&a->sin_addr));
  }
  const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
  port = ntohs(a->sin6_port);
  const auto* b = reinterpret_cast<const std::uint8_t*>(&a->sin6_addr);
  // An IPv4 exporter on a dual-stack socket arrives IPv4-mapped: it is an IPv4 exporter.
  if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) return IpAddress::v4_bytes(b + 12);
  return IpAddress::v6_bytes(b);
}

}  // namespace

Worker::Worker(unsigned id, const WorkerSettings& settings)
    : id_(id),
      settings_(settings),
      decoder_(settings.limits),
      initial_table_(std::make_unique<FlowTable>(settings.table_capacity, settings.dimensions.size())),
      active_(initial_table_.get()),
      listeners_(settings.listeners.size()),
      aggregator_(settings.dimensions) {
  for (const auto& l : settings.listeners) hints_.push_back(l.protocol);
  const std::size_t n = settings.batch_size;
  if (!settings.listeners.empty()) buffers_.resize(n * max_datagram);  // capture workers have none
  msgs_.resize(n);
  iovecs_.resize(n);
  names_.resize(n);
}

core::Status Worker::open_wakeup() {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_fd_ < 0 || wake_fd_ < 0) return core::Error{std::string("worker: ") + std::strerror(errno)};
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = UINT64_MAX;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev) != 0) {
    return core::Error{std::string("worker: epoll_ctl: ") + std::strerror(errno)};
  }
  return core::Ok{};
}

core::Result<std::unique_ptr<Worker>> Worker::create(unsigned id, const WorkerSettings& settings) {
  std::unique_ptr<Worker> w(new Worker(id, settings));
  if (auto st = w->open_wakeup(); !st) return core::Error{st.error()};
  epoll_event ev{};
  ev.events = EPOLLIN;
  for (std::size_t i = 0; i < settings.listeners.size(); ++i) {
    auto s = io::UdpSocket::open(settings.listeners[i], true);
    if (!s) return core::Error{s.error()};
    ev.data.u64 = i;
    if (epoll_ctl(w->epoll_fd_, EPOLL_CTL_ADD, s->fd(), &ev) != 0) {
      return core::Error{std::string("worker: epoll_ctl: ") + std::strerror(errno)};
    }
    w->sockets_.push_back(std::move(s).value());
  }
  return w;
}

core::Result<std::unique_ptr<Worker>> Worker::create_capture(unsigned id, const WorkerSettings& settings,
                                                             std::unique_ptr<io::PacketSource> source,
                                                             std::unique_ptr<io::FrameSink> store) {
  WorkerSettings ws = settings;
  ws.listeners.clear();  // a capture worker has no sockets
  std::unique_ptr<Worker> w(new Worker(id, ws));
  if (auto st = w->open_wakeup(); !st) return core::Error{st.error()};
  w->source_ = std::move(source);
  w->store_ = std::move(store);
  w->meter_ = std::make_unique<Meter>(settings.meter, w->decoder_);
  w->meter_->notify_new_flows(settings.new_flows);
  if (settings.feed_capacity != 0) w->active_->set_feed(settings.feed_capacity);
  w->frames_.resize(settings.batch_size);
  return w;
}

Worker::~Worker() {
  stop();
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void Worker::start() {
  thread_ = std::jthread([this](std::stop_token st) { run(st); });
  // As `top -H` and `ps -L` show it (15 characters at most).
  pthread_setname_np(thread_.native_handle(), ("fp-worker-" + std::to_string(id_)).c_str());
}

core::Status Worker::pin(unsigned cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (int rc = pthread_setaffinity_np(thread_.native_handle(), sizeof set, &set); rc != 0) {
    return core::Error{"performance.worker_cpus: cannot run worker " + std::to_string(id_) + " on CPU " +
                       std::to_string(cpu) + ": " + std::strerror(rc) + " (`taskset -cp " +
                       std::to_string(getpid()) + "` lists the CPUs this process may use)"};
  }
  return core::Ok{};
}

std::string Worker::keep_off_worker_cpus(pthread_t thread, const std::vector<std::uint32_t>& worker_cpus) {
  cpu_set_t cpus;
  if (worker_cpus.empty() || pthread_getaffinity_np(thread, sizeof cpus, &cpus) != 0) return "";
  for (std::uint32_t c : worker_cpus) {
    if (c < CPU_SETSIZE) CPU_CLR(c, &cpus);
  }
  if (CPU_COUNT(&cpus) == 0 || pthread_setaffinity_np(thread, sizeof cpus, &cpus) != 0) return "";
  std::string list;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (!CPU_ISSET(c, &cpus)) continue;
    int last = c;
    while (last + 1 < CPU_SETSIZE && CPU_ISSET(last + 1, &cpus)) ++last;
    list += (list.empty() ? "" : ",") + std::to_string(c) + (last > c ? "-" + std::to_string(last) : "");
    c = last;
  }
  return list;
}

void Worker::stop() {
  if (!thread_.joinable()) return;
  thread_.request_stop();
  const std::uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
  thread_.join();
}

void Worker::request_swap(FlowTable* spare) noexcept {
  swap_request_.store(spare, std::memory_order_release);
  const std::uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
}

void Worker::fill_snapshot(WorkerSnapshot& s) {
  s.listeners = listeners_;  // sized at start: the copy reuses the snapshot's storage after the first tick
  s.decode = decoder_.total();
  s.exporters.resize(decoder_.exporters().size());  // grows with new exporters only, once each
  for (std::size_t i = 0; i < s.exporters.size(); ++i) {
    const auto& e = decoder_.exporters()[i];
    s.exporters[i] = {e.exporter, e.stats, decoder_.templates().template_count(e.exporter)};
  }
  s.table_overflow = overflow_records_;
  s.duration_counts = duration_counts_;
  s.duration_sum = duration_sum_;
  s.batches = batches_;
  s.totals = aggregator_.totals();
  if (source_) {
    s.capture = CaptureCounters{source_->stats(), meter_->stats(), meter_->reassembly_stats(),
                                capture_errors_, source_->at_end()};
  }
}

void Worker::poll_swap() noexcept {
  FlowTable* spare = swap_request_.exchange(nullptr, std::memory_order_acq_rel);
  if (spare == nullptr) return;
  if (meter_) {  // the flows metered since the last hand-over go into this shard
    meter_->flush(writer_);
    writer_.flush();
  }
  if (store_) store_->flush();
  decoder_.expire_pending(core::realtime_ns());
  overflow_records_ += active_->overflow_records();
  fill_snapshot(active_->snapshot);
  retired_.store(active_, std::memory_order_release);
  active_ = spare;
}

void Worker::idle(int timeout_ms) noexcept {
  epoll_event ev;
  if (epoll_wait(epoll_fd_, &ev, 1, timeout_ms) == 1) {
    std::uint64_t v;
    (void)!::read(wake_fd_, &v, sizeof v);
  }
}

void Worker::count_batch(std::uint64_t started_ns) noexcept {
  const double seconds = static_cast<double>(core::monotonic_ns() - started_ns) / 1e9;
  std::size_t b = 0;
  while (b < std::size(duration_bounds) && seconds > duration_bounds[b]) ++b;
  ++duration_counts_[b];
  duration_sum_ += seconds;
  ++batches_;
}

void Worker::run_capture(std::stop_token stop) {
  if (auto attached = source_->attach_thread(); !attached) {
    ++capture_errors_;
    log::error("capture worker cannot use its source",
               {{"source", source_->name()}, {"error", attached.error()}});
  }
  while (!stop.stop_requested()) {
    if (source_->at_end()) {  // a file read to its end: nothing more will come
      idle(idle_wait_ms);
      poll_swap();
      continue;
    }
    auto got = source_->receive(frames_, idle_wait_ms);
    if (!got) {
      ++capture_errors_;
      log::limited(log::Level::error, "capture_error", source_->name(), "capture receive failed",
                   {{"error", got.error()}});
      idle(idle_wait_ms);  // a failing device is retried, not spun on
    } else if (*got != 0) {
      const std::uint64_t t0 = core::monotonic_ns();
      const std::span<const io::Frame> burst(frames_.data(), *got);
      meter_->process(burst, writer_);
      writer_.flush();
      if (store_) store_->write(burst);
      source_->release();
      count_batch(t0);
    }
    poll_swap();
  }
  source_->detach_thread();
}

void Worker::run(std::stop_token stop) {
  if (source_) {
    run_capture(stop);
    return;
  }
  std::array<epoll_event, 16> events;
  while (!stop.stop_requested()) {
    const int n = epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), idle_wait_ms);
    for (int i = 0; i < n; ++i) {
      if (events[i].data.u64 == UINT64_MAX) {
        std::uint64_t v;
        (void)!::read(wake_fd_, &v, sizeof v);
        continue;
      }
      receive(static_cast<std::size_t>(events[i].data.u64));
      poll_swap();
    }
    poll_swap();
  }
}

void Worker::receive(std::size_t listener) {
  const std::size_t n = msgs_.size();
  for (std::size_t i = 0; i < n; ++i) {
    iovecs_[i] = {buffers_.data() + i * max_datagram, max_datagram};
    msgs_[i].msg_hdr = msghdr{};
    msgs_[i].msg_hdr.msg_iov = &iovecs_[i];
    msgs_[i].msg_hdr.msg_iovlen = 1;
    msgs_[i].msg_hdr.msg_name = &names_[i];
    msgs_[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
  }
  const int got =
      recvmmsg(sockets_[listener].fd(), msgs_.data(), static_cast<unsigned>(n), MSG_DONTWAIT, nullptr);
  if (got <= 0) {
    if (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      ++listeners_[listener].receive_errors;
      log::limited(log::Level::error, "receive_error", std::to_string(sockets_[listener].port()),
                   "recvmmsg failed", {{"error", std::strerror(errno)}});
    }
    return;
  }
  const std::uint64_t t0 = core::monotonic_ns();
  const std::uint64_t now = core::realtime_ns();
  for (int i = 0; i < got; ++i) {
    decode::Datagram dg;
    dg.data = buffers_.data() + static_cast<std::size_t>(i) * max_datagram;
    dg.size = msgs_[i].msg_len;
    dg.exporter = source_address(names_[i], dg.exporter_port);
    dg.time_received_ns = now;
    handle_datagram(listener, dg);
  }
  count_batch(t0);
}

void Worker::handle_datagram(std::size_t listener, const decode::Datagram& dg) noexcept {
  ListenerCounters& lc = listeners_[listener];
  ++lc.received;
  lc.received_bytes += dg.size;
  const std::uint64_t records_before = aggregator_.records();
  const std::optional<decode::DropReason> error = decoder_.decode(dg, writer_, hints_[listener]);
  writer_.flush();  // into the active table, so this datagram's records are counted here
  lc.records += aggregator_.records() - records_before;
  if (error) {
    ++lc.dropped[static_cast<std::size_t>(*error)];
  } else {
    ++lc.parsed;
  }
}

void Worker::on_records(std::span<const FlowRecord> records) {
  aggregator_.add(*active_, records);
  if (active_->feeds())
    for (const FlowRecord& r : records)
      if (r.type == FlowType::raw) active_->add_feed(r);
}

}  // namespace flowpulse::engine
