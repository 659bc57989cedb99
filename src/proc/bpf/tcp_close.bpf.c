// Which process owns a TCP connection, told by the kernel as the connection is closed: the
// tracepoint sock/inet_sock_set_state fires when a socket enters FIN_WAIT1 or LAST_ACK, which
// only close() or shutdown() on the socket do, in the context of the process that owns it. So the
// current task is the owner, and the event carries the connection's 5-tuple. A connection that
// lived for a millisecond between two socket-table refreshes is still charged to its process.
//
// Built with clang for the BPF target; the tracepoint's record layout is its stable format
// (/sys/kernel/tracing/events/sock/inet_sock_set_state/format), so no kernel BTF is needed.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct inet_sock_set_state_args {
  unsigned long long common;  // common_type, flags, preempt_count, pid
  const void* skaddr;
  int oldstate;
  int newstate;
  __u16 sport;  // host byte order
  __u16 dport;
  __u16 family;
  __u16 protocol;
  __u8 saddr[4];
  __u8 daddr[4];
  __u8 saddr_v6[16];
  __u8 daddr_v6[16];
};

// What user space reads (src/proc/tcp_close_tracer.cpp has the same layout).
struct tcp_close_event {
  __u32 tgid;
  __u16 family;  // 2 AF_INET, 10 AF_INET6
  __u16 sport;
  __u16 dport;
  __u16 pad;
  __u8 saddr[16];  // IPv4 in the first 4 bytes
  __u8 daddr[16];
};

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 1 << 20);
} events SEC(".maps");

// Events the ring buffer had no room for (user space reads it: nothing is lost silently).
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u64);
} dropped SEC(".maps");

#define TCP_FIN_WAIT1 4
#define TCP_LAST_ACK 9
#define IPPROTO_TCP_ 6

SEC("tracepoint/sock/inet_sock_set_state")
int tcp_close(struct inet_sock_set_state_args* a) {
  if (a->protocol != IPPROTO_TCP_ || (a->newstate != TCP_FIN_WAIT1 && a->newstate != TCP_LAST_ACK)) return 0;
  struct tcp_close_event* e = bpf_ringbuf_reserve(&events, sizeof *e, 0);
  if (!e) {
    __u32 k = 0;
    __u64* n = bpf_map_lookup_elem(&dropped, &k);
    if (n) __sync_fetch_and_add(n, 1);
    return 0;
  }
  e->tgid = (__u32)(bpf_get_current_pid_tgid() >> 32);
  e->family = a->family;
  e->sport = a->sport;
  e->dport = a->dport;
  e->pad = 0;
  if (a->family == 2) {
    __builtin_memset(e->saddr, 0, sizeof e->saddr);
    __builtin_memset(e->daddr, 0, sizeof e->daddr);
    __builtin_memcpy(e->saddr, a->saddr, 4);
    __builtin_memcpy(e->daddr, a->daddr, 4);
  } else {
    __builtin_memcpy(e->saddr, a->saddr_v6, 16);
    __builtin_memcpy(e->daddr, a->daddr_v6, 16);
  }
  bpf_ringbuf_submit(e, 0);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
