#!/bin/sh
# SPDX-License-Identifier: MIT
# journald.sh -- make a systemd-journald reachable for the integration tests, and only undo
# what this script did itself.
#
#   journald.sh start    if /run/systemd/journal/socket accepts datagrams: print
#                        "already running" and do nothing; otherwise (as root) start
#                        /lib/systemd/systemd-journald in the background, record its PID,
#                        wait until the socket works, print "started PID"
#   journald.sh stop     stop the journald recorded by "start" (only if that PID is still a
#                        systemd-journald), remove the drop-in it wrote; never touches a
#                        journald it did not start
#   journald.sh status   print whether a journald is reachable and whether it is ours
#
# Exit status: 0 on success, 1 on failure (a message says why).
# Environment (for tests of this script; the defaults are what CI uses):
#   JOURNALD_BIN      (/lib/systemd/systemd-journald)
#   JOURNALD_SOCKET   (/run/systemd/journal/socket)
#   JOURNALD_PIDFILE  (/run/jobwatch-test-journald.pid)
#   JOURNALD_DROPIN   (/run/systemd/journald.conf.d/90-jobwatch-tests.conf)
#   JOURNALD_WAIT     seconds to wait for the socket (10)
set -eu

BIN=${JOURNALD_BIN:-/lib/systemd/systemd-journald}
SOCK=${JOURNALD_SOCKET:-/run/systemd/journal/socket}
PIDFILE=${JOURNALD_PIDFILE:-/run/jobwatch-test-journald.pid}
DROPIN=${JOURNALD_DROPIN:-/run/systemd/journald.conf.d/90-jobwatch-tests.conf}
WAIT=${JOURNALD_WAIT:-10}
LOG=${PIDFILE%.pid}.log
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

say() { printf 'journald.sh: %s\n' "$*"; }
die() { printf 'journald.sh: %s\n' "$*" >&2; exit 1; }

# A datagram socket with a listener accepts connect(); a stale socket file refuses it.
# connect() alone writes nothing into the journal.
reachable() {
    "$PY" - "$SOCK" <<'EOF' 2>/dev/null
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.connect(sys.argv[1])
EOF
}

# Is PID a running systemd-journald?  (comm is cut to 15 characters: "systemd-journal")
is_journald() {
    pid=$1
    case $pid in ''|*[!0-9]*) return 1 ;; esac
    [ -r "/proc/$pid/comm" ] || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "systemd-journal" ] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'systemd-journald' || return 1
}

recorded_pid() {
    [ -f "$PIDFILE" ] || return 1
    sed -n 1p "$PIDFILE"
}

do_start() {
    if reachable; then
        if pid=$(recorded_pid) && is_journald "$pid"; then
            say "already running (PID $pid, started by this script)"
        else
            say "already running"
        fi
        return 0
    fi
    [ "$(id -u)" = 0 ] || die "no journald reachable at $SOCK, and starting one needs root"
    [ -x "$BIN" ] || die "no journald reachable at $SOCK, and $BIN is not installed"
    if pid=$(recorded_pid); then
        if is_journald "$pid"; then
            # Ours, but not answering yet: give it the usual time below.
            :
        else
            rm -f "$PIDFILE"
            pid=
        fi
    else
        pid=
    fi
    if [ -z "$pid" ]; then
        mkdir -p "$(dirname "$SOCK")" "$(dirname "$DROPIN")"
        # Burst tests log many entries at once: no rate limit for our own journald.
        dropin_note=
        if [ ! -e "$DROPIN" ]; then
            printf '# written by jobwatch tests/integration/journald.sh; removed by "journald.sh stop"\n[Journal]\nRateLimitBurst=0\nRateLimitIntervalSec=0\n' >"$DROPIN"
            dropin_note=dropin
        fi
        # setsid: not in the caller's session or process group, so it outlives the caller.
        setsid "$BIN" </dev/null >>"$LOG" 2>&1 &
        pid=$!
        # Line 1: PID; line 2: "dropin" when this script wrote the drop-in.
        printf '%s\n%s\n' "$pid" "$dropin_note" >"$PIDFILE"
    fi
    n=0
    while ! reachable; do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 20 "$LOG" >&2 2>/dev/null || true
            cleanup_files
            die "$BIN (PID $pid) exited before its socket worked"
        fi
        n=$((n + 1))
        [ "$n" -le $((WAIT * 10)) ] || die "$BIN (PID $pid) started but $SOCK does not answer after ${WAIT}s"
        sleep 0.1
    done
    say "started $pid"
}

cleanup_files() {
    if [ -f "$PIDFILE" ] && [ "$(sed -n 2p "$PIDFILE")" = dropin ]; then
        rm -f "$DROPIN"
    fi
    rm -f "$PIDFILE"
}

do_stop() {
    if ! pid=$(recorded_pid); then
        say "nothing to stop (no journald was started by this script)"
        return 0
    fi
    if ! is_journald "$pid"; then
        say "recorded PID $pid is not a running systemd-journald; not touching anything"
        cleanup_files
        return 0
    fi
    kill -TERM "$pid"
    n=0
    while kill -0 "$pid" 2>/dev/null; do
        n=$((n + 1))
        if [ "$n" -gt 50 ]; then
            # Still the same process?  Then it gets SIGKILL.
            if is_journald "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
            break
        fi
        sleep 0.1
    done
    cleanup_files
    say "stopped $pid"
}

do_status() {
    if reachable; then r=reachable; else r="not reachable"; fi
    if pid=$(recorded_pid) && is_journald "$pid"; then
        say "journald $r at $SOCK; PID $pid was started by this script"
    else
        say "journald $r at $SOCK; none started by this script"
    fi
    [ "$r" = reachable ]
}

case ${1:-} in
    start) do_start ;;
    stop) do_stop ;;
    status) do_status ;;
    *) die "usage: journald.sh start|stop|status" ;;
esac
