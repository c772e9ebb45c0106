#!/bin/bash
# SPDX-License-Identifier: MIT
#
# test-service.sh SOURCE_ROOT BUILD_ROOT -- jobwatchd.service under a real systemd.
#
# Boots systemd (252 on Debian 12, 257 on 13) as PID 1 of throw-away namespaces (tests/service/sysd-ns.sh:
# an overlay of the host's / whose writes land in RAM), installs jobwatch into it
# with "meson install", and checks, the way an operator would see it:
#
#   install      files where systemd expects them; systemd-analyze verify is clean;
#                journalctl --update-catalog knows every MESSAGE_ID
#   start        "systemctl start" returns only after READY=1 (the unit is active)
#   credential   the API key comes from LoadCredential= (the daemon's dynamic user
#                cannot read /etc/jobwatch/api-key); results and their fields in
#                "journalctl -u jobwatchd JOB_ID=... -o json"; a Python hook runs in
#                the sandbox and reaches the network
#   status       STATUS= counts in "systemctl show -P StatusText", endpoint trouble
#                ("endpoint default: HTTP 401 since HH:MM") and its recovery
#   reload       "systemctl reload" picks up a new [Endpoint:NAME] (a job file naming
#                it is refused before, accepted after); a bad new config is
#                reported and the old one kept
#   watchdog     a daemon frozen with SIGSTOP is killed by the watchdog (SIGABRT) and
#                restarted; its pending jobs still finish, each reported once
#   catalog      "journalctl -x" shows the catalog text of a result
#   stop         "systemctl stop" waits for a running hook, then exits 0
#   burst        20,000 jobs flip to completed at once: with the shipped unit every
#                result is in the journal; with journald's default per-unit rate
#                limit (a drop-in) entries are dropped, so the setting matters
#
# What is installed is BUILD_ROOT itself when it is configured with --prefix=/usr and
# without sanitizers (CI's release build); otherwise the test builds its own copy in
# BUILD_ROOT/service-build (LeakSanitizer needs ptrace, which the unit's
# SystemCallFilter= refuses, and a sanitized build is not what users install).
# JOBWATCH_SERVICE_BUILD=DIR names another build directory to install from.
#
# Exit: 0 pass, 1 fail, 77 skip (only when this machine cannot boot systemd in
# namespaces: not root, no cgroup2/overlayfs/unshare; the reason is printed).
# Needs: root, systemd 252+, util-linux, python3 (3.11), meson, ninja.
set -euo pipefail

SRC=$(readlink -f "${1:?usage: test-service.sh SOURCE_ROOT BUILD_ROOT}")
BUILD=$(readlink -f "${2:?usage: test-service.sh SOURCE_ROOT BUILD_ROOT}")
HERE=$SRC/tests/service
SD=$HERE/sysd-ns.sh
MOCK=$SRC/tests/mock/mock_dify.py
BURST_SERVER=$HERE/burst_server.py
BURST_JOBS=${JOBWATCH_BURST_JOBS:-20000}

MID_RESULT=a39a5dfed5e2428daa11a29b4bba0de2
MID_HOOK_EXIT=1caff9731d274b33a83ebcc182c7cc51
MID_HOOK_LINE=11a9ad878bc143e48d409d7019067f13
MID_TROUBLE=a7269768b97e425c852659c6811be1c2
MID_RECOVERED=d170ee79643644feb29c8a43a496bc0e
MID_FILE_INVALID=3a2a5bbed42b4498a24219f52e0b9205

KEY=app-svctest0000000000000000001

export SYSD_NS_DIR
SYSD_NS_DIR=$(mktemp -d /tmp/jobwatch-service.XXXXXX)
T=$SYSD_NS_DIR/work
mkdir -p "$T"
NAME=jw$$
BOOTED=
PIDS=()

cleanup() {
  local rc=$?
  set +e
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  if [ -n "$BOOTED" ]; then "$SD" stop "$NAME"; fi
  rm -rf "$SYSD_NS_DIR"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

now() { date +%s.%N; }
T0=$(now)
LAP=$T0
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
phase() {
  local t; t=$(now)
  printf '  %-58s %6.1fs\n' "$1" "$(awk -v a="$LAP" -v b="$t" 'BEGIN { print b - a }')"
  LAP=$t
}
note() { printf '      %s\n' "$*"; }

X() { "$SD" exec "$NAME" "$@"; }
fail() {
  echo "FAIL: $*"
  if [ -n "$BOOTED" ]; then
    echo "--- systemctl status jobwatchd"
    X systemctl status jobwatchd --no-pager -n 0 2>&1 | sed 's/^/    /' || true
    echo "--- journalctl -u jobwatchd (last 40)"
    X journalctl -u jobwatchd --no-pager -n 40 -o short-monotonic 2>&1 | cut -c1-300 | sed 's/^/    /' || true
  fi
  exit 1
}
# Every wall-clock bound grows by JOBWATCH_TEST_TIME_SCALE (>= 1; default 1), as in
# tests/integration/harness.py (tests/README.md).
TIME_SCALE=${JOBWATCH_TEST_TIME_SCALE:-1}
awk -v s="$TIME_SCALE" 'BEGIN { exit !(s + 0 >= 1) }' ||
  { echo "JOBWATCH_TEST_TIME_SCALE=$TIME_SCALE: expected a number >= 1" >&2; exit 2; }
# wait_until SECONDS WHAT COMMAND... -- poll COMMAND every 0.2 s, for SECONDS (scaled) at most
wait_until() {
  local secs; secs=$(awk -v a="$1" -v s="$TIME_SCALE" 'BEGIN { printf "%d", a * s + 0.999 }')
  local what=$2; shift 2
  local end; end=$(awk -v t="$(now)" -v s="$secs" 'BEGIN { printf "%d", t + s }')
  until "$@"; do
    [ "$(date +%s)" -lt "$end" ] || fail "timed out after ${secs}s waiting for $what"
    sleep 0.2
  done
}
show() { X systemctl show -P "$1" jobwatchd; }
jctl() { X journalctl --no-pager -q -u jobwatchd "$@"; }
# the JSON result entries of one job
result_json() { jctl -o json MESSAGE_ID=$MID_RESULT JOB_ID="$1"; }
has_result() { [ -n "$(result_json "$1")" ]; }
hook_done() { [ -n "$(jctl -o cat MESSAGE_ID=$MID_HOOK_EXIT JOB_ID="$1")" ]; }
# check_result ID STATUS [FIELD=VALUE...] -- exactly one result entry with these fields
check_result() {
  local id=$1 status=$2; shift 2
  result_json "$id" | python3 -c '
import json, sys
id, status, extra = sys.argv[1], sys.argv[2], sys.argv[3:]
es = [json.loads(l) for l in sys.stdin if l.strip()]
if len(es) != 1:
    sys.exit("job %s: %d result entries, expected 1" % (id, len(es)))
e = es[0]
want = {"MESSAGE_ID": "'$MID_RESULT'", "JOB_ID": id, "JOB_STATUS": status,
        "SYSLOG_IDENTIFIER": "jobwatchd", "_SYSTEMD_UNIT": "jobwatchd.service"}
want.update(kv.split("=", 1) for kv in extra)
bad = ["%s=%r (expected %r)" % (k, e.get(k), v) for k, v in want.items() if e.get(k) != v]
for k in ("JOB_ACTION", "JOB_ENDPOINT", "JOB_FILE", "JOB_POLLS", "JOB_DURATION_USEC", "MESSAGE"):
    if not e.get(k):
        bad.append("%s missing" % k)
if bad:
    sys.exit("job %s result entry: %s" % (id, "; ".join(bad)))
' "$id" "$status" "$@" || fail "result entry of $id"
}
mock_get() { python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())' "$1"; }
mock_post() {
  python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(urllib.request.Request(sys.argv[1], data=sys.argv[2].encode(), headers={"Content-Type": "application/json"}), timeout=10).read().decode())' "$1" "$2"
}
# write_job NAME ID [KEY=VALUE...] -- a job file, written the documented way (rename)
write_job() {
  local name=$1 id=$2; shift 2
  { printf '[Job]\nJobID=%s\nAction=enable\n' "$id"; for kv in "$@"; do printf '%s\n' "$kv"; done; } \
    > "$R/etc/jobwatch/jobs.d/.$name.tmp"
  mv "$R/etc/jobwatch/jobs.d/.$name.tmp" "$R/etc/jobwatch/jobs.d/$name.job"
}
# start_server VAR_PORT LOGNAME COMMAND... -- start a server on the host, wait for its port
start_server() {
  local var=$1 log=$2; shift 2
  local pf=$T/$log.port
  rm -f "$pf"
  "$@" --port-file "$pf" >"$T/$log.log" 2>&1 &
  PIDS+=($!)
  local pid=$!
  # its port file, or its end
  server_up() { [ -s "$pf" ] || ! kill -0 "$pid" 2>/dev/null; }
  wait_until 15 "$log to start" server_up
  [ -s "$pf" ] || { cat "$T/$log.log"; fail "$log did not start"; }
  printf -v "$var" '%s' "$(cat "$pf")"
}
reloaded_count() { jctl -o cat | grep -c '^Reloaded\.$' || true; }
reloaded_since() { [ "$(reloaded_count)" -gt "$1" ]; }
reload_and_wait() {
  local before; before=$(reloaded_count)
  X systemctl reload jobwatchd || fail "systemctl reload failed"
  # systemctl reload returns once kill -HUP ran (Type=notify, 252 and 257): wait for the daemon's own line
  wait_until 30 "the daemon's 'Reloaded.'" reloaded_since "$before"
}

echo "jobwatch service test (systemd $(systemctl --version | awk 'NR==1 { print $2 }'))"

# ---------------------------------------------------------------------------------
# 0. Can this machine do it at all? Then build what users install.
"$SD" probe || exit 77

# What users install: a release-like build with --prefix=/usr (so the unit and the
# catalog land in /usr/lib/systemd/..., the config in /etc) and no sanitizers.
buildopt() { meson introspect --buildoptions "$1" | python3 -c 'import json, sys; print({o["name"]: o["value"] for o in json.load(sys.stdin)}[sys.argv[1]])' "$2"; }
usable() { [ "$(buildopt "$1" prefix)" = /usr ] && [ "$(buildopt "$1" sysconfdir)" = /etc ] && [ "$(buildopt "$1" b_sanitize)" = none ]; }
if [ -n "${JOBWATCH_SERVICE_BUILD:-}" ]; then
  SB=$(readlink -f "$JOBWATCH_SERVICE_BUILD")
  usable "$SB" || fail "JOBWATCH_SERVICE_BUILD=$SB: needs --prefix=/usr, sysconfdir /etc, no sanitizer"
elif usable "$BUILD"; then
  SB=$BUILD            # meson test built it already
else
  SB=$BUILD/service-build
  if [ ! -f "$SB/build.ninja" ]; then
    meson setup "$SB" "$SRC" --prefix=/usr --buildtype=debugoptimized -Db_sanitize=none \
      -Dwerror=false -Dtests=false >"$T/meson-setup.log" 2>&1 ||
      { cat "$T/meson-setup.log"; fail "meson setup of $SB"; }
  fi
  ninja -C "$SB" >"$T/ninja.log" 2>&1 || { tail -30 "$T/ninja.log"; fail "ninja -C $SB"; }
  usable "$SB" || fail "$SB is not configured with --prefix=/usr and without sanitizers"
fi
phase "build ($SB)"

# ---------------------------------------------------------------------------------
# 1. Boot and install.
"$SD" boot "$NAME" >/dev/null 2>"$T/boot.log" || { cat "$T/boot.log"; fail "boot"; }
BOOTED=1
R=$("$SD" root "$NAME")
phase "boot systemd in namespaces"

# the host's / is the overlay's lower layer: hide anything of a jobwatch installed there
rm -rf "$R/etc/jobwatch" "$R/etc/systemd/system/jobwatchd.service" "$R/etc/systemd/system/jobwatchd.service.d" \
       "$R/var/lib/jobwatch" "$R/var/lib/private/jobwatch"
DESTDIR=$R meson install -C "$SB" --quiet >"$T/install.log" 2>&1 ||
  { cat "$T/install.log"; fail "meson install into the namespace"; }
for f in /usr/sbin/jobwatchd /usr/lib/systemd/system/jobwatchd.service \
         /usr/lib/systemd/catalog/jobwatch.catalog /usr/share/doc/jobwatch/jobwatch.conf \
         /usr/share/doc/jobwatch/example.job; do
  [ -f "$R$f" ] || fail "meson install did not create $f"
done
for d in jobs.d jobwatch.conf.d; do
  [ -d "$R/etc/jobwatch/$d" ] || fail "meson install did not create /etc/jobwatch/$d"
done
[ ! -e "$R/etc/jobwatch/jobwatch.conf" ] || fail "meson install wrote /etc/jobwatch/jobwatch.conf"

if [ -e "$R/usr/share/man/man8/jobwatchd.8" ]; then man_opt=(); else man_opt=(--man=no); fi
verify=$(X systemd-analyze verify "${man_opt[@]}" jobwatchd.service 2>&1) ||
  fail "systemd-analyze verify jobwatchd.service: $verify"
[ -z "$verify" ] || fail "systemd-analyze verify jobwatchd.service is not clean: $verify"
[ ${#man_opt[@]} -eq 0 ] || note "man pages not installed (no man/*.scd or no scdoc): verify ran with --man=no"

X journalctl --update-catalog || fail "journalctl --update-catalog"
ids=$(grep -o 'MESSAGE_ID_[A-Z_]* "[0-9a-f]\{32\}"' "$SRC/src/journal.h" | grep -o '[0-9a-f]\{32\}')
catalog=$(X journalctl --list-catalog)
for id in $ids; do
  grep -q "^$id jobwatch: " <<<"$catalog" || fail "journalctl --list-catalog has no entry for MESSAGE_ID $id"
done

# a journal big enough for the bursts below, so that nothing is vacuumed away
mkdir -p "$R/etc/systemd/journald.conf.d"
printf '[Journal]\nRuntimeMaxUse=1G\nSystemMaxUse=1G\n' > "$R/etc/systemd/journald.conf.d/50-jobwatch-test.conf"
X systemctl restart systemd-journald
phase "meson install, verify, catalog ($(wc -w <<<"$ids") MESSAGE_IDs)"

# ---------------------------------------------------------------------------------
# 2. Configure as README.md ("Run as a service") says, point it at a mock Dify, start.
cat > "$T/scenario.json" <<'EOF'
{"jobs": [
  {"job_id": "0a000000-0000-4000-8000-00000000000a", "lifecycle": [["waiting", 5], ["completed", null]]},
  {"job_id": "0b000000-0000-4000-8000-00000000000b", "lifecycle": [["waiting", 2], ["error", null]], "error_msg": "embedding model not found"}
]}
EOF
start_server MOCK_PORT mock python3 "$MOCK" --port 0 --key "$KEY" --scenario "$T/scenario.json" --quiet
BASE=http://127.0.0.1:$MOCK_PORT

install -m 0600 /dev/stdin "$R/etc/jobwatch/api-key" <<<"$KEY"
cp "$R/usr/share/doc/jobwatch/jobwatch.conf" "$R/etc/jobwatch/jobwatch.conf"
mkdir -p "$R/usr/local/libexec/jobwatch-test"
install -m 0755 "$HERE/hook-net.py" "$R/usr/local/libexec/jobwatch-test/hook-net.py"
# "localhost": the hook resolves a name inside the sandbox (no AF_NETLINK)
cat > "$R/etc/jobwatch/jobwatch.conf.d/10-test.conf" <<EOF
[Poll]
InitialInterval=200ms
MaxInterval=1s
[Hook]
Exec=/usr/bin/python3 /usr/local/libexec/jobwatch-test/hook-net.py http://localhost:$MOCK_PORT/_mock/health
AllowJobHooks=yes
[Endpoint]
BaseURL=$BASE/v1
EOF
# test-only: restart at once and without limit, no core files from the watchdog's SIGABRT
mkdir -p "$R/etc/systemd/system/jobwatchd.service.d"
printf '[Unit]\nStartLimitIntervalSec=0\n[Service]\nRestartSec=1s\nLimitCORE=0\n' \
  > "$R/etc/systemd/system/jobwatchd.service.d/50-test.conf"

A=0a000000-0000-4000-8000-00000000000a
B=0b000000-0000-4000-8000-00000000000b
write_job a "$A" "Description=service test A"
write_job b "$B"
X systemctl daemon-reload
ts=$(now)
X systemctl start jobwatchd || fail "systemctl start jobwatchd"
start_secs=$(elapsed "$ts")
# Type=notify: the unit is "activating" until READY=1, so active here means READY came first
st=$(X systemctl show -P ActiveState,SubState jobwatchd | tr '\n' ' ')
[ "$st" = "active running " ] || fail "right after systemctl start: $st, expected active running"
jctl -o cat | grep -q "^Watching 2 jobs from '/etc/jobwatch/jobs.d'" || fail "no start-up line before READY"
phase "systemctl start returned after READY=1 (${start_secs}s)"

# ---------------------------------------------------------------------------------
# 3. Credential, results, hook.
wait_until 60 "the result of job A" has_result "$A"
wait_until 60 "the result of job B" has_result "$B"
check_result "$A" completed PRIORITY=6 JOB_ACTION=enable JOB_ENDPOINT=default \
  JOB_FILE=/etc/jobwatch/jobs.d/a.job JOB_DESCRIPTION="service test A"
check_result "$B" error PRIORITY=3 JOB_ERROR="embedding model not found"
# every request carried the key from the credential
mock_get "$BASE/_mock/requests?job_id=$A&headers=0" | python3 -c '
import json, sys
rs = json.load(sys.stdin)
auth = {r["authorization"] for r in rs}
if not rs or auth != {"Bearer " + sys.argv[1]}:
    sys.exit("requests for job A: %d, Authorization %r" % (len(rs), auth))
' "$KEY" || fail "the API key did not reach Dify"
# ...which the daemon could only have from LoadCredential=: the file is root's, 0600
mainpid=$(show MainPID)
uid_in=$(X awk '/^Uid:/ { print $2 }' "/proc/$mainpid/status")
[ "$uid_in" -ge 61184 ] && [ "$uid_in" -le 65519 ] || fail "daemon uid $uid_in is not a DynamicUser= uid"
[ "$(stat -c '%a %u' "$R/etc/jobwatch/api-key")" = "600 0" ] || fail "api-key is not root 0600"
X test -f "/run/credentials/jobwatchd.service/api-key" || fail "no credential api-key"
# the hook: ran in the sandbox, reached the network by name, no key in its environment
wait_until 60 "the hook of job A" hook_done "$A"
hookline=$(jctl -o cat MESSAGE_ID=$MID_HOOK_LINE JOB_ID="$A")
case $hookline in
  "hook-net job=$A status=completed endpoint=default stdin="*" net=ok-200 key_in_env=no uid=$uid_in env=JOBWATCH_ACTION,JOBWATCH_DESCRIPTION,JOBWATCH_DURATION,JOBWATCH_ENDPOINT,JOBWATCH_ERROR,JOBWATCH_JOB_FILE,JOBWATCH_JOB_ID,JOBWATCH_KIND,JOBWATCH_POLLS,JOBWATCH_REMOTE_STATUS,JOBWATCH_STATUS") ;;
  *) fail "hook output of job A: '$hookline'" ;;
esac
jctl -o json MESSAGE_ID=$MID_HOOK_EXIT JOB_ID="$A" | grep -q '"HOOK_EXIT_STATUS":"0"' || fail "hook of A did not exit 0"
phase "credential key, result fields, Python hook with network (uid $uid_in)"

# ---------------------------------------------------------------------------------
# 4. STATUS=: counts, and trouble an operator can read.
status_re='^Watching [0-9]+ jobs? \([0-9]+ requests? in flight, [0-9]+ waiting for a connection\), [0-9]+ finished'
status_is() { [[ "$(show StatusText)" =~ $1 ]]; }
wait_until 20 "StatusText with 2 finished" status_is '^Watching 0 jobs \(0 requests in flight, 0 waiting for a connection\), 2 finished$'
C=0c000000-0000-4000-8000-00000000000c
mock_post "$BASE/_mock/jobs" '{"jobs": [{"job_id": "'$C'", "lifecycle": [["waiting", null]]}]}' >/dev/null
write_job c "$C"
wait_until 20 "StatusText watching job C" status_is '^Watching 1 job \([01] requests? in flight, 0 waiting for a connection\), 2 finished$'
mock_post "$BASE/_mock/config" '{"revoke_keys": ["'$KEY'"]}' >/dev/null
wait_until 30 "StatusText with the 401" status_is "$status_re; endpoint default: HTTP 401 since [0-2][0-9]:[0-5][0-9]\$"
note "StatusText: $(show StatusText)"
jctl -o json MESSAGE_ID=$MID_TROUBLE | grep -q '"JOB_ENDPOINT":"default"' || fail "no endpoint trouble entry"
mock_post "$BASE/_mock/config" '{"add_keys": ["'$KEY'"]}' >/dev/null
wait_until 30 "StatusText without trouble" status_is "$status_re\$"
jctl -o json MESSAGE_ID=$MID_RECOVERED | grep -q '"JOB_ENDPOINT":"default"' || fail "no endpoint recovered entry"
mock_post "$BASE/_mock/set" '{"job_ids": ["'$C'"], "status": "completed"}' >/dev/null
wait_until 30 "the result of job C" has_result "$C"
check_result "$C" completed
phase "STATUS= counts, 401 trouble and recovery"

# ---------------------------------------------------------------------------------
# 5. Reload: a new endpoint; then a bad config is reported and the old one kept.
start_server MOCK2_PORT mock2 python3 "$MOCK" --port 0 --key "$KEY" --quiet
D=0d000000-0000-4000-8000-00000000000d
mock_post "http://127.0.0.1:$MOCK2_PORT/_mock/jobs" \
  '{"jobs": [{"job_id": "'$D'", "lifecycle": [["waiting", 1], ["completed", null]]}]}' >/dev/null
write_job d "$D" Endpoint=second
refused() { jctl -o json MESSAGE_ID=$MID_FILE_INVALID | grep -q '"CONFIG_FILE":"/etc/jobwatch/jobs.d/d.job"'; }
wait_until 20 "job file d.job refused (no endpoint 'second' yet)" refused
has_result "$D" && fail "job D ran before its endpoint existed"
cat > "$R/etc/jobwatch/jobwatch.conf.d/20-second.conf" <<EOF
[Endpoint:second]
BaseURL=http://localhost:$MOCK2_PORT/v1
APIKeyCredential=api-key
EOF
reload_and_wait
wait_until 30 "the result of job D on endpoint second" has_result "$D"
check_result "$D" completed JOB_ENDPOINT=second
[ "$(show ActiveState)" = active ] || fail "not active after reload"

pid_before=$(show MainPID)
printf '[Poll]\n# a typo\nMaxInterval=banana\n' > "$R/etc/jobwatch/jobwatch.conf.d/90-bad.conf"
X systemctl reload jobwatchd || fail "systemctl reload (bad config)"
kept() { jctl -o cat | grep -qi "keeping the old"; }
wait_until 30 "'keeping the old' configuration" kept
jctl -o cat -p err | grep -q '/etc/jobwatch/jobwatch.conf.d/90-bad.conf:3: Invalid MaxInterval= value' ||
  fail "the bad line is not reported as an error at FILE:LINE"
[ "$(show MainPID)" = "$pid_before" ] && [ "$(show ActiveState)" = active ] || fail "daemon not kept running"
substate_running() { [ "$(show SubState)" = running ]; }
wait_until 10 "READY=1 after the failed reload" substate_running
# the old configuration is still in force: endpoint 'second' still works
E=0e000000-0000-4000-8000-00000000000e
mock_post "http://127.0.0.1:$MOCK2_PORT/_mock/jobs" '{"jobs": [{"job_id": "'$E'", "lifecycle": [["completed", null]]}]}' >/dev/null
write_job e "$E" Endpoint=second
wait_until 30 "the result of job E" has_result "$E"
check_result "$E" completed JOB_ENDPOINT=second
rm "$R/etc/jobwatch/jobwatch.conf.d/90-bad.conf"
reload_and_wait
phase "reload: new endpoint picked up; bad config reported, old kept"

# ---------------------------------------------------------------------------------
# 6. Watchdog: SIGSTOP the daemon; systemd kills (SIGABRT) and restarts it; its
#    pending jobs finish after the restart, each reported once.
printf '[Service]\nWatchdogSec=3s\n' > "$R/etc/systemd/system/jobwatchd.service.d/60-watchdog.conf"
X systemctl daemon-reload
X systemctl restart jobwatchd
[ "$(show WatchdogUSec)" = 3s ] || fail "WatchdogUSec is $(show WatchdogUSec)"
nr0=$(show NRestarts)
W=(0f000001-0000-4000-8000-00000000000f 0f000002-0000-4000-8000-00000000000f 0f000003-0000-4000-8000-00000000000f)
mock_post "$BASE/_mock/jobs" "{\"jobs\": [$(printf '{"job_id": "%s", "lifecycle": [["waiting", 8], ["completed", null]]},' "${W[@]}" | sed 's/,$//')]}" >/dev/null
for i in 0 1 2; do write_job "w$i" "${W[$i]}"; done
# each job polled and its answer written out: the daemon watches all three when it freezes
polled() {
  local id
  for id in "${W[@]}"; do
    mock_get "$BASE/_mock/requests?job_id=$id&kind=status&headers=0" |
      python3 -c 'import json, sys; sys.exit(not any(e["t_end"] is not None and e["job_status"] for e in json.load(sys.stdin)))' ||
      return 1
  done
}
wait_until 20 "the watchdog jobs polled" polled
mp=$(show MainPID)
ts=$(now)
X kill -STOP "$mp"
restarted() { [ "$(show NRestarts)" = $((nr0 + 1)) ] && [ "$(show ActiveState)" = active ]; }
wait_until 40 "watchdog kill and restart" restarted
wd_secs=$(elapsed "$ts")
[ "$(show MainPID)" != "$mp" ] || fail "same MainPID after the watchdog restart"
log=$(X journalctl --no-pager -q -u jobwatchd -o cat)
grep -q "Watchdog timeout (limit 3s)" <<<"$log" || fail "no watchdog timeout in the journal"
grep -q "Killing process $mp (jobwatchd) with signal SIGABRT" <<<"$log" || fail "not killed with SIGABRT"
grep -q "Failed with result 'watchdog'" <<<"$log" || fail "no result 'watchdog'"
for id in "${W[@]}"; do wait_until 40 "the result of $id after the restart" has_result "$id"; done
for id in "${W[@]}"; do check_result "$id" completed; done
rm "$R/etc/systemd/system/jobwatchd.service.d/60-watchdog.conf"
X systemctl daemon-reload
phase "watchdog: SIGSTOP -> SIGABRT -> restart in ${wd_secs}s, pending jobs finished"

# ---------------------------------------------------------------------------------
# 7. journalctl -x shows the catalog text.
x=$(X journalctl --no-pager -q -x -u jobwatchd MESSAGE_ID=$MID_RESULT JOB_ID="$B")
grep -q "Subject: Dify annotation-reply job $B (endpoint default) ended: error" <<<"$x" || fail "journalctl -x: no catalog subject: $x"
grep -q "Defined-By: jobwatch" <<<"$x" || fail "journalctl -x: no Defined-By"
grep -q "JOB_ERROR holds Dify's error" <<<"$x" || fail "journalctl -x: no catalog body"
x=$(X journalctl --no-pager -q -x -u jobwatchd MESSAGE_ID=$MID_TROUBLE)
grep -q "Subject: Dify endpoint default is not answering properly" <<<"$x" || fail "journalctl -x: trouble entry"
phase "journalctl -x shows the catalog"

# ---------------------------------------------------------------------------------
# 8. systemctl stop waits for a running hook (KillMode=mixed), then exits 0.
G=0f00000a-0000-4000-8000-00000000000f
mock_post "$BASE/_mock/jobs" '{"jobs": [{"job_id": "'$G'", "lifecycle": [["completed", null]]}]}' >/dev/null
write_job g "$G" 'Hook=/bin/sh -c "echo slow hook started; sleep 3; echo slow hook finished"'
hook_started() { jctl -o cat MESSAGE_ID=$MID_HOOK_LINE JOB_ID="$G" | grep -q "slow hook started"; }
wait_until 30 "the slow hook" hook_started
ts=$(now)
X systemctl stop jobwatchd || fail "systemctl stop"
stop_secs=$(elapsed "$ts")
[ "$(show ActiveState)" = inactive ] || fail "not inactive after stop"
[ "$(show Result)" = success ] || fail "stop result $(show Result)"
jctl -o cat MESSAGE_ID=$MID_HOOK_LINE JOB_ID="$G" | grep -q "slow hook finished" || fail "the hook was cut short by stop"
jctl -o json MESSAGE_ID=$MID_HOOK_EXIT JOB_ID="$G" | grep -q '"HOOK_EXIT_STATUS":"0"' || fail "the hook did not exit 0"
log=$(X journalctl --no-pager -q -u jobwatchd -o cat -n 6)
grep -q '^Stopped\.$' <<<"$log" || fail "no 'Stopped.' from the daemon"
grep -q 'Deactivated successfully' <<<"$log" || fail "stop was not clean: $log"
phase "systemctl stop waited for the hook, exit 0 (${stop_secs}s)"

# ---------------------------------------------------------------------------------
# 9. The burst: BURST_JOBS jobs flip to completed at once. 1 in 100 runs a hook that
#    prints 200 lines; that makes >= 2 entries per job (forking 20,000 hook processes
#    would take minutes on a 2-vCPU VM and prove nothing more to journald).
start_server BURST_PORT burst python3 "$BURST_SERVER" --key "$KEY"
BURL=http://127.0.0.1:$BURST_PORT
rm -f "$R/etc/jobwatch/jobwatch.conf.d/"*.conf
cat > "$R/etc/jobwatch/jobwatch.conf.d/10-burst.conf" <<EOF
[Poll]
InitialInterval=10s
MaxInterval=10s
Multiplier=1
Jitter=0.2
[Hook]
Exec=
MaxParallel=16
AllowJobHooks=yes
[Endpoint]
BaseURL=$BURL/v1
MaxConcurrentRequests=64
EOF

# burst TAG -- one run; sets DELIVERED, PRODUCED, RESULTS_SEEN, SPAN. (journald's own
# "Suppressed N messages" line comes only when the unit logs again after the window,
# so the proof is the count of what arrived.)
burst() {
  local tag=$1 t
  X systemctl stop jobwatchd
  rm -rf "$R/etc/jobwatch/jobs.d" "$R/var/lib/private/jobwatch/"*
  mkdir "$R/etc/jobwatch/jobs.d"
  python3 - "$R/etc/jobwatch/jobs.d" "$T/ids-$tag" "$tag" "$BURST_JOBS" <<'EOF'
import os, sys, uuid
d, idfile, tag, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
with open(idfile, "w") as ids:
    for i in range(n):
        jid = str(uuid.uuid5(uuid.NAMESPACE_URL, "jobwatch-burst-%s-%d" % (tag, i)))
        hook = i % 100 == 0
        ids.write("%s %d\n" % (jid, hook))
        with open(os.path.join(d, "b%05d.job" % i), "w") as f:
            f.write("[Job]\nJobID=%s\nAction=enable\n" % jid)
            if hook:
                f.write('Hook=/usr/bin/seq -f "burst hook line %g" 200\n')
EOF
  mock_post "$BURL/_reset" '' >/dev/null
  t=$(now)
  X systemctl start jobwatchd || fail "start with $BURST_JOBS job files"
  note "$tag: start with $BURST_JOBS job files until READY=1: $(elapsed "$t")s"
  # every job polled once ("waiting"); then a fresh journald, so that the burst
  # begins its own rate-limit window (30 s) instead of straddling the start's
  polled_all() { [ "$(mock_get "$BURL/_stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')" -ge "$BURST_JOBS" ]; }
  wait_until 180 "$BURST_JOBS first polls" polled_all
  X systemctl restart systemd-journald
  t=$(now)
  mock_post "$BURL/_flip" '' >/dev/null
  burst_done() { [[ "$(show StatusText)" =~ ^Watching\ 0\ jobs\ \(0\ requests\ in\ flight,\ 0\ waiting\ for\ a\ connection\),\ $BURST_JOBS\ finished$ ]]; }
  wait_until 300 "$BURST_JOBS results and their hooks" burst_done
  note "$tag: all $BURST_JOBS results and hooks done $(elapsed "$t")s after the flip"
  # journald has read every entry the daemon sent once it shows a marker sent after them to the
  # same datagram socket (one receive queue, read in order)
  local marker=jobwatch-burst-$tag-$$
  X python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(("MESSAGE=%s\nSYSLOG_IDENTIFIER=jobwatch-test\n" % sys.argv[1]).encode(), "/run/systemd/journal/socket")' "$marker"
  marker_seen() { X journalctl --no-pager -q -o cat SYSLOG_IDENTIFIER=jobwatch-test | grep -qx "$marker"; }
  wait_until 60 "journald to catch up with the burst ($marker)" marker_seen
  X journalctl --no-pager -q -u jobwatchd -o json --output-fields=MESSAGE_ID,JOB_ID \
      MESSAGE_ID=$MID_RESULT MESSAGE_ID=$MID_HOOK_EXIT MESSAGE_ID=$MID_HOOK_LINE > "$T/burst-$tag.json"
  read -r DELIVERED PRODUCED RESULTS_SEEN SPAN < <(python3 - "$T/ids-$tag" "$T/burst-$tag.json" "$MID_RESULT" "$MID_HOOK_EXIT" "$MID_HOOK_LINE" <<'EOF'
import collections, json, sys
idfile, jfile, mres, mexit, mline = sys.argv[1:]
jobs = {}
for l in open(idfile):
    jid, hook = l.split()
    jobs[jid] = hook == "1"
count = collections.Counter()
first = last = None
for l in open(jfile):
    e = json.loads(l)
    jid = e.get("JOB_ID")
    if jid not in jobs:
        continue
    count[(e["MESSAGE_ID"], jid)] += 1
    if e["MESSAGE_ID"] == mres:
        ts = int(e["__REALTIME_TIMESTAMP"])
        first = ts if first is None else min(first, ts)
        last = ts if last is None else max(last, ts)
results = sum(1 for j in jobs if count[(mres, j)] >= 1)
dups = [j for j in jobs if count[(mres, j)] > 1]
if dups:
    sys.exit("%d jobs have more than one result entry, e.g. %s" % (len(dups), dups[0]))
hooks = [j for j in jobs if jobs[j]]
produced = len(jobs) + len(hooks) * (1 + 200)
delivered = results + sum(count[(mexit, j)] + count[(mline, j)] for j in hooks)
span = (last - first) / 1e6 if first is not None else 0
print(delivered, produced, results, "%.1f" % span)
EOF
  ) || fail "counting the burst entries"
  note "$tag: results in the journal: $RESULTS_SEEN/$BURST_JOBS, arriving within ${SPAN}s; entries $DELIVERED/$PRODUCED"
}

burst shipped
[ "$RESULTS_SEEN" -eq "$BURST_JOBS" ] || fail "only $RESULTS_SEEN of $BURST_JOBS results are in the journal"
[ "$DELIVERED" -eq "$PRODUCED" ] || fail "only $DELIVERED of $PRODUCED entries are in the journal"
[ "$PRODUCED" -ge $((2 * BURST_JOBS)) ] || fail "the burst made only $PRODUCED entries"
phase "burst, shipped unit: $RESULTS_SEEN results, $DELIVERED entries, none dropped"

# The same with journald's default per-unit limit (a drop-in): entries are lost.
printf '[Service]\nLogRateLimitIntervalSec=30s\nLogRateLimitBurst=10000\n' \
  > "$R/etc/systemd/system/jobwatchd.service.d/70-default-ratelimit.conf"
X systemctl daemon-reload
burst default-limit
[ "$DELIVERED" -lt "$PRODUCED" ] || fail "with the default rate limit nothing was dropped ($DELIVERED/$PRODUCED): the burst does not prove the setting"
rm "$R/etc/systemd/system/jobwatchd.service.d/70-default-ratelimit.conf"
X systemctl daemon-reload
phase "burst, default rate limit: $((PRODUCED - DELIVERED)) entries dropped ($((BURST_JOBS - RESULTS_SEEN)) results)"

X systemctl stop jobwatchd
[ "$(show Result)" = success ] || fail "final stop result $(show Result)"
"$SD" stop "$NAME"
BOOTED=
phase "poweroff and clean-up"
printf '  %-58s %6.1fs\n' TOTAL "$(elapsed "$T0")"
echo PASS
