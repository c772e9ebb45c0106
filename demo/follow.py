#!/usr/bin/python3
"""follow.py PID RESULTS HOOKS: print jobwatchd's journal entries as they
arrive (from `journalctl -f -o json _PID=PID`), until RESULTS result entries
and HOOKS hook runs were seen; then print them again as a table. Used by
demo/run."""
import json
import subprocess
import sys

RESULT = "a39a5dfed5e2428daa11a29b4bba0de2"
HOOK_EXIT = "1caff9731d274b33a83ebcc182c7cc51"
HOOK_LINE = "11a9ad878bc143e48d409d7019067f13"
pid, want_results, want_hooks = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
journal = subprocess.Popen(["journalctl", "-f", "-n", "all", "-o", "json", f"_PID={pid}"],
                           stdout=subprocess.PIPE, text=True)
results = []
seen = set()
hooks = set()
colors = sys.stdout.isatty()


def paint(code, text):
    return f"\033[{code}m{text}\033[0m" if colors else text


for line in journal.stdout:
    try:
        e = json.loads(line)
    except ValueError:
        continue
    mid = e.get("MESSAGE_ID")
    msg = e.get("MESSAGE", "")
    if isinstance(msg, list):  # binary-safe field
        msg = bytes(msg).decode("utf-8", "replace")
    if mid == RESULT:
        prio = int(e.get("PRIORITY", 6))
        code = "32" if prio >= 6 else "31" if prio <= 3 else "33" if prio == 4 else "36"
        print(paint(code, f"RESULT  {e.get('JOB_STATUS', '?'):9} {msg}"), flush=True)
        if e.get("JOB_ID") not in seen:
            results.append(e)
        seen.add(e.get("JOB_ID"))
    elif mid in (HOOK_EXIT, HOOK_LINE):
        print(paint("2", f"  hook  {msg}"), flush=True)
        if mid == HOOK_EXIT:
            hooks.add(e.get("JOB_ID"))
    elif int(e.get("PRIORITY", 6)) <= 5:
        print(paint("2", f"  log   {msg}"), flush=True)
    if len(seen) >= want_results and len(hooks) >= want_hooks:
        break

journal.terminate()
journal.wait()
print()
print(f"the results, from the journal (journalctl MESSAGE_ID={RESULT} _PID={pid}):")
print(f"  {'JOB_KIND':17}  {'JOB_ID':36}  {'JOB_STATUS':10} {'REMOTE':10} {'POLLS':>5} {'SECONDS':>7}  JOB_ERROR")
for e in results:
    secs = int(e.get("JOB_DURATION_USEC", 0)) / 1e6
    docs = f"{e['JOB_DOCUMENTS']} documents, {e.get('JOB_DOCUMENTS_FAILED', '0')} failed; " if "JOB_DOCUMENTS" in e else ""
    print(f"  {e.get('JOB_KIND', ''):17}  {e.get('JOB_ID', ''):36}  {e.get('JOB_STATUS', ''):10} "
          f"{e.get('JOB_REMOTE_STATUS', ''):10} {e.get('JOB_POLLS', ''):>5} {secs:7.1f}  {docs}{e.get('JOB_ERROR', '')}")
sys.exit(0 if len(seen) >= want_results and len(hooks) >= want_hooks else 1)
