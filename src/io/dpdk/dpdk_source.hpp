// The DPDK ethdev source: `Eal` owns the process's one EAL (rte_eal_init with the configured
// arguments, rte_eal_cleanup when the last owner goes), `DpdkPort` owns one configured and started
// port (N RX queues, symmetric RSS on IP/TCP/UDP when the PMD offers it, its own mbuf pool) and
// `DpdkSource` is the PacketSource of one (port, queue): a burst is one rte_eth_rx_burst, its frames
// point into the mbufs, and release() frees them in bulk. This header includes no DPDK header (only
// forward declarations), so the rest of the project builds without DPDK's include flags; the DPDK
// includes live in dpdk_source.cpp, as system headers.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "io/packet_source.hpp"

struct rte_mbuf;
struct rte_mempool;

namespace flowpulse::io::dpdk {

// The process's Environment Abstraction Layer. DPDK allows one rte_eal_init per process, ever:
// init() while an Eal is alive returns it again when the arguments match, and an error after
// cleanup (a process cannot start DPDK twice).
class Eal {
 public:
  // `args` are EAL arguments without a program name, e.g. {"--no-huge", "-m", "256", "--no-shconf",
  // "--no-pci", "--vdev", "net_pcap0,rx_pcap=x.pcap"}.
  static core::Result<std::shared_ptr<Eal>> init(const std::vector<std::string>& args);
  ~Eal();
  Eal(const Eal&) = delete;
  Eal& operator=(const Eal&) = delete;

  const std::vector<std::string>& args() const noexcept { return args_; }
  // Ports the EAL probed (real NICs bound to a DPDK driver and --vdev devices).
  std::uint16_t port_count() const noexcept;

  // The AF_PACKET sockets the EAL's probe opened (net_af_packet vdevs open theirs then), with the
  // interface index each is bound to.
  struct PacketSocket {
    int fd;
    int ifindex;
  };
  const std::vector<PacketSocket>& packet_sockets() const noexcept { return packet_sockets_; }

 private:
  explicit Eal(std::vector<std::string> args) : args_(std::move(args)) {}
  std::vector<std::string> args_;
  std::vector<PacketSocket> packet_sockets_;
};

struct PortOptions {
  std::uint16_t rx_queues = 1;
  std::uint16_t tx_queues = 0;          // only harnesses (net_ring loopback) send
  std::uint16_t rx_descriptors = 8192;  // per queue; the PMD may lower it to its maximum
  // mbufs in the port's pool; 0 = sized from queues and descriptors. net_pcap with infinite_rx=1
  // keeps the whole file in mbufs: give at least as many as the file has packets.
  std::uint32_t mbufs = 0;
  bool promiscuous = true;
};

// Port-wide counters (rte_eth_stats).
struct PortStats {
  std::uint64_t ipackets = 0;
  std::uint64_t ibytes = 0;
  std::uint64_t imissed = 0;    // dropped by the NIC: RX ring full (net_af_packet: its sockets' rings)
  std::uint64_t ierrors = 0;    // bad frames
  std::uint64_t rx_nombuf = 0;  // no mbuf to receive into
};

class DpdkPort {
 public:
  // `device` is a port id ("0") or a device name as the EAL knows it ("net_pcap0", "0000:03:00.0").
  static core::Result<std::shared_ptr<DpdkPort>> open(std::shared_ptr<Eal> eal, const std::string& device,
                                                      const PortOptions& options = {});
  ~DpdkPort();  // stops and closes the port, frees the pool
  DpdkPort(const DpdkPort&) = delete;
  DpdkPort& operator=(const DpdkPort&) = delete;

  std::uint16_t port_id() const noexcept { return port_id_; }
  const std::string& device() const noexcept { return device_; }
  const std::string& driver() const noexcept { return driver_; }
  std::uint16_t rx_queues() const noexcept { return rx_queues_; }
  std::uint16_t tx_queues() const noexcept { return tx_queues_; }
  bool rss() const noexcept { return rss_; }  // false when the PMD has no RSS (most vdevs)
  // Whether the PMD fills the mbuf timestamp with capture wall time (net_pcap: the file's times, to
  // the microsecond). Otherwise frames carry the TSC-derived wall time of their burst.
  bool wall_timestamps() const noexcept { return timestamp_offset_ >= 0; }
  PortStats stats() const;

  // Copies `frames` into mbufs and transmits them on `queue` (a test harness for net_ring, whose
  // TX loops to its own RX). Returns how many the PMD took; the rest are freed.
  core::Result<std::size_t> send(std::uint16_t queue, std::span<const std::span<const std::uint8_t>> frames);

 private:
  friend class DpdkSource;
  DpdkPort() = default;

  std::shared_ptr<Eal> eal_;
  std::string device_;
  std::string driver_;
  rte_mempool* pool_ = nullptr;
  std::uint16_t port_id_ = 0;
  std::uint16_t rx_queues_ = 0;
  std::uint16_t tx_queues_ = 0;
  bool rss_ = false;
  bool started_ = false;
  // net_af_packet: its sockets (one per queue pair). DPDK 22.11's PMD reports no imissed, so the
  // port reads the kernel's drop counts itself and keeps their sum (the reads reset them). Were a
  // PMD to read them too, each drop would still be counted once: by whichever read it first.
  std::vector<int> packet_fds_;
  mutable std::mutex packet_drops_mutex_;
  mutable std::uint64_t packet_drops_ = 0;
  int timestamp_offset_ = -1;         // mbuf dynfield offset of the RX timestamp, -1 = none
  std::uint64_t timestamp_flag_ = 0;  // ol_flags bit that says the mbuf carries one
};

// One RX queue of a port. receive() polls (DPDK is poll mode): with timeout_ms > 0 it spins until a
// frame arrives or the time is up. Frames hold the first segment of each mbuf: caplen is that
// segment's length, wire_len the packet's (they differ only for frames larger than an mbuf).
class DpdkSource final : public PacketSource {
 public:
  static constexpr std::size_t max_burst = 256;

  DpdkSource(std::shared_ptr<DpdkPort> port, std::uint16_t queue);
  ~DpdkSource() override;
  DpdkSource(const DpdkSource&) = delete;
  DpdkSource& operator=(const DpdkSource&) = delete;

  core::Result<std::size_t> receive(std::span<Frame> out, int timeout_ms) override;
  void release() override;
  // Registers the worker's thread with the EAL (rte_thread_register): it gets an lcore id, so the
  // mempool's per-lcore cache serves its bulk frees. The EAL's main thread needs none.
  core::Status attach_thread() override;
  void detach_thread() override;
  // Frames and bytes of this queue; drops and errors are port-wide and reported by queue 0 only, so
  // the sum over a port's sources counts them once.
  SourceStats stats() const override;
  std::string name() const override;  // "dpdk:<port>/<queue>"

 private:
  std::shared_ptr<DpdkPort> port_;
  std::uint16_t queue_;
  std::size_t held_ = 0;  // mbufs of the last burst, not yet released
  bool registered_ = false;
  std::uint64_t frames_ = 0;
  std::uint64_t bytes_ = 0;
  // Wall time from the TSC: realtime_ns at tsc_base_, then cycles scaled by tsc_hz_.
  std::uint64_t tsc_base_ = 0;
  std::uint64_t realtime_base_ns_ = 0;
  double ns_per_cycle_ = 0;
  std::array<rte_mbuf*, max_burst> mbufs_{};
};

}  // namespace flowpulse::io::dpdk
