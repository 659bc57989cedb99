#!/usr/bin/env bash
# Collector throughput benchmark (issue 4): builds flowpulse and flowgen in a release build dir, then
# runs bench/collector_bench.py (flowpulse against nfcapd / sfacctd on the same input, same run).
# Every option is passed on: see `bench/collector_bench.sh --help`. Needs softflowd, nfdump and pmacct
# (scripts/deps installs them) and root or CAP_NET_ADMIN for the receive buffers it asks.
exec "$(dirname "$0")/release_run.sh" collector_bench.py src/cli/flowpulse bench/flowgen -- "$@"
