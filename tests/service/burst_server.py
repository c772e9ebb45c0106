#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""burst_server.py -- a minimal, fast stand-in for Dify's job status endpoint.

tests/mock/mock_dify.py models Dify faithfully but spends about 1-2 ms per
request; the journald burst test polls 20,000 jobs at once, so it uses this
server: every job is "waiting" until POST /_flip, then every job is
"completed". HTTP/1.1 with keep-alive, GET only, one asyncio protocol, answers
precomputed. Python 3.11 standard library.

  GET  {prefix}/apps/annotation-reply/{enable|disable}/status/{uuid}
       Authorization: Bearer KEY  -> 200 {"job_id", "job_status", "error_msg"}
       anything else              -> 401 / 404 like Dify
  POST /_flip                     -> from now on every job is completed
  POST /_reset                    -> every job is waiting again, counters are 0
  GET  /_stats                    -> {"requests": N, "status": N, "completed": N, "flipped": bool}

Usage: burst_server.py --port-file FILE --key KEY [--prefix /v1]
"""

import argparse
import asyncio
import json
import os
import re
import signal
import sys

STATUS_RE = re.compile(rb"^/apps/annotation-reply/(enable|disable)/status/"
                       rb"([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$")


def response(code, reason, body):
    return (b"HTTP/1.1 %d %s\r\nServer: nginx\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\nConnection: keep-alive\r\n\r\n%s"
            % (code, reason, len(body), body))


class State:
    def __init__(self, key, prefix):
        self.auth = b"bearer " + key.encode()
        self.prefix = prefix.encode()
        self.flipped = False
        self.requests = 0
        self.status = 0
        self.completed = 0
        self.unauthorized = response(401, b"UNAUTHORIZED", json.dumps(
            {"code": "unauthorized", "message": "Access token is invalid", "status": 401}).encode() + b"\n")
        self.not_found = response(404, b"NOT FOUND", json.dumps(
            {"code": "not_found", "message": "The requested URL was not found on the server.",
             "status": 404}).encode() + b"\n")

    def answer(self, method, target, headers):
        self.requests += 1
        if method == b"POST" and target == b"/_flip":
            self.flipped = True
            return response(200, b"OK", b'{"flipped":true}\n')
        if method == b"POST" and target == b"/_reset":
            self.flipped = False
            self.requests = self.status = self.completed = 0
            return response(200, b"OK", b'{"reset":true}\n')
        if method == b"GET" and target == b"/_stats":
            return response(200, b"OK", json.dumps(
                {"requests": self.requests, "status": self.status, "completed": self.completed,
                 "flipped": self.flipped}).encode() + b"\n")
        if method != b"GET" or not target.startswith(self.prefix):
            return self.not_found
        m = STATUS_RE.match(target[len(self.prefix):])
        if not m:
            return self.not_found
        if headers.get(b"authorization", b"").lower() != self.auth.lower():
            return self.unauthorized
        self.status += 1
        st = b"completed" if self.flipped else b"waiting"
        if self.flipped:
            self.completed += 1
        body = b'{"job_id": "%s", "job_status": "%s", "error_msg": ""}\n' % (m.group(2).lower(), st)
        return response(200, b"OK", body)


class Conn(asyncio.Protocol):
    def __init__(self, state):
        self.state = state
        self.buf = b""
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.buf += data
        out = []
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                break
            head, self.buf = self.buf[:end], self.buf[end + 4:]
            lines = head.split(b"\r\n")
            parts = lines[0].split(b" ")
            if len(parts) != 3:
                self.transport.close()
                return
            headers = {}
            for ln in lines[1:]:
                k, _, v = ln.partition(b":")
                headers[k.strip().lower()] = v.strip()
            n = int(headers.get(b"content-length", b"0") or b"0")
            if len(self.buf) < n:      # a body: wait for it (only /_flip has one, if any)
                self.buf = head + b"\r\n\r\n" + self.buf
                break
            self.buf = self.buf[n:]
            out.append(self.state.answer(parts[0], parts[1], headers))
        if out:
            self.transport.write(b"".join(out))
        if len(self.buf) > 65536:
            self.transport.close()


async def amain(args):
    state = State(args.key, args.prefix)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Conn(state), args.host, args.port, backlog=4096,
                                      reuse_address=True)
    port = server.sockets[0].getsockname()[1]
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.rename(tmp, args.port_file)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--prefix", default="/v1")
    return asyncio.run(amain(ap.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
