"""A minimal OTLP/gRPC receiver on Python's h2 package (the pure-Python
HTTP/2 state machine; no hyper, no h2 crate, no tonic, no gRPC library):
an independent peer for tracewire's HTTP/2 and gRPC framing.

It answers every unary call on /opentelemetry.proto.collector.trace.v1.
TraceService/Export with an empty ExportTraceServiceResponse and
grpc-status 0, after reading the 5-byte-prefixed message; a compressed
message (flag 1) is inflated by its grpc-encoding: gzip with Python's zlib,
zstd with the `zstd` command (the reference implementation). It counts the
spans by walking the protobuf framing (shared with otlp_http_receiver.py).

    python3 otlp_grpc_receiver.py

prints `port N` first, serves until stdin closes, then prints its counters
as one JSON line.
"""

import gzip
import json
import os
import socket
import subprocess
import sys
import threading

import h2.config
import h2.connection
import h2.events
import h2.exceptions

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from otlp_http_receiver import count_spans  # noqa: E402

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
STATS = {"calls": 0, "spans": 0, "encodings": [], "bad": 0, "paths": []}
LOCK = threading.Lock()


def answer(conn, stream, status, message=""):
    conn.send_headers(stream, [(":status", "200"), ("content-type", "application/grpc")])
    if status == 0:
        conn.send_data(stream, b"\x00\x00\x00\x00\x00")
    trailers = [("grpc-status", str(status))]
    if message:
        trailers.append(("grpc-message", message))
    conn.send_headers(stream, trailers, end_stream=True)


def handle(conn, stream, headers, body):
    path = headers.get(":path", "")
    encoding = headers.get("grpc-encoding", "identity")
    with LOCK:
        if path not in STATS["paths"]:
            STATS["paths"].append(path)
    if path != EXPORT or len(body) < 5:
        answer(conn, stream, 12, "unimplemented")
        return
    flag, length = body[0], int.from_bytes(body[1:5], "big")
    msg = body[5 : 5 + length]
    try:
        if len(msg) != length:
            raise ValueError("short message")
        if flag == 1:
            if encoding == "gzip":
                msg = gzip.decompress(msg)
            elif encoding == "zstd":
                msg = subprocess.run(
                    ["zstd", "-d", "-c", "-q"], input=msg, capture_output=True, check=True
                ).stdout
            else:
                raise ValueError("unknown grpc-encoding " + encoding)
        spans = count_spans(msg)
    except (ValueError, OSError, subprocess.CalledProcessError) as e:
        with LOCK:
            STATS["bad"] += 1
        answer(conn, stream, 3, str(e))
        return
    with LOCK:
        STATS["calls"] += 1
        STATS["spans"] += spans
        shown = encoding if flag == 1 else "identity"
        if shown not in STATS["encodings"]:
            STATS["encodings"].append(shown)
    answer(conn, stream, 0)


def serve(sock):
    conn = h2.connection.H2Connection(
        config=h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
    )
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    headers, bodies = {}, {}
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.RequestReceived):
                    headers[ev.stream_id] = dict(ev.headers)
                    bodies[ev.stream_id] = bytearray()
                elif isinstance(ev, h2.events.DataReceived):
                    bodies.setdefault(ev.stream_id, bytearray()).extend(ev.data)
                    conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.StreamEnded):
                    handle(conn, ev.stream_id, headers.pop(ev.stream_id, {}), bytes(bodies.pop(ev.stream_id, b"")))
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    return
            out = conn.data_to_send()
            if out:
                sock.sendall(out)
    except (OSError, h2.exceptions.ProtocolError):
        return
    finally:
        sock.close()


def main():
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)

    def accept():
        while True:
            try:
                s, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(s,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    print("port %d" % listener.getsockname()[1], flush=True)
    sys.stdin.read()
    with LOCK:
        print(json.dumps(STATS), flush=True)


if __name__ == "__main__":
    main()
