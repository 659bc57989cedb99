#!/usr/bin/env python3
"""Loss on the veth capture paths (issue 6): each live capture source of flowpulse on a veth pair,
fed by the fastest sender here.

For every source (afpacket, pcap, afxdp, and DPDK's net_af_packet and net_af_xdp vdevs on the same
interface) and every offered rate it:
  - makes a network namespace joined by a veth pair (scripts/netns-rig), once for the whole run;
  - starts `flowpulse run` with that one source on the root-side end (one capture worker, 1 s tick,
    a [protocol, dst_port] dimension set);
  - sends 64-byte frames (22-byte UDP payloads) from inside the namespace to the root-side address
    with bench/pkt_blaster (sendmmsg on one UDP socket, paced; "max" asks more than it can do, so
    it sends back to back: ~0.75 M packets/s on this machine);
  - waits until flowpulse's count of that flow stops moving, then compares:
      sent     packets pkt_blaster sent (its JSON);
      veth     packets the root-side end received and dropped (`ip -s link`, before/after);
      metered  flow_packets_total{protocol="udp", dst_port=PORT} from /metrics;
      drops    flow_capture_drops_total (what the source itself reports lost: ring full, kernel).
    loss = sent - metered. The ICMP port-unreachable replies the root namespace sends back are
    other series, not counted.
The last line on stdout is a JSON summary; --json FILE writes every run. Needs root. Only processes
this script starts are signalled, by PID; the namespace is removed at the end.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from collector_bench import free_tcp_port, metric_samples, stop_process, wait_settled  # the collector benchmark, in this directory

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCES = ["afpacket", "pcap", "afxdp", "dpdk_af_packet", "dpdk_af_xdp"]
PORT = 5300


def source_yaml(kind, dev, busy_budget=None):
    if kind in ("afpacket", "pcap", "afxdp"):
        return "    - {type: %s, device: %s}\n" % (kind, dev)
    vdev = {"dpdk_af_packet": "net_af_packet0,iface=%s,framecnt=8192" % dev,
            "dpdk_af_xdp": "net_af_xdp0,iface=%s,start_queue=0,queue_count=1%s" % (
                dev, "" if busy_budget is None else ",busy_budget=%d" % busy_budget)}[kind]
    eal = ["--no-huge", "-m", "512", "--no-shconf", "--no-pci", "--file-prefix=fp-vethbench-%d" % os.getpid(),
           "--vdev", vdev]
    return "    - {type: dpdk, device: %s, queues: [0], eal_args: [%s]}\n" % (
        vdev.split(",")[0], ", ".join('"%s"' % a for a in eal))


def veth_rx(dev):
    out = subprocess.run(["ip", "-s", "link", "show", "dev", dev], capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    for i, line in enumerate(lines):
        if line.strip().startswith("RX:"):
            v = lines[i + 1].split()
            return int(v[1]), int(v[3])  # packets, dropped
    raise RuntimeError("no RX line in `ip -s link show dev %s`" % dev)


def scrape(port):
    samples = metric_samples(port)
    if samples is None:
        return None
    m = {"metered": 0, "drops": 0, "frames": 0}
    for series, value in samples:
        if series.startswith("flow_packets_total{") and 'protocol="udp"' in series and 'dst_port="%d"' % PORT in series:
            m["metered"] += int(value)
        elif series.startswith("flow_capture_drops_total"):
            m["drops"] += int(value)
        elif series.startswith("flow_capture_frames_total"):
            m["frames"] += int(value)
    return m


def run_one(args, kind, rate, rig, work):
    mport = free_tcp_port()
    cfg = os.path.join(work, "flowpulse-%s.yaml" % kind)
    with open(cfg, "w") as f:
        f.write("listeners: []\ncapture:\n  sources:\n%s"
                "performance: {workers: 1, tick: 1s, table_capacity: 65536%s}\n"
                "metrics:\n  address: 127.0.0.1\n  port: %d\n  windows: [1m]\n"
                "  dimensions:\n    - {name: port, labels: [protocol, dst_port]}\n"
                "logging:\n  level: warn\n" % (
                    source_yaml(kind, rig["outer"], args.busy_budget),
                    "" if args.worker_cpu is None else ", worker_cpus: [%d]" % args.worker_cpu, mport))
    log = open(os.path.join(work, "flowpulse-%s.log" % kind), "a")
    fp = subprocess.Popen([args.flowpulse, "run", "-c", cfg], stdout=log, stderr=subprocess.STDOUT)
    try:
        end = time.monotonic() + 30
        while scrape(mport) is None:
            if fp.poll() is not None or time.monotonic() > end:
                raise RuntimeError("flowpulse (%s) did not start: see %s" % (kind, log.name))
            time.sleep(0.1)
        time.sleep(1.0)  # the source is attached (XDP program loaded, rings mapped)
        before = scrape(mport)
        rx0, drop0 = veth_rx(rig["outer"])
        send_rate = rate if rate > 0 else 5e6  # "max": more than one sender thread reaches
        packets = int((rate if rate > 0 else args.max_packets_per_second) * args.seconds)
        seconds = packets / send_rate
        pin = [] if args.sender_cpu is None else ["taskset", "-c", str(args.sender_cpu)]
        out = subprocess.run(["ip", "netns", "exec", rig["name"]] + pin + [args.blaster, "--to", "%s:%d" % (rig["outer_v4"], PORT),
                              "--rate", str(send_rate), "--seconds", "%.3f" % seconds, "--size", "22"],
                             capture_output=True, text=True, timeout=600)
        sent = json.loads(out.stdout.strip().splitlines()[-1])
        prev = wait_settled(lambda: scrape(mport),
                            lambda m: m.get("metered", 0) - before["metered"] >= sent["packets"], 15)
        rx1, drop1 = veth_rx(rig["outer"])
    finally:
        stop_process(fp, signal.SIGTERM)
        log.close()
    metered = prev["metered"] - before["metered"]
    return {
        "source": kind, "offered": rate, "sent": sent["packets"], "send_pps": sent["packets_per_second"],
        "veth_rx": rx1 - rx0, "veth_dropped": drop1 - drop0, "metered": metered,
        "source_drops": prev["drops"] - before["drops"], "loss": sent["packets"] - metered,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build-bench"))
    ap.add_argument("--sources", default=",".join(SOURCES), help="comma list of " + ", ".join(SOURCES))
    ap.add_argument("--rates", default="200000,0", help="offered packets/s, comma list; 0 = as fast as the sender goes")
    ap.add_argument("--seconds", type=float, default=5, help="seconds of sending per run (default 5)")
    ap.add_argument("--max-packets-per-second", type=float, default=800000,
                    help="for rate 0: packets to send = this x --seconds (default 800000, above what "
                         "one sender reaches here)")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--worker-cpu", type=int,
                    help="flowpulse's capture worker on this CPU (performance.worker_cpus), as an appliance "
                         "keeps its workers on their own cores; default: wherever the scheduler puts it")
    ap.add_argument("--sender-cpu", type=int, help="the sender on this CPU (taskset); default: unpinned")
    ap.add_argument("--busy-budget", type=int,
                    help="net_af_xdp's busy_budget devarg (0 = no busy polling: the PMD then waits in poll() "
                         "instead of running the veth's NAPI in its recvfrom); default: the PMD's (64)")
    ap.add_argument("--json", help="write every run and the summary to this file")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("veth_loss_bench: needs root (network namespace, veth, XDP, DPDK)")
    args.flowpulse = os.path.join(args.build_dir, "src", "cli", "flowpulse")
    args.blaster = os.path.join(args.build_dir, "bench", "pkt_blaster")
    name = "fpvb%d" % (os.getpid() % 10000)
    subnet = 100 + os.getpid() % 100
    rig_script = os.path.join(ROOT, "scripts", "netns-rig")
    subprocess.run([rig_script, "up", name, str(subnet)], check=True, stdout=subprocess.DEVNULL)
    rig = {"name": name, "outer": "fp-" + name, "outer_v4": "10.99.%d.1" % subnet}
    work = tempfile.mkdtemp(prefix="fp-vethbench.")
    runs = []
    try:
        for rep in range(args.repeats):
            for rate in [int(r) for r in args.rates.split(",")]:
                for kind in args.sources.split(","):
                    r = run_one(args, kind, rate, rig, work)
                    r["repeat"] = rep
                    runs.append(r)
                    print("[%d/%d] %-15s offered %-7s sent %9d (%7.0f pps) veth rx %9d dropped %d | metered %9d, "
                          "source drops %d, loss %d (%.3f%%)" % (
                              rep + 1, args.repeats, kind, "max" if rate == 0 else rate, r["sent"], r["send_pps"],
                              r["veth_rx"], r["veth_dropped"], r["metered"], r["source_drops"], r["loss"],
                              100.0 * r["loss"] / max(r["sent"], 1)), flush=True)
    finally:
        subprocess.run([rig_script, "down", name], stdout=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)
    summary = {}
    for kind in args.sources.split(","):
        mine = [r for r in runs if r["source"] == kind]
        summary[kind] = {"runs": len(mine), "lossless_runs": sum(1 for r in mine if r["loss"] == 0),
                         "max_send_pps": max((r["send_pps"] for r in mine), default=0),
                         "max_loss": max((r["loss"] for r in mine), default=0)}
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"runs": runs, "summary": summary}, f, indent=1)
    print(json.dumps({"summary": summary}))


if __name__ == "__main__":
    main()
