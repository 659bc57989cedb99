// The only translation unit of the io library besides the pcap sources that includes pcap/pcap.h
// for filter compilation; see bpf_program.hpp.
#include "io/bpf_program.hpp"

#include <pcap/pcap.h>

#include <cstddef>
#include <memory>

namespace flowpulse::io {

static_assert(sizeof(BpfInstruction) == sizeof(bpf_insn));
static_assert(offsetof(BpfInstruction, k) == offsetof(bpf_insn, k));

core::Result<std::vector<BpfInstruction>> compile_bpf(const std::string& expression, int link_type,
                                                      std::uint32_t snaplen) {
  // pcap_open_dead + pcap_compile (not pcap_compile_nopcap) so the reason of a failure is kept.
  std::unique_ptr<pcap_t, decltype(&pcap_close)> dead(pcap_open_dead(link_type, static_cast<int>(snaplen)),
                                                      &pcap_close);
  if (!dead) return core::Error{"cannot compile BPF filter: pcap_open_dead failed"};
  bpf_program program{};
  if (pcap_compile(dead.get(), &program, expression.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
    return core::Error{"BPF filter '" + expression + "': " + pcap_geterr(dead.get())};
  }
  std::vector<BpfInstruction> out(program.bf_len);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const bpf_insn& in = program.bf_insns[i];
    out[i] = BpfInstruction{in.code, in.jt, in.jf, in.k};
  }
  pcap_freecode(&program);
  return out;
}

}  // namespace flowpulse::io
