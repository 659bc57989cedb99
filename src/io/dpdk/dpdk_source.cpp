// DPDK EAL, port and RX-queue source. The only translation unit of the project that includes DPDK
// headers (as system headers: they warn under C++20).
#include "io/dpdk/dpdk_source.hpp"

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_mempool.h>

#include <pthread.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string_view>

#include "core/log.hpp"
#include "io/afpacket_source.hpp"

namespace flowpulse::io::dpdk {
namespace {

// Symmetric Toeplitz key: the 16-bit pattern 0x6d5a repeated makes hash(src, dst) == hash(dst, src),
// so both directions of a flow land on one queue (Woo and Park, "Scalable TCP Session Monitoring
// with Symmetric Receive-side Scaling").
constexpr std::uint8_t symmetric_rss_byte(std::size_t i) { return (i % 2 == 0) ? 0x6d : 0x5a; }

std::mutex eal_mutex;
std::weak_ptr<Eal> eal_instance;
bool eal_used = false;  // rte_eal_init ran in this process (it cannot run again)

std::string rte_error(int err) { return rte_strerror(err < 0 ? -err : err); }

std::uint64_t realtime_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<std::uint64_t>(ts.tv_nsec);
}

std::uint32_t pool_size(std::uint32_t wanted) {
  // A mempool is most memory-efficient at 2^n - 1 elements.
  std::uint32_t n = 1;
  while (n - 1 < wanted) n <<= 1;
  return n - 1;
}

// The process's socket file descriptors and their inodes (/proc/self/fd links read "socket:[N]").
std::vector<std::pair<int, unsigned long>> socket_fds() {
  std::vector<std::pair<int, unsigned long>> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
    std::error_code link_ec;
    const std::string target = std::filesystem::read_symlink(e.path(), link_ec).string();
    unsigned long inode = 0;
    if (link_ec || std::sscanf(target.c_str(), "socket:[%lu]", &inode) != 1) continue;
    out.emplace_back(std::atoi(e.path().filename().c_str()), inode);
  }
  return out;
}

// AF_PACKET sockets of this network namespace: inode -> bound interface index (/proc/net/packet:
// sk RefCnt Type Proto Iface R Rmem User Inode).
std::map<unsigned long, int> packet_socket_interfaces() {
  std::map<unsigned long, int> out;
  std::ifstream in("/proc/net/packet");
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string sk, refs, type, proto;
    int iface = 0;
    std::string r, rmem, user;
    unsigned long inode = 0;
    if (f >> sk >> refs >> type >> proto >> iface >> r >> rmem >> user >> inode) out[inode] = iface;
  }
  return out;
}

}  // namespace

core::Result<std::shared_ptr<Eal>> Eal::init(const std::vector<std::string>& args) {
  std::lock_guard lock(eal_mutex);
  if (auto alive = eal_instance.lock()) {
    if (alive->args() == args) return alive;
    return core::Error{
        "DPDK EAL is already running in this process with other arguments; DPDK allows one "
        "EAL per process"};
  }
  if (eal_used) {
    return core::Error{
        "DPDK EAL was already initialised and cleaned up in this process; DPDK cannot "
        "start twice in one process: run each EAL configuration in its own process"};
  }
  std::vector<std::string> argv_storage;
  argv_storage.reserve(args.size() + 1);
  argv_storage.emplace_back("flowpulse");
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  eal_used = true;
  const auto sockets_before = socket_fds();
  // rte_eal_init pins the calling thread to the main lcore's CPU, and every thread started from it
  // later would inherit that one CPU: the workers (EAL threads by rte_thread_register, placed by
  // performance.worker_cpus), the stats core, the metrics server. They get the caller's CPUs back.
  cpu_set_t cpus;
  const bool have_cpus = pthread_getaffinity_np(pthread_self(), sizeof cpus, &cpus) == 0;
  const int rc = rte_eal_init(static_cast<int>(argv_storage.size()), argv.data());
  if (have_cpus) pthread_setaffinity_np(pthread_self(), sizeof cpus, &cpus);
  if (rc < 0) {
    std::string joined;
    for (const auto& a : args) joined += (joined.empty() ? "" : " ") + a;
    return core::Error{"DPDK EAL initialisation failed (" + rte_error(rte_errno) + ") with arguments '" +
                       joined +
                       "'; without hugepages use --no-huge -m 256 --no-shconf, and check the --vdev "
                       "strings and that the process may lock memory"};
  }
  std::shared_ptr<Eal> eal(new Eal(args));
  const auto packet = packet_socket_interfaces();
  for (const auto& fd : socket_fds()) {
    const auto it = packet.find(fd.second);
    if (it != packet.end() &&
        std::find(sockets_before.begin(), sockets_before.end(), fd) == sockets_before.end())
      eal->packet_sockets_.push_back({fd.first, it->second});
  }
  eal_instance = eal;
  log::info("dpdk eal started", {{"ports", static_cast<unsigned>(rte_eth_dev_count_avail())},
                                 {"lcores", static_cast<unsigned>(rte_lcore_count())}});
  return eal;
}

Eal::~Eal() {
  // With --no-shconf or --in-memory and a --file-prefix of its own, the runtime directory
  // (/var/run/dpdk/<prefix>) belongs to this process alone, and rte_eal_cleanup leaves it behind.
  bool private_runtime = false;
  bool own_prefix = false;
  for (const auto& a : args_) {
    if (a == "--no-shconf" || a == "--in-memory") private_runtime = true;
    if (a.rfind("--file-prefix", 0) == 0) own_prefix = true;
  }
  const std::string runtime_dir = rte_eal_get_runtime_dir();
  rte_eal_cleanup();
  if (private_runtime && own_prefix && !runtime_dir.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(runtime_dir, ec);
  }
}

std::uint16_t Eal::port_count() const noexcept { return rte_eth_dev_count_avail(); }

core::Result<std::shared_ptr<DpdkPort>> DpdkPort::open(std::shared_ptr<Eal> eal, const std::string& device,
                                                       const PortOptions& options) {
  if (!eal) return core::Error{"dpdk port " + device + ": the EAL is not initialised"};
  std::uint16_t port_id = 0;
  const bool numeric = !device.empty() &&
                       std::all_of(device.begin(), device.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (numeric) {
    const unsigned long v = std::stoul(device);
    if (v >= RTE_MAX_ETHPORTS || !rte_eth_dev_is_valid_port(static_cast<std::uint16_t>(v))) {
      return core::Error{"dpdk port " + device + ": no such port (the EAL found " +
                         std::to_string(rte_eth_dev_count_avail()) + ")"};
    }
    port_id = static_cast<std::uint16_t>(v);
  } else if (rte_eth_dev_get_port_by_name(device.c_str(), &port_id) != 0) {
    return core::Error{"dpdk device '" + device +
                       "' not found: give a --vdev or bind the NIC to a DPDK driver (vfio-pci), "
                       "or name the port by number"};
  }
  if (options.rx_queues == 0) return core::Error{"dpdk port " + device + ": rx_queues must be at least 1"};

  std::shared_ptr<DpdkPort> port(new DpdkPort());
  port->eal_ = std::move(eal);
  port->device_ = device;
  port->port_id_ = port_id;
  const std::string what = "dpdk port " + device;

  rte_eth_dev_info info{};
  if (int rc = rte_eth_dev_info_get(port_id, &info); rc != 0) {
    return core::Error{what + ": cannot read device info: " + rte_error(rc)};
  }
  port->driver_ = info.driver_name != nullptr ? info.driver_name : "";
  if (port->driver_ == "net_af_packet") {
    for (const auto& ps : port->eal_->packet_sockets())
      if (info.if_index != 0 && ps.ifindex == static_cast<int>(info.if_index))
        port->packet_fds_.push_back(ps.fd);
    if (port->packet_fds_.empty()) {
      log::warn(
          "dpdk net_af_packet port: its sockets were not found, so the drops of its rings cannot be "
          "counted (flow_capture_drops_total stays 0 for it)",
          {{"device", device}, {"if_index", static_cast<unsigned>(info.if_index)}});
    }
  }
  if (options.rx_queues > info.max_rx_queues) {
    return core::Error{what + " (" + port->driver_ + "): " + std::to_string(options.rx_queues) +
                       " rx queues asked, the device has " + std::to_string(info.max_rx_queues)};
  }
  const std::uint16_t tx_queues = std::min<std::uint16_t>(options.tx_queues, info.max_tx_queues);

  rte_eth_conf conf{};
  std::array<std::uint8_t, 52> key{};  // 40 on most NICs, 52 on i40e/ice
  const std::uint64_t wanted_rss = RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP;
  const std::uint64_t rss_hf = info.flow_type_rss_offloads & wanted_rss;
  if (options.rx_queues > 1 && rss_hf != 0) {
    const std::size_t key_len =
        info.hash_key_size != 0 ? std::min<std::size_t>(info.hash_key_size, key.size()) : 40;
    for (std::size_t i = 0; i < key_len; ++i) key[i] = symmetric_rss_byte(i);
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf.rx_adv_conf.rss_conf.rss_key = key.data();
    conf.rx_adv_conf.rss_conf.rss_key_len = static_cast<std::uint8_t>(key_len);
    conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
    port->rss_ = true;
  } else if (options.rx_queues > 1) {
    log::warn("dpdk port has no RSS: frames are spread the way the driver does it",
              {{"device", device}, {"driver", port->driver_}});
  }
  if (port->driver_ == "net_pcap") {
    // Only net_pcap's timestamp is known to be wall time (the capture's; DPDK 22.11 gives
    // microseconds since the epoch, so sub-microsecond digits of a nanosecond file are lost); a
    // NIC's is its own clock. net_pcap fills it without advertising the offload; registering again
    // returns the field it already registered.
    int offset = -1;
    if (rte_mbuf_dyn_rx_timestamp_register(&offset, &port->timestamp_flag_) == 0)
      port->timestamp_offset_ = offset;
  }

  if (int rc = rte_eth_dev_configure(port_id, options.rx_queues, tx_queues, &conf); rc != 0) {
    return core::Error{what + " (" + port->driver_ + "): configure failed: " + rte_error(rc)};
  }
  std::uint16_t nb_rxd = options.rx_descriptors;
  std::uint16_t nb_txd = 512;
  if (int rc = rte_eth_dev_adjust_nb_rx_tx_desc(port_id, &nb_rxd, &nb_txd); rc != 0) {
    return core::Error{what + ": cannot adjust descriptor counts: " + rte_error(rc)};
  }

  const int socket = rte_eth_dev_socket_id(port_id);
  const unsigned cache = 256;
  std::uint32_t mbufs = options.mbufs;
  if (mbufs == 0) {
    // Every RX descriptor holds one, plus a burst in flight per queue, plus the per-lcore caches.
    mbufs = std::max<std::uint32_t>(8191, static_cast<std::uint32_t>(options.rx_queues + tx_queues) *
                                                  (nb_rxd + 2 * DpdkSource::max_burst) +
                                              cache * rte_lcore_count());
  }
  const std::string pool_name = "fp_pool_" + std::to_string(port_id);
  port->pool_ = rte_pktmbuf_pool_create(pool_name.c_str(), pool_size(mbufs), cache, 0,
                                        RTE_MBUF_DEFAULT_BUF_SIZE, socket < 0 ? SOCKET_ID_ANY : socket);
  if (port->pool_ == nullptr) {
    return core::Error{what + ": cannot create a pool of " + std::to_string(pool_size(mbufs)) +
                       " mbufs: " + rte_error(rte_errno) + " (raise the EAL memory, -m N, or lower mbufs)"};
  }
  for (std::uint16_t q = 0; q < options.rx_queues; ++q) {
    rte_eth_rxconf rxconf = info.default_rxconf;
    rxconf.offloads = conf.rxmode.offloads;
    if (int rc = rte_eth_rx_queue_setup(port_id, q, nb_rxd,
                                        static_cast<unsigned>(socket < 0 ? SOCKET_ID_ANY : socket), &rxconf,
                                        port->pool_);
        rc != 0) {
      return core::Error{what + ": rx queue " + std::to_string(q) + " setup failed: " + rte_error(rc)};
    }
  }
  for (std::uint16_t q = 0; q < tx_queues; ++q) {
    if (int rc = rte_eth_tx_queue_setup(port_id, q, nb_txd,
                                        static_cast<unsigned>(socket < 0 ? SOCKET_ID_ANY : socket), nullptr);
        rc != 0) {
      return core::Error{what + ": tx queue " + std::to_string(q) + " setup failed: " + rte_error(rc)};
    }
  }
  port->rx_queues_ = options.rx_queues;
  port->tx_queues_ = tx_queues;
  if (int rc = rte_eth_dev_start(port_id); rc != 0) {
    return core::Error{what + ": start failed: " + rte_error(rc)};
  }
  port->started_ = true;
  if (options.promiscuous) {
    // vdevs without the notion return -ENOTSUP; that is fine.
    (void)rte_eth_promiscuous_enable(port_id);
  }
  log::info("dpdk port started", {{"device", device},
                                  {"driver", port->driver_},
                                  {"port", static_cast<unsigned>(port_id)},
                                  {"rx_queues", static_cast<unsigned>(options.rx_queues)},
                                  {"rss", port->rss_},
                                  {"mbufs", pool_size(mbufs)}});
  return port;
}

DpdkPort::~DpdkPort() {
  if (started_) {
    (void)rte_eth_dev_stop(port_id_);
    (void)rte_eth_dev_close(port_id_);
  }
  if (pool_ != nullptr) rte_mempool_free(pool_);
}

PortStats DpdkPort::stats() const {
  rte_eth_stats s{};
  PortStats out;
  if (rte_eth_stats_get(port_id_, &s) == 0) {
    out.ipackets = s.ipackets;
    out.ibytes = s.ibytes;
    out.imissed = s.imissed;
    if (!packet_fds_.empty()) {
      std::lock_guard lock(packet_drops_mutex_);
      for (int fd : packet_fds_) packet_drops_ += take_packet_drops(fd);
      out.imissed += packet_drops_;
    }
    out.ierrors = s.ierrors;
    out.rx_nombuf = s.rx_nombuf;
  }
  return out;
}

core::Result<std::size_t> DpdkPort::send(std::uint16_t queue,
                                         std::span<const std::span<const std::uint8_t>> frames) {
  if (queue >= tx_queues_) {
    return core::Error{"dpdk port " + device_ + ": tx queue " + std::to_string(queue) + " not configured (" +
                       std::to_string(tx_queues_) + " tx queues)"};
  }
  std::size_t sent = 0;
  std::array<rte_mbuf*, DpdkSource::max_burst> burst{};
  while (sent < frames.size()) {
    const std::size_t n = std::min(frames.size() - sent, burst.size());
    if (rte_pktmbuf_alloc_bulk(pool_, burst.data(), static_cast<unsigned>(n)) != 0) {
      return core::Error{"dpdk port " + device_ + ": out of mbufs while sending"};
    }
    for (std::size_t i = 0; i < n; ++i) {
      const auto& f = frames[sent + i];
      char* dst = rte_pktmbuf_append(burst[i], static_cast<std::uint16_t>(f.size()));
      if (dst == nullptr) {
        rte_pktmbuf_free_bulk(burst.data(), static_cast<unsigned>(n));
        return core::Error{"dpdk port " + device_ + ": frame of " + std::to_string(f.size()) +
                           " bytes does not fit an mbuf"};
      }
      std::memcpy(dst, f.data(), f.size());
    }
    const std::uint16_t took = rte_eth_tx_burst(port_id_, queue, burst.data(), static_cast<std::uint16_t>(n));
    if (took < n) rte_pktmbuf_free_bulk(burst.data() + took, static_cast<unsigned>(n - took));
    sent += took;
    if (took < n) break;  // the ring is full: the caller sees how many went
  }
  return sent;
}

DpdkSource::DpdkSource(std::shared_ptr<DpdkPort> port, std::uint16_t queue)
    : port_(std::move(port)), queue_(queue) {
  tsc_base_ = rte_get_tsc_cycles();
  realtime_base_ns_ = realtime_ns();
  ns_per_cycle_ = 1e9 / static_cast<double>(rte_get_tsc_hz());
}

DpdkSource::~DpdkSource() { release(); }

core::Status DpdkSource::attach_thread() {
  if (rte_lcore_id() != LCORE_ID_ANY) return core::Ok{};  // already an EAL lcore
  if (rte_thread_register() != 0) {
    return core::Error{name() + ": cannot register the worker thread with the EAL (" +
                       rte_strerror(rte_errno) + "); it runs without a mempool cache"};
  }
  registered_ = true;
  return core::Ok{};
}

void DpdkSource::detach_thread() {
  if (!registered_) return;
  release();
  rte_thread_unregister();
  registered_ = false;
}

core::Result<std::size_t> DpdkSource::receive(std::span<Frame> out, int timeout_ms) {
  if (held_ != 0) release();  // a caller that forgot: never leak mbufs
  if (queue_ >= port_->rx_queues_) {
    return core::Error{"dpdk port " + port_->device_ + ": rx queue " + std::to_string(queue_) +
                       " not configured"};
  }
  const auto want = static_cast<std::uint16_t>(std::min(out.size(), mbufs_.size()));
  std::uint16_t n = rte_eth_rx_burst(port_->port_id_, queue_, mbufs_.data(), want);
  if (n == 0 && timeout_ms > 0) {
    const std::uint64_t deadline =
        rte_get_tsc_cycles() + rte_get_tsc_hz() / 1000 * static_cast<std::uint64_t>(timeout_ms);
    while (n == 0 && rte_get_tsc_cycles() < deadline) {
      rte_pause();
      n = rte_eth_rx_burst(port_->port_id_, queue_, mbufs_.data(), want);
    }
  }
  if (n == 0) return std::size_t{0};
  held_ = n;
  // One clock read per burst: the frames of a burst arrived within a few microseconds.
  const std::uint64_t now_ns =
      realtime_base_ns_ +
      static_cast<std::uint64_t>(static_cast<double>(rte_get_tsc_cycles() - tsc_base_) * ns_per_cycle_);
  const int ts_offset = port_->timestamp_offset_;
  const std::uint64_t ts_flag = port_->timestamp_flag_;
  std::uint64_t bytes = 0;
  for (std::uint16_t i = 0; i < n; ++i) {
    const rte_mbuf* m = mbufs_[i];
    if (i + 1 < n) rte_prefetch0(rte_pktmbuf_mtod(mbufs_[i + 1], const void*));
    Frame& f = out[i];
    f.data = rte_pktmbuf_mtod(m, const std::uint8_t*);
    f.caplen = m->data_len;
    f.wire_len = m->pkt_len;
    f.timestamp_ns = (ts_offset >= 0 && (m->ol_flags & ts_flag) != 0)
                         ? *RTE_MBUF_DYNFIELD(m, ts_offset, const rte_mbuf_timestamp_t*) * 1000
                         : now_ns;
    f.port = port_->port_id_;
    f.queue = queue_;
    f.link_type = 1;
    bytes += m->pkt_len;
  }
  frames_ += n;
  bytes_ += bytes;
  return std::size_t{n};
}

void DpdkSource::release() {
  if (held_ == 0) return;
  rte_pktmbuf_free_bulk(mbufs_.data(), static_cast<unsigned>(held_));
  held_ = 0;
}

SourceStats DpdkSource::stats() const {
  SourceStats s;
  s.frames = frames_;
  s.bytes = bytes_;
  if (queue_ == 0) {
    const PortStats p = port_->stats();
    s.kernel_drops = p.imissed;
    s.errors = p.ierrors + p.rx_nombuf;
  }
  return s;
}

std::string DpdkSource::name() const {
  return "dpdk:" + std::to_string(port_->port_id_) + "/" + std::to_string(queue_);
}

}  // namespace flowpulse::io::dpdk
