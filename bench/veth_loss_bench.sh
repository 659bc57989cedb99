#!/usr/bin/env bash
# Loss on the veth capture paths (issue 6): builds flowpulse and pkt_blaster in a release build dir,
# then runs bench/veth_loss_bench.py (each live capture source on a veth pair, fed by the fastest
# sender here). Every option is passed on: see `bench/veth_loss_bench.sh --help`. Needs root.
exec "$(dirname "$0")/release_run.sh" veth_loss_bench.py src/cli/flowpulse bench/pkt_blaster -- "$@"
