#!/usr/bin/env python3
"""Collector throughput benchmark (issue 4): flowpulse against a peer collector, same input, same run.

For each protocol it builds a capture with a real exporter, then replays it with bench/flowgen to
flowpulse and to the peer (nfcapd for NetFlow v9 and IPFIX, sfacctd for sFlow) at a ladder of rates,
several times, alternating which collector goes first. For every run it measures:

  - records decoded per CPU-second of the collector: utime+stime from /proc/PID/stat of the
    collector and its child processes (sfacctd's plugin is a process of its own), read before the
    replay and once the socket's queue has drained;
  - loss: records flowgen sent minus the records the collector counted, where it counts them:
      flowpulse  /metrics: flow_parsed_records_total (and flow_received_packets_total)
      nfcapd     `nfdump -r FILE -I`: "Flows:" of the file nfcapd wrote (after SIGTERM)
      sfacctd    print plugin, `aggregate: peer_src_ip, proto`, CSV: the sum of the PACKETS column
                 after SIGINT (its final purge). sfprobe samples 1 in 1 and sfacctd does not
                 renormalize, so each flow sample counts one packet: the sum is the samples decoded.
    and the kernel's drops on the collector's socket ("drops" of /proc/net/udp).

Inputs (built once per invocation, in a temporary directory):
  - traffic.pcap: --flows distinct IPv4 TCP/UDP 5-tuples of 1-2 packets each;
  - NetFlow v9 / IPFIX: `softflowd -r traffic.pcap -v 9|10` exporting to a UDP receiver in this script
    that writes what it gets into a pcap (softflowd packs ~30 records per datagram);
  - sFlow v5: `pmacctd` with the sfprobe plugin (sampling_rate 1) reading traffic.pcap, received the
    same way (several flow samples per datagram).

Everything is sent to 127.0.0.1. Only processes this script starts are signalled, by PID.
The last line on stdout is a JSON summary; --json FILE writes every run and the summary.
"""

import argparse
import json
import os
import random
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def find_tool(name):
    for d in os.environ.get("PATH", "").split(":") + ["/usr/sbin", "/sbin"]:
        p = os.path.join(d, name)
        if d and os.access(p, os.X_OK):
            return p
    return None


# ---- pcap writing ---------------------------------------------------------------------------------


def ip_checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def ipv4_packet(src, dst, proto, l4):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 0, 0x4000, 64, proto, 0, src, dst)
    return h[:10] + struct.pack("!H", ip_checksum(h)) + h[12:] + l4


def ethernet(ip):
    return b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00" + ip


class PcapWriter:
    def __init__(self, path):
        self.f = open(path, "wb")
        self.f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))

    def add(self, t, frame):
        self.f.write(struct.pack("<IIII", int(t), int(round((t % 1) * 1e6)) % 1000000, len(frame), len(frame)))
        self.f.write(frame)

    def close(self):
        self.f.close()


def write_traffic(path, flows, seed=4):
    """`flows` distinct IPv4 5-tuples (half TCP, half UDP), 1-2 packets each, 100 us apart."""
    rnd = random.Random(seed)
    w = PcapWriter(path)
    t = 1_700_000_000.0
    seen = set()
    packets = 0
    while len(seen) < flows:
        src = struct.pack("!I", 0x0A000000 + rnd.randrange(1 << 20))
        dst = struct.pack("!I", 0xC0A80000 + rnd.randrange(1 << 16))
        sport = rnd.randrange(1024, 65535)
        dport = rnd.choice([22, 53, 80, 123, 443, 8080])
        proto = 6 if rnd.random() < 0.5 else 17
        key = (src, dst, sport, dport, proto)
        if key in seen:
            continue
        seen.add(key)
        payload = b"x" * rnd.randrange(0, 400)
        if proto == 6:
            l4 = struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 0x50, 0x18, 65535, 0, 0) + payload
        else:
            l4 = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
        for _ in range(rnd.randrange(1, 3)):
            w.add(t, ethernet(ipv4_packet(src, dst, proto, l4)))
            t += 0.0001
            packets += 1
    w.close()
    return packets


class UdpToPcap:
    """Receives datagrams on 127.0.0.1 and writes them as Ethernet/IPv4/UDP frames into a pcap."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, 33, 64 << 20)  # SO_RCVBUFFORCE (root)
        except OSError:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.sock.settimeout(0.2)
        self.path = path
        self.datagrams = []
        self.last = time.monotonic()
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop:
            try:
                data, (addr, port) = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            self.datagrams.append((time.time(), socket.inet_aton(addr), port, data))
            self.last = time.monotonic()

    def finish(self, idle=1.0, limit=60.0):
        """Waits until nothing came for `idle` seconds, then writes the pcap; returns datagrams."""
        end = time.monotonic() + limit
        while time.monotonic() - self.last < idle and time.monotonic() < end:
            time.sleep(0.1)
        self.stop = True
        self.thread.join()
        self.sock.close()
        w = PcapWriter(self.path)
        for t, src, sport, data in self.datagrams:
            udp = struct.pack("!HHHH", sport, self.port, 8 + len(data), 0) + data
            w.add(t, ethernet(ipv4_packet(src, socket.inet_aton("127.0.0.1"), 17, udp)))
        w.close()
        return len(self.datagrams)


def build_softflowd_capture(softflowd, traffic, out, version, work):
    rx = UdpToPcap(out)
    # Never -c with -r (softflowd would wait on its control socket); -m above the flow count so no
    # flow is expired early.
    p = subprocess.run(
        [softflowd, "-d", "-r", traffic, "-n", "127.0.0.1:%d" % rx.port, "-v", str(version), "-m", "1000000",
         "-p", os.path.join(work, "softflowd.pid")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120, cwd=work)
    if p.returncode != 0:
        raise RuntimeError("softflowd -v %s failed: %s" % (version, p.stderr.decode(errors="replace")))
    return rx.finish(idle=1.0)


def build_sfprobe_capture(pmacctd, traffic, out, work):
    rx = UdpToPcap(out)
    conf = os.path.join(work, "sfprobe.conf")
    with open(conf, "w") as f:
        f.write("daemonize: false\n")
        f.write("pcap_savefile: %s\n" % traffic)
        f.write("pcap_savefile_wait: true\n")
        f.write("plugins: sfprobe[sf]\n")
        f.write("sfprobe_receiver[sf]: 127.0.0.1:%d\n" % rx.port)
        f.write("sfprobe_agentip[sf]: 127.0.0.1\n")
        f.write("sampling_rate[sf]: 1\n")
    logf = os.path.join(work, "sfprobe.log")
    with open(logf, "w") as lf:
        p = subprocess.Popen([pmacctd, "-f", conf], stdout=lf, stderr=subprocess.STDOUT, cwd=work)
    try:
        end = time.monotonic() + 60
        while time.monotonic() < end:
            with open(logf) as lf:
                if "finished reading PCAP capture file" in lf.read():
                    break
            if p.poll() is not None:
                raise RuntimeError("pmacctd exited early: see " + logf)
            time.sleep(0.2)
        else:
            raise RuntimeError("pmacctd did not finish reading the capture in 60 s")
        rx.finish(idle=1.0)  # sfprobe streams as it samples
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    return len(rx.datagrams)


# ---- /proc ----------------------------------------------------------------------------------------


def cpu_ticks(pid):
    """utime+stime of `pid` and its live descendants, in clock ticks."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        children.setdefault(int(fields[1]), []).append((int(d), int(fields[11]) + int(fields[12])))
    total = 0
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
        fields = st[st.rindex(")") + 2:].split()
        total = int(fields[11]) + int(fields[12])
    except OSError:
        return None
    stack = [pid]
    while stack:
        for child, t in children.get(stack.pop(), []):
            total += t
            stack.append(child)
    return total


def udp_sockets(port):
    """(rx_queue bytes, drops) summed over the UDP sockets bound to `port` (IPv4 and IPv6)."""
    rx = drops = 0
    found = False
    for path in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    p = line.split()
                    if len(p) < 13 or int(p[1].rsplit(":", 1)[1], 16) != port:
                        continue
                    found = True
                    rx += int(p[4].split(":")[1], 16)
                    drops += int(p[12])
        except OSError:
            pass
    return (rx, drops) if found else None


def wait_bound(port, proc, timeout=15.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        if udp_sockets(port) is not None:
            return True
        time.sleep(0.05)
    return False


def wait_drained(port, timeout=10.0):
    """Until the socket queue has been empty for 100 ms."""
    end = time.monotonic() + timeout
    empty_since = None
    while time.monotonic() < end:
        s = udp_sockets(port)
        if s is None or s[0] == 0:
            if empty_since is None:
                empty_since = time.monotonic()
            elif time.monotonic() - empty_since >= 0.1:
                return True
        else:
            empty_since = None
        time.sleep(0.02)
    return False


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_tcp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def metric_samples(port):
    """flowpulse's /metrics on 127.0.0.1:port as (series, value) pairs, series being the name with its
    labels; None when it does not answer."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return None
    samples = []
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            samples.append((series, float(value)))
    return samples


def wait_settled(scrape, done, limit_seconds, still_seconds=2.5):
    """Scrapes until done(metrics) holds, the metrics stay put for still_seconds, or limit_seconds
    pass; returns the last metrics (None if none came)."""
    prev, since = None, time.monotonic()
    end = time.monotonic() + limit_seconds
    while time.monotonic() < end:
        cur = scrape() or {}
        if done(cur):
            return cur
        if cur != prev:
            prev, since = cur, time.monotonic()
        elif time.monotonic() - since > still_seconds:
            break
        time.sleep(0.2)
    return prev


def stop_process(p, sig, timeout=20.0):
    if p.poll() is None:
        p.send_signal(sig)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


# ---- collectors -----------------------------------------------------------------------------------


class Flowpulse:
    name = "flowpulse"

    def __init__(self, binary, args, work):
        self.binary, self.args, self.work = binary, args, work

    def start(self, protocol, port):
        self.metrics_port = free_tcp_port()
        dims = {
            "default": "    - name: protocol\n      labels: [exporter, protocol]\n",
            "five_tuple": "    - name: five_tuple\n      labels: [src_addr, dst_addr, src_port, dst_port, protocol]\n",
        }[self.args.dimensions]
        enrichment = ""
        if self.args.enrich:
            # Enrichment at the default dimensions: the same set with two enrichment labels, the
            # MaxMind test databases loaded (the stats core looks up every merged key's addresses).
            dims = dims.replace("labels: [exporter, protocol]", "labels: [exporter, protocol, src_country, dst_asn]")
            mmdb = os.path.join(ROOT, "..", "shared", "data", "mmdb")
            enrichment = ("enrichment:\n  city_database: %s\n  asn_database: %s\n"
                          "  labels: {country: true, asn: true}\n"
                          % (os.path.join(mmdb, "GeoIP2-City-Test.mmdb"), os.path.join(mmdb, "GeoLite2-ASN-Test.mmdb")))
        cfg = os.path.join(self.work, "flowpulse.yaml")
        with open(cfg, "w") as f:
            f.write(
                "listeners:\n"
                "  - protocol: %s\n    address: \"127.0.0.1\"\n    port: %d\n    receive_buffer: %d\n"
                "performance:\n  workers: %d\n  batch_size: 64\n  table_capacity: 65536\n  tick: 1s\n"
                "  worker_cpus: [%s]\n"
                "metrics:\n  address: \"127.0.0.1\"\n  port: %d\n  dimensions:\n%s  windows: [1m, 5m]\n"
                "logging:\n  level: warn\n%s"
                % ({"netflow9": "netflow9", "ipfix": "ipfix", "sflow": "sflow"}[protocol], port, self.args.rcvbuf,
                   self.args.workers, self.args.worker_cpus, self.metrics_port, dims, enrichment))
        self.log = open(os.path.join(self.work, "flowpulse.log"), "a")
        self.p = subprocess.Popen([self.binary, "run", "-c", cfg], stdout=self.log, stderr=subprocess.STDOUT)
        if not wait_bound(port, self.p):
            raise RuntimeError("flowpulse did not start: see %s" % self.log.name)
        end = time.monotonic() + 10
        while self.scrape() is None:
            if time.monotonic() > end or self.p.poll() is not None:
                raise RuntimeError("flowpulse /metrics did not answer: see %s" % self.log.name)
            time.sleep(0.05)
        return self.p.pid

    def scrape(self):
        samples = metric_samples(self.metrics_port)
        if samples is None:
            return None
        m = {}
        for series, value in samples:
            name = series.split("{", 1)[0]
            if name in ("flow_received_packets_total", "flow_parsed_records_total", "flow_kernel_drops_total"):
                m[name] = m.get(name, 0) + value
        return m

    def finish(self, expected_datagrams=None):
        # Counters are published once a tick (1 s) and a worker's shard is collected a tick after it
        # was asked for: wait until every datagram the kernel did not drop is counted (no internal
        # queue can lose one), or until the counters stay put for 2.5 ticks.
        # Records are counted in the same hand-over as their datagrams.
        prev = wait_settled(self.scrape, lambda m: expected_datagrams is not None and
                            m.get("flow_received_packets_total", -1) >= expected_datagrams, 8)
        stop_process(self.p, signal.SIGTERM)
        self.log.close()
        prev = prev or {}
        return {
            "records": int(prev.get("flow_parsed_records_total", 0)),
            "datagrams": int(prev.get("flow_received_packets_total", 0)),
            "metric_kernel_drops": int(prev.get("flow_kernel_drops_total", 0)),
        }


class Nfcapd:
    name = "nfcapd"

    def __init__(self, nfcapd, nfdump, args, work):
        self.nfcapd, self.nfdump, self.args, self.work = nfcapd, nfdump, args, work

    def start(self, protocol, port):
        self.dir = os.path.join(self.work, "nfcapd")
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.log = open(os.path.join(self.work, "nfcapd.log"), "a")
        self.p = subprocess.Popen(
            [self.nfcapd, "-b", "127.0.0.1", "-p", str(port), "-w", self.dir, "-B", str(self.args.rcvbuf), "-t",
             "3600"], stdout=self.log, stderr=subprocess.STDOUT)
        if not wait_bound(port, self.p):
            raise RuntimeError("nfcapd did not start: see %s" % self.log.name)
        return self.p.pid

    def finish(self, expected_datagrams=None):
        stop_process(self.p, signal.SIGTERM)  # writes and closes its file
        self.log.close()
        flows = 0
        for f in sorted(os.listdir(self.dir)):
            if not f.startswith("nfcapd.") or f.endswith(".current"):
                continue
            out = subprocess.run([self.nfdump, "-r", os.path.join(self.dir, f), "-I"], capture_output=True,
                                 text=True, timeout=60).stdout
            for line in out.splitlines():
                if line.startswith("Flows:"):
                    flows += int(line.split()[1])
        shutil.rmtree(self.dir, ignore_errors=True)
        return {"records": flows}


class Sfacctd:
    name = "sfacctd"

    def __init__(self, sfacctd, args, work):
        self.sfacctd, self.args, self.work = sfacctd, args, work

    def start(self, protocol, port):
        self.dir = os.path.join(self.work, "sfacctd")
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        agg = "peer_src_ip, proto" if self.args.dimensions == "default" else "src_host, dst_host, src_port, dst_port, proto"
        conf = os.path.join(self.work, "sfacctd.conf")
        with open(conf, "w") as f:
            f.write("daemonize: false\n")
            f.write("sfacctd_ip: 127.0.0.1\nsfacctd_port: %d\n" % port)
            f.write("sfacctd_pipe_size: %d\n" % self.args.rcvbuf)  # the socket's receive buffer
            f.write("plugins: print[p]\n")
            f.write("aggregate[p]: %s\n" % agg)
            f.write("print_output[p]: csv\n")
            f.write("print_output_file[p]: %s/out-%%s.csv\n" % self.dir)
            f.write("print_refresh_time[p]: 3600\n")  # one purge, at the end (SIGINT)
            # Core -> plugin queue sized for high rates, as pmacct's docs advise (1:1000).
            f.write("plugin_pipe_size[p]: 67108864\nplugin_buffer_size[p]: 65536\n")
        self.log = open(os.path.join(self.work, "sfacctd.log"), "a")
        self.p = subprocess.Popen([self.sfacctd, "-f", conf], stdout=self.log, stderr=subprocess.STDOUT)
        if not wait_bound(port, self.p):
            raise RuntimeError("sfacctd did not start: see %s" % self.log.name)
        time.sleep(0.3)  # the plugin process forks after the socket is bound
        return self.p.pid

    def finish(self, expected_datagrams=None):
        # SIGINT: the core hands its last buffer to the plugin, which purges its cache and exits.
        stop_process(self.p, signal.SIGINT)
        self.log.close()
        packets = 0
        for f in os.listdir(self.dir):
            with open(os.path.join(self.dir, f)) as fh:
                header = fh.readline().strip().split(",")
                col = header.index("PACKETS")
                for line in fh:
                    if line.strip():
                        packets += int(line.split(",")[col])
        shutil.rmtree(self.dir, ignore_errors=True)
        return {"records": packets}


# ---- runs -----------------------------------------------------------------------------------------


def run_once(collector, flowgen, capture, protocol, rate, args):
    port = free_udp_port()
    pid = collector.start(protocol, port)
    try:
        drops0 = udp_sockets(port)[1]
        cpu0 = cpu_ticks(pid)
        cmd = [flowgen, "-q", "-p", str(port), "-t", str(args.threads), "-r", str(rate), "-d",
               str(args.duration), capture]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.duration + 60)
        if out.returncode != 0:
            raise RuntimeError("flowgen failed: %s %s" % (out.stderr.strip(), out.stdout.strip()))
        sent = json.loads(out.stdout.strip().splitlines()[-1])
        drained = wait_drained(port)
        cpu1 = cpu_ticks(pid)
        drops1 = udp_sockets(port)[1]
    except BaseException:
        stop_process(collector.p, signal.SIGKILL, 5)
        raise
    got = collector.finish(expected_datagrams=sent["datagrams"] - (drops1 - drops0))
    cpu = (cpu1 - cpu0) / CLK_TCK
    lost = max(0, sent["records"] - got["records"])
    r = {
        "protocol": protocol,
        "collector": collector.name,
        "rate": rate,
        "sent_datagrams": sent["datagrams"],
        "sent_records": sent["records"],
        "achieved_rate": sent["datagrams_per_second"],
        "seconds": sent["seconds"],
        "cpu_seconds": cpu,
        "records": got["records"],
        "records_per_cpu_second": got["records"] / cpu if cpu > 0 else None,
        "lost_records": lost,
        "loss": lost / sent["records"] if sent["records"] else 0.0,
        "socket_drops": drops1 - drops0,
        "drained": drained,
    }
    r.update({k: v for k, v in got.items() if k != "records"})
    return r


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def summarize(runs, protocols, peers, rates):
    out = {}
    for proto in protocols:
        s = {}
        for coll in ("flowpulse", peers[proto]):
            rs = [r for r in runs if r["protocol"] == proto and r["collector"] == coll]
            by_rate = {}
            for rate in rates:
                x = [r for r in rs if r["rate"] == rate]
                if not x:
                    continue
                by_rate[rate] = {
                    "offered": median([r["achieved_rate"] for r in x]),
                    "records_per_cpu_second": median([r["records_per_cpu_second"] for r in x]),
                    "loss": median([r["loss"] for r in x]),
                    "max_loss": max(r["loss"] for r in x),
                    "socket_drops": median([r["socket_drops"] for r in x]),
                    "runs": len(x),
                }
            knee = None
            for rate in rates:
                if rate in by_rate and by_rate[rate]["max_loss"] == 0:
                    knee = by_rate[rate]["offered"] if knee is None else max(knee, by_rate[rate]["offered"])
            top = 0 if 0 in by_rate else max(by_rate)
            s[coll] = {
                "records_per_cpu_second": by_rate[top]["records_per_cpu_second"] if top in by_rate else None,
                "zero_loss_knee": knee,
                "max_rate": by_rate[top]["offered"] if top in by_rate else None,
                "loss_at_max_rate": by_rate[top]["loss"] if top in by_rate else None,
                "by_rate": by_rate,
            }
        # Paired ratios: flowpulse / peer, same rate and repeat (the two ran back to back).
        pairs = []
        for r in runs:
            if r["protocol"] != proto or r["collector"] != "flowpulse" or r["rate"] != (0 if 0 in rates else max(rates)):
                continue
            for q in runs:
                if (q["protocol"] == proto and q["collector"] == peers[proto] and q["rate"] == r["rate"]
                        and q["repeat"] == r["repeat"] and q["records_per_cpu_second"] and r["records_per_cpu_second"]):
                    pairs.append(r["records_per_cpu_second"] / q["records_per_cpu_second"])
        s["ratio"] = median(pairs)
        s["ratios"] = pairs
        # The same over every rate of the ladder (more pairs, less noise; lightly loaded runs included).
        all_pairs = []
        for r in runs:
            if r["protocol"] != proto or r["collector"] != "flowpulse" or not r["records_per_cpu_second"]:
                continue
            for q in runs:
                if (q["protocol"] == proto and q["collector"] == peers[proto] and q["rate"] == r["rate"]
                        and q["repeat"] == r["repeat"] and q["records_per_cpu_second"]):
                    all_pairs.append(r["records_per_cpu_second"] / q["records_per_cpu_second"])
        s["ratio_all_rates"] = median(all_pairs)
        s["peer"] = peers[proto]
        out[proto] = s
    return out


def fmt_rate(x):
    if x is None:
        return "-"
    return "%.0fk" % (x / 1000) if x >= 1000 else "%.0f" % x


def print_tables(summary, capture_info):
    for proto, s in summary.items():
        peer = s["peer"]
        info = capture_info[proto]
        print("\n%s (%d datagrams, %d records per pass, %.1f records/datagram)" %
              (proto, info["datagrams"], info["records"], info["records"] / max(1, info["datagrams"])))
        print("  %-10s %-12s %-18s %-12s %-10s %-12s" % ("collector", "rate", "records/CPU-s", "loss", "max loss",
                                                          "sock drops"))
        for coll in ("flowpulse", peer):
            for rate, b in sorted(s[coll]["by_rate"].items(), key=lambda kv: (kv[0] == 0, kv[0])):
                label = ("max %s" % fmt_rate(b["offered"])) if rate == 0 else fmt_rate(rate)
                rpc = b["records_per_cpu_second"]
                print("  %-10s %-12s %-18s %-12s %-10s %-12s" % (
                    coll, label, "%.2fM" % (rpc / 1e6) if rpc else "-", "%.3f%%" % (100 * b["loss"]),
                    "%.3f%%" % (100 * b["max_loss"]), "%d" % b["socket_drops"]))
        fp, pe = s["flowpulse"], s[peer]
        print("  => records/CPU-s at max rate: flowpulse %.2fM, %s %.2fM, ratio (paired median) %s; "
              "ratio over all rates %s" % (
                  (fp["records_per_cpu_second"] or 0) / 1e6, peer, (pe["records_per_cpu_second"] or 0) / 1e6,
                  "%.2f" % s["ratio"] if s["ratio"] else "-",
                  "%.2f" % s["ratio_all_rates"] if s["ratio_all_rates"] else "-"))
        print("  => zero-loss knee: flowpulse %s, %s %s datagrams/s; loss at max rate: flowpulse %.3f%%, %s %.3f%%" % (
            fmt_rate(fp["zero_loss_knee"]), peer, fmt_rate(pe["zero_loss_knee"]), 100 * (fp["loss_at_max_rate"] or 0),
            peer, 100 * (pe["loss_at_max_rate"] or 0)))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build-bench"),
                    help="meson build dir with src/cli/flowpulse and bench/flowgen (default build-bench)")
    ap.add_argument("--protocols", default="netflow9,ipfix,sflow", help="comma list of netflow9, ipfix, sflow")
    ap.add_argument("--rates", default="50000,100000,200000,300000,0",
                    help="offered datagrams/s, comma list; 0 = as fast as flowgen goes (default %(default)s)")
    ap.add_argument("--duration", type=float, default=2.0, help="seconds of replay per run (default 2)")
    ap.add_argument("--repeats", type=int, default=3, help="runs per collector and rate (default 3); medians")
    ap.add_argument("--flows", type=int, default=20000, help="distinct 5-tuples in the traffic (default 20000)")
    ap.add_argument("--workers", type=int, default=1, help="flowpulse workers (default 1)")
    ap.add_argument("--threads", type=int, default=1, help="flowgen sender threads (default 1)")
    ap.add_argument("--rcvbuf", type=int, default=4 << 20,
                    help="receive buffer asked of every collector, bytes (default 4 MiB: this machine's rmem_max)")
    ap.add_argument("--dimensions", choices=["default", "five_tuple"], default="default",
                    help="flowpulse dimension set (and the matching sfacctd aggregate): the default config's "
                         "[exporter, protocol], or the 5-tuple")
    ap.add_argument("--worker-cpus", default="",
                    help="flowpulse performance.worker_cpus, comma list (default: none, the scheduler places "
                         "the worker; nfcapd and sfacctd are never pinned)")
    ap.add_argument("--enrich", action="store_true",
                    help="flowpulse with GeoIP/ASN enrichment: the default set plus src_country and dst_asn, "
                         "MaxMind's test databases loaded (issue 5's end-to-end cost)")
    ap.add_argument("--json", help="write every run and the summary to this file")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (captures, logs)")
    args = ap.parse_args()

    protocols = [p.strip() for p in args.protocols.split(",") if p.strip()]
    for p in protocols:
        if p not in ("netflow9", "ipfix", "sflow"):
            ap.error("unknown protocol '%s'" % p)
    rates = [int(float(x)) for x in args.rates.split(",") if x.strip()]
    if any(r < 0 for r in rates) or not rates:
        ap.error("--rates needs datagrams/s >= 0")

    flowpulse = os.path.join(args.build_dir, "src/cli/flowpulse")
    flowgen = os.path.join(args.build_dir, "bench/flowgen")
    tools = {"flowpulse": flowpulse if os.access(flowpulse, os.X_OK) else None,
             "flowgen": flowgen if os.access(flowgen, os.X_OK) else None}
    needs = {"netflow9": ["softflowd", "nfcapd", "nfdump"], "ipfix": ["softflowd", "nfcapd", "nfdump"],
             "sflow": ["pmacctd", "sfacctd"]}
    for p in protocols:
        for t in needs[p]:
            tools[t] = find_tool(t)
    missing = [t for t, v in tools.items() if v is None]
    if missing:
        sys.exit("collector_bench: missing %s (build with bench/collector_bench.sh; Debian packages: softflowd, "
                 "nfdump, pmacct)" % ", ".join(missing))

    work = tempfile.mkdtemp(prefix="flowpulse-bench-")
    t_start = time.monotonic()
    try:
        traffic = os.path.join(work, "traffic.pcap")
        packets = write_traffic(traffic, args.flows)
        log("traffic: %d flows, %d packets" % (args.flows, packets))
        captures = {}
        for p in protocols:
            cap = os.path.join(work, p + ".pcap")
            if p in ("netflow9", "ipfix"):
                n = build_softflowd_capture(tools["softflowd"], traffic, cap, 9 if p == "netflow9" else 10, work)
            else:
                n = build_sfprobe_capture(tools["pmacctd"], traffic, cap, work)
            info = subprocess.run([flowgen, "--dry-run", "-q", cap], capture_output=True, text=True)
            if info.returncode != 0:
                raise RuntimeError("flowgen cannot read %s: %s" % (cap, info.stderr.strip()))
            j = json.loads(info.stdout.strip().splitlines()[-1])
            captures[p] = {"path": cap, "datagrams": j["capture_datagrams"], "records": j["capture_records"]}
            log("%s capture: %d datagrams received, %d flow records" % (p, n, j["capture_records"]))

        peers = {"netflow9": "nfcapd", "ipfix": "nfcapd", "sflow": "sfacctd"}
        fp = Flowpulse(flowpulse, args, work)
        nf = Nfcapd(tools.get("nfcapd"), tools.get("nfdump"), args, work)
        sf = Sfacctd(tools.get("sfacctd"), args, work)
        collectors = {"nfcapd": nf, "sfacctd": sf}
        runs = []
        for rep in range(args.repeats):
            for p in protocols:
                for rate in rates:
                    pair = [fp, collectors[peers[p]]]
                    if rep % 2 == 1:
                        pair.reverse()  # alternate who goes first
                    for c in pair:
                        r = run_once(c, flowgen, captures[p]["path"], p, rate, args)
                        r["repeat"] = rep
                        runs.append(r)
                        log("[%d/%d] %-8s %-9s rate %-7s sent %8d dgrams %9d records (%.0f/s) | decoded %9d, "
                            "%.2fM records/CPU-s, loss %.3f%%, socket drops %d" % (
                                rep + 1, args.repeats, p, c.name, rate or "max", r["sent_datagrams"],
                                r["sent_records"], r["achieved_rate"], r["records"],
                                (r["records_per_cpu_second"] or 0) / 1e6, 100 * r["loss"], r["socket_drops"]))
        summary = summarize(runs, protocols, peers, rates)
        print_tables(summary, captures)
        meta = {
            "cpus": os.cpu_count(),
            "duration": args.duration,
            "repeats": args.repeats,
            "rates": rates,
            "workers": args.workers,
            "threads": args.threads,
            "rcvbuf": args.rcvbuf,
            "dimensions": args.dimensions,
            "flows": args.flows,
            "elapsed_seconds": round(time.monotonic() - t_start, 1),
            "captures": {p: {k: v for k, v in c.items() if k != "path"} for p, c in captures.items()},
        }
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"meta": meta, "runs": runs, "summary": summary}, f, indent=1, default=str)
        brief = {p: {"peer": s["peer"], "ratio": s["ratio"], "ratio_all_rates": s["ratio_all_rates"],
                     "flowpulse_records_per_cpu_second": s["flowpulse"]["records_per_cpu_second"],
                     "peer_records_per_cpu_second": s[s["peer"]]["records_per_cpu_second"],
                     "flowpulse_zero_loss_knee": s["flowpulse"]["zero_loss_knee"],
                     "peer_zero_loss_knee": s[s["peer"]]["zero_loss_knee"],
                     "flowpulse_loss_at_max_rate": s["flowpulse"]["loss_at_max_rate"],
                     "peer_loss_at_max_rate": s[s["peer"]]["loss_at_max_rate"],
                     "max_rate": s["flowpulse"]["max_rate"]} for p, s in summary.items()}
        print(json.dumps({"meta": meta, "summary": brief}, default=str))
    finally:
        if args.keep:
            log("work directory kept: " + work)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
