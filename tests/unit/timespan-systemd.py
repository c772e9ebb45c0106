#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Compare timespan_parse() with systemd's parse_time() as
`systemd-analyze timespan` exposes it.

  timespan-systemd.py diff HELPER     run systemd-analyze and HELPER (the
                                      timespan-parse program) over every
                                      generated input; exit 1 on any
                                      difference, and on a missing
                                      systemd-analyze (never a skip)
  timespan-systemd.py table OUT       write the table test-timespan reads:
                                      the inputs with systemd's answers

The inputs are generated here, deterministically: every unit and some
non-units after every number shape and separator, pairs of components,
blanks of every kind around them, the overflow edges of every unit, and a
seeded random mix of the same tokens. A result is the number of
microseconds, EINVAL or ERANGE.

The committed table comes from systemd 252 (Debian 12). timespan.c follows
parse_time() as upstream's src/basic/time-util.c has it today (read in
December 2026), and matches 252 on every input here, so the grammar did not
change in between; Debian 13's 257 lies in between. Should a later systemd
differ, `diff` says so on that machine: regenerate the table there only
after deciding which behaviour jobwatch wants.
"""

import concurrent.futures
import os
import random
import re
import shutil
import subprocess
import sys

UNITS = [
    "seconds", "second", "sec", "s", "minutes", "minute", "min", "months",
    "month", "M", "msec", "ms", "m", "hours", "hour", "hr", "h", "days",
    "day", "d", "weeks", "week", "w", "years", "year", "y", "usec", "us",
    "\u00b5s", "\u03bcs",
]
NOT_UNITS = [
    "S", "H", "D", "mins", "secs", "hrs", "ns", "nsec", "x", "mo", "Ms",
    "\u00b5", "sek", "infinity", "e3", ",", "se", "mi",
]
MULT = {
    "seconds": 10**6, "second": 10**6, "sec": 10**6, "s": 10**6,
    "minutes": 60 * 10**6, "minute": 60 * 10**6, "min": 60 * 10**6,
    "m": 60 * 10**6, "months": 2629800 * 10**6, "month": 2629800 * 10**6,
    "M": 2629800 * 10**6, "msec": 1000, "ms": 1000, "hours": 3600 * 10**6,
    "hour": 3600 * 10**6, "hr": 3600 * 10**6, "h": 3600 * 10**6,
    "days": 86400 * 10**6, "day": 86400 * 10**6, "d": 86400 * 10**6,
    "weeks": 604800 * 10**6, "week": 604800 * 10**6, "w": 604800 * 10**6,
    "years": 31557600 * 10**6, "year": 31557600 * 10**6,
    "y": 31557600 * 10**6, "usec": 1, "us": 1, "\u00b5s": 1, "\u03bcs": 1,
}
NUMBERS = ["0", "1", "12", "007", "1.", "1.5", ".5", ".", "0.000001",
           "1.0000009", "+1", "+.5", "+1.5", "-0", "-1", "++1", "+-1",
           "1.5.5", "1..5"]
SEPARATORS = ["", " "]
BLANKS = [" ", "\t", "\n", "\r", "\v", "\f"]
U64_MAX = 2**64 - 1
LL_MAX = 2**63 - 1


def inputs():
    out = []

    def add(s):
        out.append(s)

    # Issue 10's examples, then bare numbers and blanks.
    for n in ["1.", "2. ms", "+5s"] + NUMBERS + ["", "-", "+", "1 ", " 1", "1 2", "12.34 .56",
                        "12.34s.56", "0x10", "1e3", "1,5", "1_000"]:
        add(n)
    for b in BLANKS:
        add(b)
        for n in ["1", "1s", "+1", "-1", "-0", ".5", "infinity"]:
            add(b + n)
            add(n + b)
            add(b + n + b)
    # Every number shape with every unit and non-unit, and every separator.
    for n in NUMBERS:
        for u in UNITS + NOT_UNITS:
            for sep in SEPARATORS:
                add(n + sep + u)
    # Two components.
    for a in ["1h", "1", "1.5m", "2 min", "1.", ".5s", "+1s"]:
        for sep in ["", " ", "\t", "\n", ",", "+", "-", ".", " +", " -", "  "]:
            for b in ["30min", "5", ".5", "1.", "+2s", "-1s", "s", "x",
                      "infinity"]:
                add(a + sep + b)
    # infinity.
    for s in ["infinity", "infinity ", " infinity", "\tinfinity\n",
              "infinityx", "infinity5", "infinity 1s", "1s infinity",
              "+infinity", "-infinity", "Infinity", "INFINITY", "inf",
              "infinit", "\vinfinity", "infinity\v", "infinity\f"]:
        add(s)
    # Overflow edges: strtoll's, then every unit's (l >= UINT64_MAX / mult).
    for v in [LL_MAX - 1, LL_MAX, LL_MAX + 1, U64_MAX - 1, U64_MAX,
              U64_MAX + 1, 10**30]:
        for u in ["", "us", "s", "y"]:
            add(str(v) + u)
        add("-" + str(v))
    for u in UNITS:
        edge = U64_MAX // MULT[u]
        for v in [edge - 1, edge, edge + 1]:
            if v < 0:
                continue
            add(str(v) + u)
            add(str(v) + ".9" + u)
            add(str(v) + ".999999999999999999999" + u)
    # Sums near the limit.
    add("%dus 1us" % (LL_MAX))
    add("%dus %dus 1us" % (LL_MAX, LL_MAX))
    add("%dus %dus" % (LL_MAX, LL_MAX))
    add("%dus %dus .9s" % (LL_MAX, LL_MAX - 10**6))
    add("292471y 292471y")
    add("213503981d 23h 59min")
    add("213503982d")
    add("213503981d 8h 1min 49s 551ms")
    add("213503982d 8h 1min 49s 551ms")
    add("1" + "0" * 18 + "us")
    add("0." + "9" * 40 + "y")
    add("0" * 40 + "1s")
    # A seeded random mix of the tokens above.
    rng = random.Random(20261202)
    tokens = (["0", "1", "9", "42", ".", "+", "-", " ", "\t", "\v"] + UNITS +
              NOT_UNITS[:10] + ["infinity"])
    for _ in range(400):
        add("".join(rng.choice(tokens) for _ in range(rng.randint(1, 6))))

    seen = set()
    unique = []
    for s in out:
        if s not in seen and "\0" not in s:
            seen.add(s)
            unique.append(s)
    return unique


def analyze_path():
    path = shutil.which("systemd-analyze")
    if not path:
        sys.exit("timespan-systemd: systemd-analyze not found: install systemd "
                 "(tools/install-deps); this comparison is required, not "
                 "optional")
    return path


def systemd_version(analyze):
    out = subprocess.run([analyze, "--version"], capture_output=True,
                         text=True, check=True).stdout
    return out.splitlines()[0].strip()


US_LINE = re.compile(r"^\s*(?:us|\u03bcs): (\d+)$", re.M)


def systemd_parse(analyze, s):
    env = dict(os.environ, LC_ALL="C.UTF-8", SYSTEMD_LOG_COLOR="0")
    p = subprocess.run([analyze, "timespan", "--", s], capture_output=True,
                       env=env)
    out = p.stdout.decode("utf-8", "replace")
    err = p.stderr.decode("utf-8", "replace")
    if p.returncode == 0:
        m = US_LINE.search(out)
        if not m:
            sys.exit("timespan-systemd: cannot read systemd-analyze output "
                     "for %r: %r" % (s, out))
        return m.group(1)
    if "Invalid argument" in err:
        return "EINVAL"
    if "Numerical result out of range" in err:
        return "ERANGE"
    sys.exit("timespan-systemd: unexpected systemd-analyze failure for %r: "
             "%r" % (s, err))


def encode(s):
    return "x" + s.encode("utf-8").hex()


def ours(helper, items):
    data = "".join(encode(s) + "\n" for s in items)
    p = subprocess.run([helper], input=data, capture_output=True, text=True,
                       check=True)
    res = p.stdout.splitlines()
    if len(res) != len(items):
        sys.exit("timespan-systemd: %s gave %d answers for %d inputs" %
                 (helper, len(res), len(items)))
    return res


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("diff", "table"):
        sys.exit(__doc__)
    analyze = analyze_path()
    version = systemd_version(analyze)
    items = inputs()
    # One process per input (systemd-analyze stops at the first failure),
    # a few at a time.
    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        want = list(pool.map(lambda s: systemd_parse(analyze, s), items))

    if sys.argv[1] == "table":
        with open(sys.argv[2], "w", encoding="utf-8") as f:
            f.write("# timespan_parse() must give what systemd's parse_time() "
                    "gives: %d inputs,\n" % len(items))
            f.write("# answers from `systemd-analyze timespan` (%s).\n" %
                    version)
            f.write("# Written by tests/unit/timespan-systemd.py table; "
                    "columns: input (x + hex), answer, input.\n")
            for s, w in zip(items, want):
                f.write("%s\t%s\t%s\n" % (encode(s), w, ascii(s)))
        print("%d inputs written to %s" % (len(items), sys.argv[2]))
        return 0

    got = ours(sys.argv[2], items)
    bad = [(s, w, g) for s, w, g in zip(items, want, got) if w != g]
    for s, w, g in bad:
        print("DIFFERS %s: systemd %s, timespan_parse %s" % (ascii(s), w, g))
    print("%d inputs compared with %s: %d differ" % (len(items), version,
                                                      len(bad)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
