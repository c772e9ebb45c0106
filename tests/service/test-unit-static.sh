#!/bin/bash
# SPDX-License-Identifier: MIT
#
# test-unit-static.sh SOURCE_ROOT BUILD_ROOT JOBWATCHD -- quick checks of what
# "meson install" ships, without booting anything (about a second):
#
#   - a staged install (meson install --destdir) puts the daemon, the unit, the
#     catalog, the example config and the jobs directory where they belong, and
#     never writes jobwatch.conf into sysconfdir
#   - systemd-analyze security --offline=true rates the unit 1.5 or lower
#   - systemd-analyze verify is clean (ExecStart= pointed at the staged binary,
#     since verify insists that it exists)
#   - the catalog has exactly one entry per MESSAGE_ID of src/journal.h, and
#     journalctl --update-catalog compiles it
#   - the example config lists every key of src/config.c and passes --check,
#     together with the example job file
#
# Exit 0 pass, 1 fail, 77 skip (no systemd-analyze that can do --offline).
set -euo pipefail

SRC=$(readlink -f "${1:?usage: test-unit-static.sh SOURCE_ROOT BUILD_ROOT JOBWATCHD}")
BUILD=$(readlink -f "${2:?}")
JOBWATCHD=$(readlink -f "${3:?}")
MAX_EXPOSURE=1.5

fail() { echo "FAIL: $*"; exit 1; }
command -v systemd-analyze >/dev/null || { echo "skip: systemd-analyze not found"; exit 77; }
command -v journalctl >/dev/null || { echo "skip: journalctl not found"; exit 77; }

TMP=$(mktemp -d /tmp/jobwatch-unit-static.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
STAGE=$TMP/stage

# --- the staged install ------------------------------------------------------------
meson install -C "$BUILD" --destdir "$STAGE" --quiet >"$TMP/install.log" 2>&1 ||
  { cat "$TMP/install.log"; fail "meson install --destdir"; }
opts=$(meson introspect --buildoptions "$BUILD")
opt() { python3 -c 'import json, sys; o = {x["name"]: x["value"] for x in json.load(sys.stdin)}; print(o[sys.argv[1]])' "$1" <<<"$opts"; }
prefix=$(opt prefix)
abs() { case $1 in /*) echo "$1" ;; *) echo "$prefix/$1" ;; esac; }
sbindir=$(abs "$(opt sbindir)")
sysconfdir=$(abs "$(opt sysconfdir)")
datadir=$(abs "$(opt datadir)")

unit=$(find "$STAGE" -name jobwatchd.service -path '*/systemd/system/*')
catalog=$(find "$STAGE" -name jobwatch.catalog -path '*/systemd/catalog/*')
[ -n "$unit" ] || fail "no jobwatchd.service in a systemd/system directory of the staged install"
[ -n "$catalog" ] || fail "no jobwatch.catalog in a systemd/catalog directory of the staged install"
for f in "$sbindir/jobwatchd" "$datadir/doc/jobwatch/jobwatch.conf" "$datadir/doc/jobwatch/example.job"; do
  [ -f "$STAGE$f" ] || fail "staged install lacks $f"
done
for d in jobs.d jobwatch.conf.d; do
  [ -d "$STAGE$sysconfdir/jobwatch/$d" ] || fail "staged install lacks $sysconfdir/jobwatch/$d"
done
[ ! -e "$STAGE$sysconfdir/jobwatch/jobwatch.conf" ] || fail "meson install must not write $sysconfdir/jobwatch/jobwatch.conf"
grep -qx "ExecStart=$sbindir/jobwatchd" "$unit" || fail "ExecStart= is not $sbindir/jobwatchd"
grep -qx "LoadCredential=api-key:$sysconfdir/jobwatch/api-key" "$unit" || fail "LoadCredential= does not name $sysconfdir/jobwatch/api-key"
echo "staged install (prefix $prefix): ${unit#$STAGE}, ${catalog#$STAGE}"

# --- systemd-analyze security -------------------------------------------------------
if ! out=$(systemd-analyze security --offline=true --no-pager "$unit" 2>&1); then
  case $out in
    *"unrecognized option"*|*"Unknown command"*) echo "skip: systemd-analyze security --offline=true unsupported: $out"; exit 77 ;;
  esac
fi
score=$(sed -n 's/.*Overall exposure level for jobwatchd.service: \([0-9.]*\).*/\1/p' <<<"$out")
[ -n "$score" ] || fail "no exposure level in: $out"
awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s <= m) }' ||
  { grep '✗' <<<"$out" || true; fail "exposure level $score, expected <= $MAX_EXPOSURE"; }
# the same through the documented gate (0-100 scale)
systemd-analyze security --offline=true --threshold=15 --no-pager "$unit" >/dev/null 2>&1 ||
  fail "systemd-analyze security --threshold=15 refused the unit"
echo "systemd-analyze security: exposure $score (<= $MAX_EXPOSURE)"

# --- systemd-analyze verify ---------------------------------------------------------
mkdir "$TMP/verify"
sed "s|^ExecStart=$sbindir/jobwatchd|ExecStart=$STAGE$sbindir/jobwatchd|" "$unit" > "$TMP/verify/jobwatchd.service"
man_opt=(--man=no)
mandir=$STAGE$(abs "$(opt mandir)")
if [ -f "$mandir/man8/jobwatchd.8" ]; then
  man_opt=()
  export MANPATH=$mandir
fi
if ! err=$(systemd-analyze verify "${man_opt[@]}" "$TMP/verify/jobwatchd.service" 2>&1); then
  fail "systemd-analyze verify: $err"
fi
[ -z "$err" ] || fail "systemd-analyze verify is not clean: $err"
echo "systemd-analyze verify: clean${man_opt:+ (man pages not built: --man=no)}"

# --- catalog --------------------------------------------------------------------------
ids=$(grep -o 'MESSAGE_ID_[A-Z_]* "[0-9a-f]\{32\}"' "$SRC/src/journal.h" | grep -o '[0-9a-f]\{32\}')
[ -n "$ids" ] || fail "no MESSAGE_IDs found in src/journal.h"
for id in $ids; do
  n=$(grep -c "^-- $id\$" "$catalog" || true)
  [ "$n" = 1 ] || fail "MESSAGE_ID $id has $n catalog entries, expected 1"
done
extra=$(grep -o '^-- [0-9a-f]\{32\}' "$catalog" | cut -c4- | grep -vxF "$ids" || true)
[ -z "$extra" ] || fail "catalog entries for unknown MESSAGE_IDs: $extra"
# compile it like "journalctl --update-catalog" does on the host, into the stage
croot=$TMP/catroot
mkdir -p "$croot/usr/lib/systemd/catalog" "$croot/var/lib/systemd/catalog"
cp "$catalog" "$croot/usr/lib/systemd/catalog/"
journalctl --root="$croot" --update-catalog 2>"$TMP/cat.err" || { cat "$TMP/cat.err"; fail "journalctl --update-catalog"; }
[ ! -s "$TMP/cat.err" ] || { cat "$TMP/cat.err"; fail "journalctl --update-catalog complained"; }
listed=$(journalctl --root="$croot" --list-catalog)
for id in $ids; do
  grep -q "^$id jobwatch: " <<<"$listed" || fail "compiled catalog lacks $id"
done
echo "catalog: $(wc -w <<<"$ids") MESSAGE_IDs, one entry each, compiles"

# --- example configuration -------------------------------------------------------------
conf=$STAGE$datadir/doc/jobwatch/jobwatch.conf
keys=$(sed -n 's/^[[:space:]]*{ SECTION_[A-Z]*, "\([A-Za-z]*\)".*/\1/p' "$SRC/src/config.c")
[ -n "$keys" ] || fail "no keys found in src/config.c"
for k in $keys; do
  grep -Eq "^#?$k=" "$conf" || fail "the example config does not list $k="
done
mkdir -p "$TMP/creds" "$TMP/jobs"
# as the README writes it: readable by its owner only (jobwatchd warns otherwise)
(umask 077 && printf 'app-examplekey00000000000000\n' > "$TMP/creds/api-key")
cp "$STAGE$datadir/doc/jobwatch/example.job" "$TMP/jobs/"
out=$(CREDENTIALS_DIRECTORY=$TMP/creds "$JOBWATCHD" --check -c "$conf" -j "$TMP/jobs" 2>&1) ||
  fail "jobwatchd --check on the example config: $out"
grep -q "^Configuration OK: 1 job file checked, 0 warnings\.$" <<<"$out" || fail "jobwatchd --check: $out"
echo "example config: all $(wc -w <<<"$keys") keys listed, --check OK with example.job"
echo PASS
