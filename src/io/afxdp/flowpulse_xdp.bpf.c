// flowpulse's XDP program: redirects the frames the configuration selects (by IP version and
// protocol, optionally one TCP/UDP port) to the AF_XDP socket of the RX queue they came on, and
// passes everything else (ARP, ping, SSH, ...) to the kernel. The selection is one entry of
// `fp_config`, written by XdpProgram (src/io/afxdp/afxdp_source.cpp). A queue without a socket
// passes its frames too (bpf_redirect_map's fallback action).
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

// Must match the select_* bits in afxdp_source.hpp.
#define SELECT_IPV4_UDP (1U << 0)
#define SELECT_IPV4_TCP (1U << 1)
#define SELECT_IPV6_UDP (1U << 2)
#define SELECT_IPV6_TCP (1U << 3)
#define SELECT_IP_OTHER (1U << 4)
#define SELECT_NON_IP (1U << 5)

struct fp_selection {
  __u32 protocols;
  __u16 port; /* 0 = any */
  __u16 pad;
};

struct {
  __uint(type, BPF_MAP_TYPE_XSKMAP);
  __uint(max_entries, 256);
  __type(key, __u32);
  __type(value, __u32);
} xsks_map SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct fp_selection);
} fp_config SEC(".maps");

struct vlan_hdr {
  __be16 tci;
  __be16 proto;
};

static __always_inline int ports_match(void* l4, void* end, __u16 want) {
  /* TCP and UDP both start with source and destination port. */
  struct udphdr* uh = l4;
  if ((void*)(uh + 1) > end) return 0;
  if (want == 0) return 1;
  return uh->source == bpf_htons(want) || uh->dest == bpf_htons(want);
}

SEC("xdp")
int flowpulse_xdp(struct xdp_md* ctx) {
  void* data = (void*)(long)ctx->data;
  void* end = (void*)(long)ctx->data_end;
  __u32 key = 0;
  struct fp_selection* sel = bpf_map_lookup_elem(&fp_config, &key);
  if (!sel) return XDP_PASS;

  struct ethhdr* eth = data;
  if ((void*)(eth + 1) > end) return XDP_PASS;
  __u16 proto = eth->h_proto;
  void* next = eth + 1;
#pragma unroll
  for (int i = 0; i < 2; i++) { /* 802.1Q / QinQ */
    if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD)) break;
    struct vlan_hdr* vh = next;
    if ((void*)(vh + 1) > end) return XDP_PASS;
    proto = vh->proto;
    next = vh + 1;
  }

  int selected = 0;
  if (proto == bpf_htons(ETH_P_IP)) {
    struct iphdr* iph = next;
    if ((void*)(iph + 1) > end || iph->ihl < 5) return XDP_PASS;
    void* l4 = (void*)iph + iph->ihl * 4;
    /* A non-first fragment has no ports: it goes where the selection of its protocol says. */
    int first = (iph->frag_off & bpf_htons(0x1fff)) == 0;
    if (iph->protocol == IPPROTO_UDP)
      selected = (sel->protocols & SELECT_IPV4_UDP) && (!first || ports_match(l4, end, sel->port));
    else if (iph->protocol == IPPROTO_TCP)
      selected = (sel->protocols & SELECT_IPV4_TCP) && (!first || ports_match(l4, end, sel->port));
    else
      selected = (sel->protocols & SELECT_IP_OTHER) != 0;
  } else if (proto == bpf_htons(ETH_P_IPV6)) {
    struct ipv6hdr* ip6 = next;
    if ((void*)(ip6 + 1) > end) return XDP_PASS;
    /* Extension headers are not walked: TCP/UDP behind them count as "other". */
    if (ip6->nexthdr == IPPROTO_UDP)
      selected = (sel->protocols & SELECT_IPV6_UDP) && ports_match(ip6 + 1, end, sel->port);
    else if (ip6->nexthdr == IPPROTO_TCP)
      selected = (sel->protocols & SELECT_IPV6_TCP) && ports_match(ip6 + 1, end, sel->port);
    else
      selected = (sel->protocols & SELECT_IP_OTHER) != 0;
  } else {
    selected = (sel->protocols & SELECT_NON_IP) != 0;
  }
  if (!selected) return XDP_PASS;
  return bpf_redirect_map(&xsks_map, ctx->rx_queue_index, XDP_PASS);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
