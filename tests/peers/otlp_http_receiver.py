"""A strict OTLP/HTTP receiver on Python's standard library only (no hyper,
no h2, no protobuf package): a peer that shares none of tracewire's stack.

It accepts `POST /v1/traces` in origin-form only (RFC 9112 3.2.1: a client
talking to an origin server sends the path, the authority goes in Host);
an absolute-form request target gets 404, as strict servers answer. Bodies
larger than --max-body bytes get 413. It counts the spans of each request
by walking the protobuf framing (ExportTraceServiceRequest ->
ResourceSpans -> ScopeSpans -> Span), and serves its counters as JSON on
`GET /stats`.

    python3 otlp_http_receiver.py [--max-body N] [--tls CERT KEY]
        [--refuse N STATUS] [--retry-after-date SECONDS] [--huge-response BYTES]

`--refuse N STATUS` answers the first N trace requests with STATUS and a
plain-text body, as the OpenTelemetry Collector's memory limiter answers
429 (with `Retry-After` as an HTTP date SECONDS ahead when
`--retry-after-date` is given). `--huge-response BYTES` answers every
request 200 with a body of BYTES bytes (more than OTLP's 4 MiB limit, for
the client to refuse). The user agents seen are kept in `user_agent`, the
content encodings in `encodings`: gzip is inflated with Python's zlib,
zstd with the `zstd` command (the reference implementation).

prints `port N` on its first line, then serves until stdin closes, and
then prints its counters as one JSON line and exits. With
`--tls` it serves HTTPS (Python's `ssl` module, OpenSSL: again not rustls).
"""

import email.utils
import gzip
import json
import ssl
import subprocess
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

STATS = {
    "requests": 0,
    "spans": 0,
    "absolute_form": 0,
    "too_large": 0,
    "bad": 0,
    "host": [],
    "query": [],
    "user_agent": [],
    "encodings": [],
    "refused": 0,
}
LOCK = threading.Lock()
MAX_BODY = 20 * 1024 * 1024
# --refuse: how many requests are left to refuse, and with what status.
REFUSE = [0, 429]
RETRY_AFTER_DATE = None
HUGE_RESPONSE = None


def varint(buf, i):
    value, shift = 0, 0
    while True:
        if i >= len(buf):
            raise ValueError("truncated varint")
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, i
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def fields(buf):
    """Yields (field number, bytes) for the length-delimited fields of a message."""
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        wire = key & 7
        if wire == 0:
            _, i = varint(buf, i)
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        elif wire == 2:
            n, i = varint(buf, i)
            if i + n > len(buf):
                raise ValueError("truncated field")
            yield key >> 3, buf[i:i + n]
            i += n
        else:
            raise ValueError("bad wire type %d" % wire)


def count_spans(msg):
    n = 0
    for f, rs in fields(msg):
        if f == 1:
            for g, ss in fields(rs):
                if g == 2:
                    n += sum(1 for h, _ in fields(ss) if h == 2)
    return n


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body=b"", ctype="application/x-protobuf"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/stats":
            with LOCK:
                body = json.dumps(STATS).encode()
            self.answer(200, body, "application/json")
        else:
            self.answer(404)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        target = urlsplit(self.path)
        if not self.path.startswith("/") or target.path != "/v1/traces":
            # Absolute-form (or another path): a strict origin server's 404.
            self.rfile.read(length)
            with LOCK:
                if self.path.startswith("http://") or self.path.startswith("https://"):
                    STATS["absolute_form"] += 1
            self.answer(404, b"not found: " + self.path.encode("utf-8", "replace"), "text/plain")
            return
        if length > MAX_BODY:
            self.rfile.read(length)
            with LOCK:
                STATS["too_large"] += 1
            self.answer(413, b"body larger than the limit", "text/plain")
            return
        body = self.rfile.read(length)
        with LOCK:
            agent = self.headers.get("User-Agent", "")
            if agent not in STATS["user_agent"]:
                STATS["user_agent"].append(agent)
            refuse = REFUSE[0] > 0
            if refuse:
                REFUSE[0] -= 1
                STATS["refused"] += 1
        if refuse:
            status = REFUSE[1]
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            text = HTTPStatus(status).phrase.encode()
            if RETRY_AFTER_DATE is not None:
                self.send_header(
                    "Retry-After",
                    email.utils.formatdate(time.time() + RETRY_AFTER_DATE, usegmt=True),
                )
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)
            return
        if HUGE_RESPONSE is not None:
            with LOCK:
                STATS["requests"] += 1
            self.answer(200, b"\0" * HUGE_RESPONSE)
            return
        try:
            encoding = self.headers.get("Content-Encoding", "identity").lower()
            with LOCK:
                if encoding not in STATS["encodings"]:
                    STATS["encodings"].append(encoding)
            if encoding == "gzip":
                body = gzip.decompress(body)
            elif encoding == "zstd":
                # The zstd reference implementation's own command (C, not
                # the Rust bindings tracewire uses).
                body = subprocess.run(
                    ["zstd", "-d", "-c", "-q"], input=body, capture_output=True, check=True
                ).stdout
            spans = count_spans(body)
        except (ValueError, OSError, subprocess.CalledProcessError) as e:
            with LOCK:
                STATS["bad"] += 1
            self.answer(400, str(e).encode(), "text/plain")
            return
        with LOCK:
            STATS["requests"] += 1
            STATS["spans"] += spans
            host = self.headers.get("Host", "")
            if host not in STATS["host"]:
                STATS["host"].append(host)
            if target.query not in STATS["query"]:
                STATS["query"].append(target.query)
        self.answer(200)


def main():
    global MAX_BODY, RETRY_AFTER_DATE, HUGE_RESPONSE
    args = sys.argv[1:]
    if "--max-body" in args:
        MAX_BODY = int(args[args.index("--max-body") + 1])
    if "--refuse" in args:
        i = args.index("--refuse")
        REFUSE[0], REFUSE[1] = int(args[i + 1]), int(args[i + 2])
    if "--retry-after-date" in args:
        RETRY_AFTER_DATE = int(args[args.index("--retry-after-date") + 1])
    if "--huge-response" in args:
        HUGE_RESPONSE = int(args[args.index("--huge-response") + 1])
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if "--tls" in args:
        i = args.index("--tls")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args[i + 1], args[i + 2])
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print("port %d" % server.server_address[1], flush=True)
    # Serve until the test closes our stdin (or dies).
    sys.stdin.read()
    server.shutdown()
    with LOCK:
        print(json.dumps(STATS), flush=True)


if __name__ == "__main__":
    main()
