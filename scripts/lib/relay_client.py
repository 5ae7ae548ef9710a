#!/usr/bin/env python3
"""A tiny client of a running PrivaClaw relay, for scripts/test-delivery (stdlib only).

  relay_client.py BASE setup NAME            -> prints "TOKEN DEVICE_ID PAIRING_CODE"
                                                (a new owner, project and device)
  relay_client.py BASE device TOKEN DEVICE   -> prints the device's JSON
  relay_client.py BASE wait TOKEN DEVICE FIELD VALUE [SECONDS]
                                             -> waits until device[FIELD] == VALUE
  relay_client.py BASE session TOKEN DEVICE INPUT NEEDLE [SECONDS]
                                             -> opens a session, types INPUT (\\r = Enter),
                                                reads until NEEDLE shows up; prints the output
  relay_client.py BASE tamper-proxy PORTFILE -> serves BASE on a loopback port (written to
                                                PORTFILE), flipping one byte of every
                                                connector binary: a tampered download

BASE is the relay's origin, e.g. http://127.0.0.1:8080. Exits 1 with a message on failure.
"""

import base64
import json
import os
import socket
import sys
import time
import urllib.request
import uuid
from urllib.parse import urlparse


def call(base, method, path, token=None, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            text = r.read().decode()
    except urllib.error.HTTPError as e:
        sys.exit(f"relay_client: {method} {path}: HTTP {e.code}: {e.read().decode()[:300]}")
    return json.loads(text) if text else None


class Ws:
    """A minimal RFC 6455 client: text frames out (masked), text/ping/close in."""

    def __init__(self, url):
        u = urlparse(url)
        self.sock = socket.create_connection((u.hostname, u.port or 80), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET {u.path or '/'} HTTP/1.1\r\nHost: {u.netloc}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                sys.exit("relay_client: websocket handshake: connection closed")
            head += chunk
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            sys.exit(f"relay_client: websocket handshake refused: {head[:200]!r}")

    def _exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise EOFError("websocket closed")
            buf += chunk
        return buf

    def _send(self, opcode, payload):
        mask = os.urandom(4)
        n = len(payload)
        head = bytes([0x80 | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
        else:
            head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def send(self, obj):
        self._send(1, json.dumps(obj).encode())

    def recv(self):
        """The next JSON frame; None once closed."""
        while True:
            b0, b1 = self._exact(2)
            n = b1 & 0x7F
            if n == 126:
                n = int.from_bytes(self._exact(2), "big")
            elif n == 127:
                n = int.from_bytes(self._exact(8), "big")
            payload = self._exact(n)
            op = b0 & 0x0F
            if op == 8:
                return None
            if op == 9:
                self._send(10, payload)
            elif op == 1:
                return json.loads(payload)


def setup(base, name):
    email = f"delivery-{uuid.uuid4().hex[:12]}@example.com"
    user = call(base, "POST", "/auth/v1/signup", body={"email": email, "password": "pass-word-123"})
    token = user["access_token"]
    project = call(base, "POST", "/api/v1/projects", token, {"name": "delivery"})["id"]
    dev = call(base, "POST", f"/api/v1/projects/{project}/devices", token, {"name": name})
    print(token, dev["id"], dev["pairing_code"])


def wait(base, token, device, field, value, seconds=30):
    deadline = time.time() + float(seconds)
    while True:
        d = call(base, "GET", f"/api/v1/devices/{device}", token)
        if str(d.get(field)).lower() == value.lower():
            return
        if time.time() > deadline:
            sys.exit(f"relay_client: device {field} is {d.get(field)!r}, not {value!r}, after {seconds} s")
        time.sleep(0.2)


def session(base, token, device, text, needle, seconds=60):
    sid = call(base, "POST", "/functions/v1/start-session", token, {"device_id": device})["session_id"]
    ws = Ws(base.replace("http://", "ws://", 1) + "/session")
    ws.send({"type": "auth", "data": {"token": token, "session_id": sid, "device_id": device, "cols": 80, "rows": 24}})
    ws.sock.settimeout(float(seconds))
    out = ""
    started = False
    deadline = time.time() + float(seconds)
    try:
        while time.time() < deadline:
            f = ws.recv()
            if f is None:
                break
            kind = f.get("type")
            if kind == "session_started" and not started:
                started = True
                ws.send({"type": "stdin", "data": {"session_id": sid, "data_b64": base64.b64encode(text.encode()).decode()}})
            elif kind == "stdout":
                out += base64.b64decode(f["data"]["data_b64"]).decode("utf-8", "replace")
                if needle in out:
                    ws.send({"type": "session_end", "data": {"session_id": sid, "reason": "test_done"}})
                    print(out)
                    return
            elif kind == "session_end":
                break
            elif kind == "error":
                print(f"relay_client: error frame: {f}", file=sys.stderr)
    except (socket.timeout, EOFError) as e:
        print(f"relay_client: {e}", file=sys.stderr)
    sys.exit(f"relay_client: no {needle!r} in the session output (started: {started}):\n{out!r}")


def tamper_proxy(base, portfile):
    import http.server

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            try:
                with urllib.request.urlopen(base + self.path, timeout=20) as r:
                    status, headers, body = r.status, r.headers, r.read()
            except urllib.error.HTTPError as e:
                status, headers, body = e.code, e.headers, e.read()
            if "download-connector" in self.path and "checksum=1" not in self.path and len(body) > 1000:
                body = body[:500] + bytes([body[500] ^ 0xFF]) + body[501:]
            self.send_response(status)
            for k in ("Content-Type", "Content-Disposition", "ETag", "X-Checksum-Sha256"):
                if headers.get(k):
                    self.send_header(k, headers[k])
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(portfile, "w") as f:
        f.write(str(server.server_address[1]))
    server.serve_forever()


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    base, cmd, args = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3:]
    if cmd == "setup":
        setup(base, *args)
    elif cmd == "device":
        print(json.dumps(call(base, "GET", f"/api/v1/devices/{args[1]}", args[0])))
    elif cmd == "wait":
        wait(base, *args)
    elif cmd == "tamper-proxy":
        tamper_proxy(base, *args)
    elif cmd == "session":
        token, device, text, needle, *rest = args
        session(base, token, device, text.replace("\\r", "\r"), needle, *rest)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
