#!/bin/bash
# SPDX-License-Identifier: MIT
#
# test-deb.sh -- jobwatch's Debian package, the way an administrator meets it.
# tests/run-all runs the three steps in order, each counted as one result:
#
#   test-deb.sh build OUT    "meson dist" makes the release tarball of HEAD (in
#                            OUT/dist-build), which is unpacked in OUT/src and
#                            built with its own tools/build-deb (no apt-get: the
#                            dependencies come from tools/install-deps), with
#                            DEB_BUILD_OPTIONS=nocheck: the .deb is built once,
#                            from the tarball, into OUT, and reused below.
#   test-deb.sh lintian OUT  lintian --fail-on error,warning on the .deb and the
#                            .changes (overrides: debian/jobwatch.lintian-overrides)
#   test-deb.sh cycle OUT    under a real systemd (252 on Debian 12, 257 on 13)
#                            booted in throw-away namespaces (tests/service/sysd-ns.sh):
#       install   apt-get install ./jobwatch_V_ARCH.deb: files in place,
#                 /etc/jobwatch/jobwatch.conf the only conffile, no api-key, the
#                 unit disabled and not started (apt says so), the catalog compiled
#                 by systemd's dpkg trigger; jobwatchd --version and jobwatchctl
#                 --version print the package's upstream version
#       run       key + endpoint (a mock Dify) configured as README.Debian says,
#                 "systemctl enable --now jobwatchd"; a job's result, with its
#                 catalog text, in "journalctl -u jobwatchd -x"
#       upgrade   a copy of the .deb with only its version raised (V-1 -> V-2:
#                 dpkg-deb -R, control Version:, dpkg-deb -b; no second build) is
#                 installed while a job is in flight: the daemon is restarted
#                 (new MainPID), the operator's edit of the conffile is kept, the
#                 job finishes once: one result entry, one hook run; the job
#                 that had finished before is not reported again
#       remove    apt-get remove: the unit is stopped, the daemon gone; the
#                 configuration (conffile, key, job files, drop-in) and the state
#                 directory are kept
#       purge     apt-get purge: the conffile, the state directory
#                 (/var/lib/private/jobwatch, /var/lib/jobwatch) and the catalog
#                 entries are gone; the operator's own files in /etc/jobwatch and
#                 /var/lib/private are not
#
# Exit: 0 pass, 1 fail, 77 skip (cycle only: this machine cannot boot systemd
# in namespaces; the reason is printed). Needs root.
set -euo pipefail

step=${1:?usage: test-deb.sh build|lintian|cycle OUTDIR}
OUT=$(realpath -m "${2:?usage: test-deb.sh build|lintian|cycle OUTDIR}")
SRC=$(readlink -f "$(dirname "$0")/../..")

now() { date +%s.%N; }
T0=$(now)
LAP=$T0
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
phase() {
	local t
	t=$(now)
	printf '  %-62s %6.1fs\n' "$1" "$(awk -v a="$LAP" -v b="$t" 'BEGIN { print b - a }')"
	LAP=$t
}
note() { printf '      %s\n' "$*"; }

debs() { # the package's files in OUT: sets DEB CHANGES VERSION
	DEB=$(find "$OUT" -maxdepth 1 -name 'jobwatch_*.deb' | sort | head -n 1)
	CHANGES=$(find "$OUT" -maxdepth 1 -name 'jobwatch_*.changes' | sort | head -n 1)
	[[ -n $DEB && -n $CHANGES ]] || {
		echo "FAIL: no jobwatch_*.deb and .changes in $OUT (test-deb.sh build first)"
		exit 1
	}
	VERSION=$(dpkg-deb -f "$DEB" Version)
}

case $step in
build)
	rm -rf "$OUT"
	mkdir -p "$OUT"
	cd "$SRC"
	if [[ -n $(git status --porcelain --untracked-files=no 2>/dev/null) ]]; then
		note "the work tree has uncommitted changes: meson dist packs HEAD, without them"
	fi
	meson setup "$OUT/dist-build" -Dtests=false >"$OUT/dist.log" 2>&1 &&
		meson dist -C "$OUT/dist-build" --no-tests --formats xztar --allow-dirty >>"$OUT/dist.log" 2>&1 || {
		cat "$OUT/dist.log"
		echo "FAIL: meson dist"
		exit 1
	}
	tarball=$(find "$OUT/dist-build/meson-dist" -name 'jobwatch-*.tar.xz' | head -n 1)
	phase "meson dist: ${tarball##*/}"
	mkdir "$OUT/src"
	tar -C "$OUT/src" -xf "$tarball"
	tree=$(find "$OUT/src" -mindepth 1 -maxdepth 1 -type d)
	DEB_BUILD_OPTIONS=nocheck "$tree/tools/build-deb" --no-deps --out "$OUT" || {
		echo "FAIL: tools/build-deb in the unpacked ${tarball##*/}"
		exit 1
	}
	debs
	phase "tools/build-deb in the unpacked tarball: ${DEB##*/}"
	v=$(meson introspect --projectinfo "$SRC/meson.build" | python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])')
	[[ ${VERSION%-*} == "$v" ]] || {
		echo "FAIL: package version $VERSION, meson project version $v"
		exit 1
	}
	rm -rf "$OUT/src" "$OUT/dist-build"
	echo PASS
	exit 0
	;;
lintian)
	debs
	if ! command -v lintian >/dev/null; then
		echo "FAIL: lintian not installed (tools/install-deps)"
		exit 1
	fi
	note "lintian $(lintian --version | awk '{ print $2 }') on ${DEB##*/} and ${CHANGES##*/}:"
	# lintian warns when run as root, and needs nothing of root's: it runs as
	# nobody, on a copy in a directory nobody can read (and in it: lintian changes
	# back to the working directory, which may be root's)
	L=$(mktemp -d /tmp/jobwatch-lintian.XXXXXX)
	cp "$OUT"/jobwatch*_"$VERSION"_* "$L/"
	chmod -R a+rX "$L"
	rc=0
	(cd "$L" && setpriv --reuid=nobody --regid=nogroup --clear-groups env HOME=/nonexistent TMPDIR=/tmp \
		lintian --fail-on error,warning --display-info "$L/${DEB##*/}" "$L/${CHANGES##*/}") 2>&1 |
		sed 's/^/      /' || rc=$?
	rm -rf "$L"
	((rc == 0)) || {
		echo "FAIL: lintian (exit $rc)"
		exit 1
	}
	echo PASS
	exit 0
	;;
cycle) ;;
*)
	echo "usage: test-deb.sh build|lintian|cycle OUTDIR" >&2
	exit 2
	;;
esac

# --- cycle ---------------------------------------------------------------------
debs
SD=$SRC/tests/service/sysd-ns.sh
MOCK=$SRC/tests/mock/mock_dify.py
MID_RESULT=a39a5dfed5e2428daa11a29b4bba0de2
MID_HOOK_EXIT=1caff9731d274b33a83ebcc182c7cc51
KEY=app-debtest00000000000000000001

export SYSD_NS_DIR
SYSD_NS_DIR=$(mktemp -d /tmp/jobwatch-deb.XXXXXX)
T=$SYSD_NS_DIR/work
mkdir -p "$T"
NAME=deb$$
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

X() { "$SD" exec "$NAME" "$@"; }
fail() {
	echo "FAIL: $*"
	if [ -n "$BOOTED" ]; then
		echo "--- systemctl status jobwatchd"
		X systemctl status jobwatchd --no-pager -n 0 2>&1 | sed 's/^/    /' || true
		echo "--- journalctl -u jobwatchd (last 30)"
		X journalctl -u jobwatchd --no-pager -n 30 -o short-monotonic 2>&1 | cut -c1-300 | sed 's/^/    /' || true
	fi
	exit 1
}
wait_until() { # wait_until SECONDS WHAT COMMAND...
	local secs=$1 what=$2
	shift 2
	local end
	end=$(awk -v t="$(now)" -v s="$secs" 'BEGIN { printf "%d", t + s }')
	until "$@"; do
		[ "$(date +%s)" -lt "$end" ] || fail "timed out after ${secs}s waiting for $what"
		sleep 0.2
	done
}
show() { X systemctl show -P "$1" jobwatchd; }
jctl() { X journalctl --no-pager -q -u jobwatchd "$@"; }
n_results() { jctl -o cat MESSAGE_ID=$MID_RESULT JOB_ID="$1" | wc -l; }
n_hooks() { jctl -o cat MESSAGE_ID=$MID_HOOK_EXIT JOB_ID="$1" | wc -l; }
has_result() { [ "$(n_results "$1")" -ge 1 ]; }
has_hook() { [ "$(n_hooks "$1")" -ge 1 ]; }
mock_get() { python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())' "$1"; }
mock_post() {
	python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(urllib.request.Request(sys.argv[1], data=sys.argv[2].encode(), headers={"Content-Type": "application/json"}), timeout=10).read().decode())' "$1" "$2"
}
write_job() { # write_job NAME ID: a job file, written the documented way (rename)
	printf '[Job]\nJobID=%s\nAction=enable\n' "$2" >"$R/etc/jobwatch/jobs.d/.$1.tmp"
	mv "$R/etc/jobwatch/jobs.d/.$1.tmp" "$R/etc/jobwatch/jobs.d/$1.job"
}
apt_in() { # apt_in LOG ARGS...: apt-get inside, its output in $T/LOG
	local log=$1
	shift
	X env DEBIAN_FRONTEND=noninteractive apt-get -y -q "$@" >"$T/$log" 2>&1 || {
		cat "$T/$log"
		fail "apt-get $*"
	}
}
status_abbrev() { X dpkg-query -W -f='${db:Status-Abbrev}' jobwatch 2>/dev/null || true; }
catalog_ids() { X journalctl --list-catalog 2>/dev/null | grep -c ' jobwatch: ' || true; }

echo "jobwatch package test: ${DEB##*/} (systemd $(systemctl --version | awk 'NR==1 { print $2 }'))"
"$SD" probe || exit 77

# ---------------------------------------------------------------------------------
# 1. Boot, install.
"$SD" boot "$NAME" >/dev/null 2>"$T/boot.log" || {
	cat "$T/boot.log"
	fail "boot"
}
BOOTED=1
R=$("$SD" root "$NAME")
# the host's / is the overlay's lower layer: hide anything of a jobwatch installed there
[ "$(status_abbrev)" = "" ] || fail "jobwatch is installed on this machine already ($(status_abbrev)); the test needs a system without it"
rm -rf "$R/etc/jobwatch" "$R/etc/systemd/system/jobwatchd.service.d" "$R/var/lib/jobwatch" "$R/var/lib/private/jobwatch"
# a policy-rc.d that forbids starting services (build machines and containers
# have one, e.g. exit 101) would keep the maintainer scripts from doing what
# they do on a real system: the namespace's systemd is a real system
rm -f "$R/usr/sbin/policy-rc.d"
# man-db's trigger rebuilds its index on every install (seconds): not what is tested
rm -f "$R/var/lib/man-db/auto-update"
mkdir -p "$R/var/lib/private" # as on a machine that runs other DynamicUser= services
chmod 0700 "$R/var/lib/private"
touch "$R/var/lib/private/.other-service"
cp "$DEB" "$R/tmp/"
phase "boot systemd in namespaces"

deb_in=/tmp/${DEB##*/}
apt_in install.log install "$deb_in"
[ "$(status_abbrev)" = "ii " ] || fail "after apt-get install: dpkg status '$(status_abbrev)'"
for f in /usr/sbin/jobwatchd /usr/bin/jobwatchctl /usr/lib/systemd/catalog/jobwatch.catalog \
	/etc/jobwatch/jobwatch.conf /usr/share/doc/jobwatch/README.Debian /usr/share/doc/jobwatch/example.job \
	/usr/share/man/man8/jobwatchd.8.gz /usr/share/man/man5/jobwatch.conf.5.gz /usr/share/man/man5/jobwatch.job.5.gz \
	/usr/share/man/man1/jobwatchctl.1.gz /usr/share/bash-completion/completions/jobwatchctl; do
	[ -f "$R$f" ] || fail "the package did not install $f"
done
X systemctl cat jobwatchd.service >/dev/null 2>&1 || fail "systemd does not know jobwatchd.service"
for d in jobs.d jobwatch.conf.d; do [ -d "$R/etc/jobwatch/$d" ] || fail "no /etc/jobwatch/$d"; done
[ ! -e "$R/etc/jobwatch/api-key" ] || fail "the package shipped /etc/jobwatch/api-key"
conffiles=$(X dpkg-query -W -f='${Conffiles}\n' jobwatch | awk 'NF { print $1 }')
[ "$conffiles" = /etc/jobwatch/jobwatch.conf ] || fail "conffiles: '$conffiles'"
[ "$(X systemctl is-enabled jobwatchd 2>&1)" = disabled ] || fail "is-enabled: $(X systemctl is-enabled jobwatchd 2>&1)"
[ "$(show ActiveState)" = inactive ] || fail "started on install: $(show ActiveState)"
grep -q "jobwatchd.service is a disabled or a static unit, not starting it" "$T/install.log" ||
	fail "apt-get install does not say that jobwatchd is not started: $(cat "$T/install.log")"
n=$(catalog_ids)
ids=$(grep -c '^-- [0-9a-f]\{32\}$' "$R/usr/lib/systemd/catalog/jobwatch.catalog")
[ "$n" -eq "$ids" ] && [ "$n" -gt 0 ] || fail "journalctl --list-catalog has $n jobwatch entries after install, the catalog $ids"
upstream=${VERSION%-*}
for p in jobwatchd jobwatchctl; do
	v=$(X "$p" --version)
	[ "$v" = "$p $upstream" ] || fail "$p --version: '$v', the package is $VERSION"
done
phase "apt-get install: disabled, not started, $n catalog entries, version $upstream"

# ---------------------------------------------------------------------------------
# 2. Configure (README.Debian), enable, start; a job to its result.
cat >"$T/scenario.json" <<'EOF'
{"jobs": [
  {"job_id": "da000000-0000-4000-8000-0000000000da", "lifecycle": [["processing", 2], ["completed", null]]},
  {"job_id": "db000000-0000-4000-8000-0000000000db", "lifecycle": [["processing", null]]}
]}
EOF
pf=$T/mock.port
python3 "$MOCK" --port 0 --port-file "$pf" --key "$KEY" --scenario "$T/scenario.json" --quiet >"$T/mock.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 150); do [ -s "$pf" ] && break; sleep 0.1; done
[ -s "$pf" ] || {
	cat "$T/mock.log"
	fail "mock Dify did not start"
}
BASE=http://127.0.0.1:$(cat "$pf")
A=da000000-0000-4000-8000-0000000000da
U=db000000-0000-4000-8000-0000000000db

install -m 0600 /dev/stdin "$R/etc/jobwatch/api-key" <<<"$KEY"
# the operator edits the conffile (BaseURL=) ...
sed -i "s|^BaseURL=.*|BaseURL=$BASE/v1|" "$R/etc/jobwatch/jobwatch.conf"
grep -q "^BaseURL=$BASE/v1\$" "$R/etc/jobwatch/jobwatch.conf" || fail "could not edit BaseURL= in jobwatch.conf"
# ... and adds a drop-in (fast polling, a hook for every job)
cat >"$R/etc/jobwatch/jobwatch.conf.d/10-site.conf" <<'EOF'
[Poll]
InitialInterval=200ms
MaxInterval=1s
[Hook]
Exec=/bin/echo hook ran
EOF
write_job a "$A"
X systemctl enable --now jobwatchd >"$T/enable.log" 2>&1 || {
	cat "$T/enable.log"
	fail "systemctl enable --now jobwatchd"
}
[ "$(show ActiveState)" = active ] || fail "not active after enable --now"
wait_until 60 "the result of job A" has_result "$A"
wait_until 30 "the hook of job A" has_hook "$A"
x=$(X journalctl --no-pager -q -x -u jobwatchd MESSAGE_ID=$MID_RESULT JOB_ID="$A")
grep -q "Subject: Dify annotation-reply job $A (endpoint default) ended: completed" <<<"$x" ||
	fail "journalctl -u jobwatchd -x shows no catalog text for the result: $x"
grep -q "Defined-By: jobwatch" <<<"$x" || fail "journalctl -x: no Defined-By: $x"
phase "configured, enable --now, job A's result with its catalog text"

# ---------------------------------------------------------------------------------
# 3. Upgrade with job U in flight.
write_job u "$U"
polled() { mock_get "$BASE/_mock/requests?job_id=$U&headers=0" | grep -q job_status; }
wait_until 30 "job U polled" polled
VERSION2=${VERSION%-*}-$((${VERSION##*-} + 1))
[ "$VERSION2" != "$VERSION" ] && X dpkg --compare-versions "$VERSION2" gt "$VERSION" || fail "cannot raise version $VERSION"
dpkg-deb -R "$DEB" "$T/v2"
sed -i "s/^Version: .*/Version: $VERSION2/" "$T/v2/DEBIAN/control"
DEB2=$R/tmp/jobwatch_${VERSION2}_$(dpkg-deb -f "$DEB" Architecture).deb
dpkg-deb -b "$T/v2" "$DEB2" >/dev/null
pid1=$(show MainPID)
apt_in upgrade.log install "/tmp/${DEB2##*/}"
[ "$(X dpkg-query -W -f='${Version}' jobwatch)" = "$VERSION2" ] || fail "not upgraded to $VERSION2"
grep -q "Unpacking jobwatch ($VERSION2) over ($VERSION)" "$T/upgrade.log" || fail "not an upgrade: $(cat "$T/upgrade.log")"
pid2=$(show MainPID)
[ "$(show ActiveState)" = active ] || fail "not active after the upgrade"
[ "$pid2" != "$pid1" ] && [ "$pid2" != 0 ] || fail "the daemon was not restarted by the upgrade (MainPID $pid1 -> $pid2)"
X kill -0 "$pid1" 2>/dev/null && fail "the old daemon $pid1 still runs"
grep -q "^BaseURL=$BASE/v1\$" "$R/etc/jobwatch/jobwatch.conf" || fail "the upgrade lost the operator's edit of jobwatch.conf"
has_result "$U" && fail "job U ended before it was completed"
mock_post "$BASE/_mock/set" '{"job_ids": ["'$U'"], "status": "completed"}' >/dev/null
wait_until 60 "the result of job U after the upgrade" has_result "$U"
wait_until 30 "the hook of job U" has_hook "$U"
sleep 2 # anything reported twice would be in by now
[ "$(n_results "$U")" = 1 ] && [ "$(n_hooks "$U")" = 1 ] ||
	fail "job U: $(n_results "$U") result entries, $(n_hooks "$U") hook runs; expected 1 and 1"
[ "$(n_results "$A")" = 1 ] && [ "$(n_hooks "$A")" = 1 ] ||
	fail "job A after the upgrade: $(n_results "$A") result entries, $(n_hooks "$A") hook runs; expected 1 and 1"
phase "upgrade $VERSION -> $VERSION2 with job U in flight: restarted, U reported once"

# ---------------------------------------------------------------------------------
# 4. remove: stopped; configuration and state kept.
apt_in remove.log remove jobwatch
[ "$(status_abbrev)" = "rc " ] || fail "after apt-get remove: dpkg status '$(status_abbrev)'"
[ "$(show ActiveState)" = inactive ] || fail "after remove the unit is $(show ActiveState)"
X kill -0 "$pid2" 2>/dev/null && fail "after remove the daemon $pid2 still runs"
[ ! -e "$R/usr/sbin/jobwatchd" ] || fail "after remove /usr/sbin/jobwatchd is still there"
for f in /etc/jobwatch/jobwatch.conf /etc/jobwatch/api-key /etc/jobwatch/jobs.d/a.job /etc/jobwatch/jobs.d/u.job \
	/etc/jobwatch/jobwatch.conf.d/10-site.conf; do
	[ -f "$R$f" ] || fail "remove deleted $f"
done
grep -q "^BaseURL=$BASE/v1\$" "$R/etc/jobwatch/jobwatch.conf" || fail "remove changed jobwatch.conf"
[ -n "$(ls -A "$R/var/lib/private/jobwatch" 2>/dev/null)" ] || fail "remove deleted the state directory /var/lib/private/jobwatch"
[ "$(catalog_ids)" = 0 ] || fail "after remove journalctl --list-catalog still has $(catalog_ids) jobwatch entries"
phase "apt-get remove: stopped, configuration and state kept"

# ---------------------------------------------------------------------------------
# 5. purge: what the package made is gone, nothing else.
apt_in purge.log purge jobwatch
[ "$(status_abbrev)" = "" ] || fail "after apt-get purge: dpkg status '$(status_abbrev)'"
for f in /etc/jobwatch/jobwatch.conf /var/lib/private/jobwatch /var/lib/jobwatch \
	/lib/systemd/system/jobwatchd.service /usr/lib/systemd/system/jobwatchd.service \
	/etc/systemd/system/multi-user.target.wants/jobwatchd.service; do
	[ ! -e "$R$f" ] && [ ! -L "$R$f" ] || fail "after purge $f is still there"
done
for f in /etc/jobwatch/api-key /etc/jobwatch/jobs.d/a.job /etc/jobwatch/jobs.d/u.job \
	/etc/jobwatch/jobwatch.conf.d/10-site.conf /var/lib/private/.other-service; do
	[ -e "$R$f" ] || fail "purge deleted $f, which the package did not make"
done
phase "apt-get purge: conffile and state gone, the operator's files kept"
printf '  %-62s %6.1fs\n' TOTAL "$(elapsed "$T0")"
echo PASS
