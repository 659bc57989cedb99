// Compiling a tcpdump-style filter expression ("host example.org and port 80") into classic BPF with
// libpcap, for sources that attach it to their own socket (AF_PACKET's SO_ATTACH_FILTER). libpcap's
// pcap.h stays in bpf_program.cpp: its `struct bpf_insn` clashes with the one in libbpf's headers,
// so this header carries its own instruction type with the layout of Linux's `struct sock_filter`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace flowpulse::io {

// One classic BPF instruction: the layout of `struct sock_filter` and of libpcap's `struct bpf_insn`.
struct BpfInstruction {
  std::uint16_t code = 0;
  std::uint8_t jt = 0;
  std::uint8_t jf = 0;
  std::uint32_t k = 0;
};

// Compiles `expression` for frames of `link_type` (DLT_ value, 1 = Ethernet) cut to `snaplen`,
// optimized. An error quotes the expression and libpcap's reason ("syntax error", "unknown host").
// Note: compiled without a live handle, `vlan` matches tags in the frame bytes only, not tags the
// kernel took out of the frame (VLAN offload).
core::Result<std::vector<BpfInstruction>> compile_bpf(const std::string& expression, int link_type,
                                                      std::uint32_t snaplen);

}  // namespace flowpulse::io
