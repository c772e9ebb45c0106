#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""HTTPVersion=2-prior-knowledge (h2c) against a real HTTP/2 server (python3-h2), which
counts the connections it accepts and the requests on them.

What a user sees depends on the libcurl the daemon runs with (curl issue #10634, fixed in
8.0.0):
  libcurl >= 8.0 (Debian 13: 8.14)  the polls share one connection (at most a few), and
                                    no warning is logged;
  libcurl <  8.0 (Debian 12: 7.88)  each poll opens its own connection, and the daemon
                                    warns at start naming the file, line and endpoint.
Both ways, every job gets its result. CI runs this test on both releases (tests/run-all,
tests/debian13/run), so both branches are checked."""

import ctypes
import os
import socket
import sys
import threading
import uuid

import harness as H
import jwcheck as C

try:
    import h2.config
    import h2.connection
    import h2.events
    import h2.exceptions
except ImportError:  # tools/install-deps installs python3-h2, for Debian's python3
    if os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3") and \
            os.access("/usr/bin/python3", os.X_OK):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    h2 = None

POLLS_BEFORE_DONE = 5
WARNING = "cannot reuse HTTP/2 prior-knowledge connections"


def libcurl_version():
    """The runtime libcurl's version as a tuple, from curl_version_info() of libcurl.so.4."""
    lib = ctypes.CDLL("libcurl.so.4")
    lib.curl_version.restype = ctypes.c_char_p
    s = lib.curl_version().decode()  # "libcurl/8.14.1 OpenSSL/..."
    name = s.split()[0]
    v = name.split("/")[1]
    return tuple(int(x) for x in v.split(".")[:3]), name


class H2cServer(H.TcpServer):
    """Dify's job-status endpoint over HTTP/2 cleartext with prior knowledge: every job is
    "waiting" for its first POLLS_BEFORE_DONE polls, then "completed"."""

    def __init__(self, key):
        self.key = key
        self.lock = threading.Lock()
        self.accepts = 0
        self.requests = 0
        self.polls = {}
        self.errors = []
        self.conns = []
        super().__init__(backlog=64)

    def accepted(self, conn):
        with self.lock:
            self.accepts += 1
            self.conns.append(conn)
        threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _answer(self, path, auth):
        # /v1/apps/annotation-reply/ACTION/status/JOB_ID
        parts = path.split("/")
        if auth != "Bearer " + self.key:
            return 401, b'{"code": "unauthorized", "message": "Access token is invalid", "status": 401}'
        if len(parts) != 7 or parts[1:4] != ["v1", "apps", "annotation-reply"] or parts[5] != "status":
            return 404, b'{"code": "not_found", "message": "no such path", "status": 404}'
        job = parts[6]
        with self.lock:
            n = self.polls[job] = self.polls.get(job, 0) + 1
        st = "waiting" if n <= POLLS_BEFORE_DONE else "completed"
        return 200, ('{"job_id": "%s", "job_status": "%s", "error_msg": ""}' % (job, st)).encode()

    def _serve(self, conn):
        c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False,
                                                                 header_encoding="utf-8"))
        try:
            c.initiate_connection()
            conn.sendall(c.data_to_send())
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                for ev in c.receive_data(data):
                    if isinstance(ev, h2.events.RequestReceived):
                        hdr = dict(ev.headers)
                        status, body = self._answer(hdr.get(":path", ""), hdr.get("authorization"))
                        with self.lock:
                            self.requests += 1
                        c.send_headers(ev.stream_id, [(":status", str(status)),
                                                      ("content-type", "application/json"),
                                                      ("content-length", str(len(body)))])
                        c.send_data(ev.stream_id, body, end_stream=True)
                    elif isinstance(ev, h2.events.ConnectionTerminated):
                        break
                out = c.data_to_send()
                if out:
                    conn.sendall(out)
        except (OSError, h2.exceptions.ProtocolError) as e:
            with self.lock:
                self.errors.append(repr(e))
        finally:
            conn.close()

    def counts(self):
        with self.lock:
            return self.accepts, self.requests

    def diagnose(self):
        accepts, requests = self.counts()
        H.note("h2c server: %d connections, %d requests, errors %s", accepts, requests, self.errors)

    def cleanup(self):
        self.close()
        with self.lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def test():
    if h2 is None:
        raise H.Skip("python3-h2 is not installed (tools/install-deps installs it)")
    version, version_text = libcurl_version()
    reuse = version >= (8, 0, 0)
    H.note("runtime %s: expecting %s", version_text,
          "connection reuse, no warning" if reuse else "a connection per request and the warning")

    sb = H.Sandbox()
    srv = H2cServer(H.KEY)
    H._register(srv)
    conf = sb.base_config("http://127.0.0.1:%d/v1" % srv.port, initial="100ms",
                          max_interval="100ms", multiplier=1.0)
    conf["Endpoint"]["HTTPVersion"] = "2-prior-knowledge"
    sb.write_config(conf)
    ids = [str(uuid.uuid4()) for _ in range(4)]
    files = {j: sb.write_job("job%d" % i, j) for i, j in enumerate(ids)}
    d = sb.start_daemon()

    entries = C.wait_results(d, len(ids), timeout=20)
    got = C.by_job(entries)
    for j in ids:
        H.check(j in got, "a result for job %s", j)
        C.check_result(got[j][0], job_id=j, status="completed", job_file=files[j],
                       polls=POLLS_BEFORE_DONE + 1)
    accepts, requests = srv.counts()
    H.note("h2c server: %d requests on %d connections", requests, accepts)
    H.eq(requests, len(ids) * (POLLS_BEFORE_DONE + 1), "status requests the server answered")
    H.check(not srv.errors, "HTTP/2 errors on the server: %s", srv.errors)

    warnings = [e for e in d.journal() if WARNING in e.get("MESSAGE", "")]
    if reuse:
        # One connection carries every poll; a second may open while the first is being set up.
        H.check(accepts <= 2, "%d requests used %d connections; libcurl %s reuses h2c connections",
                requests, accepts, version_text)
        H.eq(len(warnings), 0, "h2c reuse warnings with libcurl %s" % version_text)
    else:
        H.eq(accepts, requests, "connections (one per request with libcurl < 8.0)")
        H.eq(len(warnings), 1, "h2c reuse warnings with libcurl %s" % version_text)
        msg = warnings[0]["MESSAGE"]
        H.check(sb.conf + ":" in msg, "the warning names the configuration file and line: %s", msg)
        H.check("Endpoint 'default'" in msg, "the warning names the endpoint: %s", msg)
    d.stop()


if __name__ == "__main__":
    H.main(test, needs_journal=True)
