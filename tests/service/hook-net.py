#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A hook for the service test: proves a Python hook runs inside jobwatchd.service's
sandbox (MemoryDenyWriteExecute=, SystemCallFilter=, DynamicUser=...), resolves a
name and reaches the network, and gets the documented environment but no API key.
Prints exactly one line; argv[1] is a URL to fetch."""

import os
import sys
import urllib.request

body = sys.stdin.buffer.read()
try:
    with urllib.request.urlopen(sys.argv[1], timeout=20) as r:
        net = "ok-%d" % r.status
except Exception as e:  # reported, not raised: the line says what failed
    net = "failed(%s)" % e
env = os.environ
leak = any(v.startswith("app-") or "Bearer" in v for v in env.values())
print("hook-net job=%s status=%s endpoint=%s stdin=%d net=%s key_in_env=%s uid=%d env=%s"
      % (env.get("JOBWATCH_JOB_ID"), env.get("JOBWATCH_STATUS"), env.get("JOBWATCH_ENDPOINT"),
         len(body), net, "yes" if leak else "no", os.getuid(),
         ",".join(sorted(k for k in env if k.startswith("JOBWATCH_")))), flush=True)
