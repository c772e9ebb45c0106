#!/bin/bash
# SPDX-License-Identifier: MIT
#
# sysd-ns.sh -- boot a throw-away systemd as PID 1 of new PID+mount+cgroup+UTS+IPC
# namespaces, on an overlay of the host "/" whose writes go to a tmpfs. Nothing
# outside $SYSD_NS_DIR is written on the host; the host's network namespace is
# shared (so a server on the host's 127.0.0.1 is reachable from inside).
# Adapted from /work/shared/recipes/systemd-in-tests.md (verified on Debian 12,
# systemd 252).
#
#   SYSD_NS_DIR=DIR sysd-ns.sh probe         -> exit 0 if this machine can do it,
#                                               else print why and exit 77
#   SYSD_NS_DIR=DIR sysd-ns.sh boot  NAME    -> boot, wait for startup, print host PID of PID 1
#   SYSD_NS_DIR=DIR sysd-ns.sh exec  NAME CMD...  -> run CMD inside (systemctl, journalctl...)
#   SYSD_NS_DIR=DIR sysd-ns.sh root  NAME    -> a host path to the container's / (to copy files in)
#   SYSD_NS_DIR=DIR sysd-ns.sh stop  NAME    -> poweroff, SIGKILL fallback, remove cgroup + dirs
#
# Needs: root, util-linux (unshare, nsenter, pivot_root, setpriv), overlayfs, cgroup2,
# systemd (/lib/systemd/systemd).
set -euo pipefail
EXP=${SYSD_NS_DIR:?set SYSD_NS_DIR to a scratch directory}
cmd=${1:?usage: sysd-ns.sh probe|boot|exec|root|stop NAME}
NAME=${2:-}
D=$EXP/ns/$NAME
SELF=$(readlink -f "$0")

# cgroup2 mount on the host: pure v2 (/sys/fs/cgroup) or hybrid (/sys/fs/cgroup/unified)
cg2root() {
  if [ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ]; then echo /sys/fs/cgroup
  elif [ "$(stat -fc %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ]; then echo /sys/fs/cgroup/unified
  else return 1; fi
}
pid1() { cat "$D/pid1"; }
inside() { nsenter -t "$(pid1)" -m -p -u -i -C -- "$@"; }

case $cmd in
probe)
  skip() { echo "cannot boot systemd in namespaces here: $*"; exit 77; }
  [ "$(id -u)" = 0 ] || skip "not root"
  for p in unshare nsenter pivot_root setpriv mount; do
    command -v "$p" >/dev/null || skip "$p not found"
  done
  [ -x /lib/systemd/systemd ] || skip "/lib/systemd/systemd not found"
  cg2root >/dev/null || skip "no cgroup2 mount on the host"
  grep -qw overlay /proc/filesystems || modprobe -q overlay 2>/dev/null || true
  grep -qw overlay /proc/filesystems || skip "no overlayfs"
  err=$(unshare --pid --fork --mount --propagation private --uts --ipc --cgroup -- true 2>&1) ||
    skip "unshare failed: $err"
  mkdir -p "$EXP"
  t=$(mktemp -d "$EXP/probe.XXXXXX")
  cg=$(cg2root)/sysd-ns-probe-$$
  if ! mkdir "$cg" 2>/dev/null; then rm -rf "$t"; skip "cannot create a cgroup under $(cg2root)"; fi
  rmdir "$cg"
  mkdir "$t/l" "$t/u" "$t/w" "$t/m"
  if ! err=$(unshare --mount --propagation private -- \
      mount -n -t overlay probe -o "lowerdir=$t/l,upperdir=$t/u,workdir=$t/w" "$t/m" 2>&1); then
    rm -rf "$t"; skip "overlay mount failed: $err"
  fi
  rm -rf "$t"
  exit 0
  ;;

boot)
  [ -n "$NAME" ] || { echo "usage: sysd-ns.sh boot NAME" >&2; exit 2; }
  [ ! -e "$D" ] || { echo "$D exists; stop it first" >&2; exit 1; }
  mkdir -p "$D/root" "$D/ovl"
  CG=$(cg2root)/sysd-ns-$NAME
  mkdir "$CG"; echo "$CG" > "$D/cgroup"
  t0=$(date +%s.%N)
  # move the subshell into its own cgroup2 dir, then unshare a cgroup ns rooted there
  ( echo $BASHPID > "$CG/cgroup.procs"
    exec unshare --pid --fork --kill-child --mount --propagation private --uts --ipc --cgroup \
         -- "$SELF" stage2 "$NAME" ) </dev/null >"$D/stage2.log" 2>&1 &
  echo $! > "$D/unshare.pid"
  # inner PID 1 = the child of unshare
  c=
  for _ in $(seq 200); do
    c=$(pgrep -P "$(cat "$D/unshare.pid")" || true)
    [ -n "$c" ] && break; sleep 0.05
  done
  [ -n "$c" ] || { echo "inner PID 1 did not appear; see $D/stage2.log" >&2; cat "$D/stage2.log" >&2; exit 1; }
  echo "$c" > "$D/pid1"
  # unshare itself stays outside the namespace; move it back out of the delegated cgroup so
  # the container's root cgroup holds no foreign process (matters on pure cgroup2 hosts)
  echo "$(cat "$D/unshare.pid")" > "$(cg2root)$(sed -n 's/^0:://p' /proc/$$/cgroup)/cgroup.procs" 2>/dev/null || true
  for _ in $(seq 400); do
    [ -S "/proc/$c/root/run/systemd/private" ] && break
    kill -0 "$c" 2>/dev/null || { echo "inner PID 1 died; see $D/stage2.log" >&2; cat "$D/stage2.log" >&2; exit 1; }
    sleep 0.05
  done
  [ -S "/proc/$c/root/run/systemd/private" ] || { echo "systemd did not come up; see $D/stage2.log" >&2; cat "$D/stage2.log" >&2; exit 1; }
  state=$(inside timeout 60 systemctl is-system-running --wait 2>&1 || true)
  t1=$(date +%s.%N)
  printf 'booted %s: host-pid1=%s state=%s in %.2fs\n' "$NAME" "$c" "$state" "$(awk "BEGIN{print $t1 - $t0}")" >&2
  echo "$c"
  ;;

stage2)   # runs as PID 1 of the new PID namespace, before systemd
  R=$D/root
  # keep libmount's utab out of the host's /run
  export LIBMOUNT_UTAB=$D/utab
  mount -n -t tmpfs -o mode=0755 sysd-ns-ovl "$D/ovl"
  mkdir "$D/ovl/upper" "$D/ovl/work"
  mount -n -t overlay sysd-ns-root -o "lowerdir=/,upperdir=$D/ovl/upper,workdir=$D/ovl/work" "$R"
  # API file systems (what systemd-nspawn would set up)
  mount -n -t proc -o nosuid,nodev,noexec proc "$R/proc"
  for p in sys sysrq-trigger irq bus fs; do
    [ -e "$R/proc/$p" ] || continue
    mount -n --bind "$R/proc/$p" "$R/proc/$p"; mount -n -o remount,bind,ro "$R/proc/$p"
  done
  mount -n -t sysfs -o ro,nosuid,nodev,noexec sysfs "$R/sys"
  mount -n -t cgroup2 -o nosuid,nodev,noexec cgroup2 "$R/sys/fs/cgroup"
  mount -n -t tmpfs -o mode=0755,nosuid,size=4m sysd-ns-dev "$R/dev"
  for n in null zero full random urandom tty; do touch "$R/dev/$n"; mount -n --bind "/dev/$n" "$R/dev/$n"; done
  mkdir "$R/dev/pts" "$R/dev/shm"
  mount -n -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts "$R/dev/pts"
  ln -s pts/ptmx "$R/dev/ptmx"
  mount -n -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$R/dev/shm"
  ln -s /proc/self/fd "$R/dev/fd"
  for i in 0:stdin 1:stdout 2:stderr; do ln -s "/proc/self/fd/${i%%:*}" "$R/dev/${i#*:}"; done
  touch "$R/dev/console"; mount -n --bind /dev/null "$R/dev/console"
  mount -n -t tmpfs -o mode=0755,nosuid,nodev sysd-ns-run "$R/run"
  mount -n -t tmpfs -o mode=1777,nosuid,nodev sysd-ns-tmp "$R/tmp"
  # The inner journald must never open the host's journal files (same machine id,
  # and a copy-up of a big file into the tmpfs): give it an empty directory.
  if [ -d "$R/var/log/journal" ]; then
    mount -n -t tmpfs -o mode=2755,nosuid,nodev sysd-ns-journal "$R/var/log/journal"
  fi
  # minimal boot target: sysinit.target only (no basic.target => no timers/sockets of the host)
  cat > "$R/etc/systemd/system/sysd-ns.target" <<'EOF'
[Unit]
Description=sysd-ns minimal boot target
Requires=sysinit.target
After=sysinit.target
AllowIsolate=yes
EOF
  # belt and braces: never run these here even if something pulls them in
  for u in fstrim.timer fstrim.service e2scrub_all.timer e2scrub_all.service e2scrub_reap.service \
           apt-daily.timer apt-daily-upgrade.timer man-db.timer dpkg-db-backup.timer \
           getty@tty1.service postgresql.service nginx.service systemd-timesyncd.service \
           systemd-networkd-wait-online.service NetworkManager-wait-online.service; do
    ln -sf /dev/null "$R/etc/systemd/system/$u"
  done
  cd "$R"; mkdir -p .oldroot; pivot_root . .oldroot; umount -n -l /.oldroot; rmdir /.oldroot
  # systemd only makes / shared itself when NOT in a container; it needs shared propagation for
  # LoadCredential=/PrivateTmp= etc. (this is a new peer group, nothing propagates to the host)
  mount -n --make-rshared /
  exec setpriv --bounding-set -sys_module,-sys_time,-sys_rawio,-wake_alarm \
       env -i container=sysd-ns TERM=dumb PATH=/usr/sbin:/usr/bin:/sbin:/bin \
       /lib/systemd/systemd --unit=sysd-ns.target --show-status=0 --log-level=info
  ;;

exec) shift 2; inside "$@" ;;
root) echo "/proc/$(pid1)/root" ;;

stop)
  [ -d "$D" ] || exit 0
  if [ -f "$D/pid1" ] && kill -0 "$(pid1)" 2>/dev/null; then
    p=$(pid1)
    kill -RTMIN+4 "$p" 2>/dev/null || true            # = systemctl poweroff, asynchronously
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$p" 2>/dev/null; then echo "poweroff timed out, SIGKILL $p" >&2; kill -KILL "$p"; fi
  fi
  if [ -f "$D/unshare.pid" ]; then   # unshare exits when its child (PID 1) exits
    u=$(cat "$D/unshare.pid")
    for _ in $(seq 50); do [ -d /proc/$u ] && [ "$(awk '{print $3}' /proc/$u/stat 2>/dev/null)" != Z ] || break; sleep 0.1; done
    if [ -d /proc/$u ] && [ "$(awk '{print $3}' /proc/$u/stat 2>/dev/null)" != Z ]; then kill "$u" 2>/dev/null || true; fi
  fi
  if [ -f "$D/cgroup" ]; then
    CG=$(cat "$D/cgroup")
    # remove leftover (empty) child cgroups depth-first, then our own; a not-yet-reaped
    # zombie keeps it busy for a moment, so retry
    for _ in $(seq 50); do
      [ -d "$CG" ] || break
      find "$CG" -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null || true
      rmdir "$CG" 2>/dev/null && break; sleep 0.1
    done
    if [ -d "$CG" ]; then echo "warning: could not remove $CG" >&2; fi
  fi
  rm -rf "$D"
  ;;
*) echo "unknown command $cmd" >&2; exit 2 ;;
esac
