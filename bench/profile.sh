#!/bin/bash
# SPDX-License-Identifier: MIT
# Where jobwatchd's time goes in W1: syscalls per poll (strace -c) and a CPU
# profile (perf record, cpu-clock, DWARF call graphs) of the release build.
#   bench/profile.sh [--profile-http 2] [--duration 10] [--jobs-w1 10000]
# Output: stdout and bench/results/profile.txt (profile-h2.txt, profile-h2c.txt for
# --profile-http 2 and h2c); the raw data in bench/results/perf.data.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
for tool in perf strace; do
	if ! command -v $tool >/dev/null; then
		pkg=$tool; [ $tool = perf ] && pkg=linux-perf
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $pkg >/dev/null
	fi
done
exec "$here/run" --only profile "$@"
