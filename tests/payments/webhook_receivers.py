"""Merchants' webhook endpoints for tests: real HTTP(S) servers on loopback that answer at
once, hold a request until the test releases it, drip-feed an answer, redirect, or send a
huge body; they count connections and requests in flight, and record SNI names."""

from __future__ import annotations

import datetime as dt
import ssl
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

# A request held by a test never outlives the test run, whatever the code under test does.
HOLD_CAP_S = 120.0


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """One endpoint. ``mode``: ``ok`` (200), ``status`` (``status`` with ``location``),
    ``hold`` (200 once ``release`` is set), ``drip`` (a 200 whose body comes one byte per
    ``drip_s`` until ``release`` or ``drip_cap_s``, then a hang-up before its end), ``huge``
    (a 200 with a ``huge_bytes`` body)."""

    def __init__(self, mode: str = "ok", *, status: int = 200, location: str | None = None,
                 tls: ssl.SSLContext | None = None, drip_s: float = 0.02,
                 drip_cap_s: float = 20.0, huge_bytes: int = 64 * 1024 * 1024) -> None:
        self.mode, self.status, self.location = mode, status, location
        self.drip_s, self.drip_cap_s, self.huge_bytes = drip_s, drip_cap_s, huge_bytes
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.started = threading.Event()  # set when the first request has been read
        self.received: list[Received] = []
        self.connections = 0
        self.in_flight = 0
        self.in_flight_max = 0
        self.sent_bytes = 0
        self.sni: list[str | None] = []
        receiver = self

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def process_request(self, request: Any, client_address: Any) -> None:
                with receiver.lock:
                    receiver.connections += 1
                super().process_request(request, client_address)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    receiver.received.append(Received(self.path, dict(self.headers), body))
                    receiver.in_flight += 1
                    receiver.in_flight_max = max(receiver.in_flight_max, receiver.in_flight)
                receiver.started.set()
                try:
                    receiver.answer(self)
                except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                    pass  # the client gave up: what a deadline or a read bound does
                finally:
                    with receiver.lock:
                        receiver.in_flight -= 1

            def log_message(self, *args: object) -> None:
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        if tls is not None:
            tls.sni_callback = lambda _sock, name, _ctx: self.sni.append(name)
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}/hooks"

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        if self.mode == "hold":
            self.release.wait(HOLD_CAP_S)
        if self.mode == "drip":
            handler.send_response(200)
            handler.send_header("Content-Length", str(100_000))
            handler.end_headers()
            deadline = time.monotonic() + self.drip_cap_s
            while not self.release.is_set() and time.monotonic() < deadline:
                handler.wfile.write(b".")
                handler.wfile.flush()
                time.sleep(self.drip_s)
            handler.close_connection = True  # the answer stays incomplete: hang up
            return
        if self.mode == "huge":
            handler.send_response(200)
            handler.send_header("Content-Length", str(self.huge_bytes))
            handler.end_headers()
            chunk = b"x" * 65536
            while self.sent_bytes < self.huge_bytes:
                handler.wfile.write(chunk)
                with self.lock:
                    self.sent_bytes += len(chunk)
            return
        handler.send_response(self.status if self.mode == "status" else 200)
        if self.location:
            handler.send_header("Location", self.location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def wait_for(condition: Any, what: str, limit_s: float = 60.0) -> None:
    """Wait until ``condition()`` holds. The limit only turns a hang into a failure naming
    what never happened; nothing asserts how long it took."""
    deadline = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.01)


def tls_contexts(folder: Path, hostname: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context with a certificate for ``hostname``, client context trusting only the
    test CA that signed it)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "creditpay test CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .add_extension(ca_ski, critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                           critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    (folder / "ca.pem").write_bytes(ca.public_bytes(pem))
    (folder / "leaf.pem").write_bytes(leaf.public_bytes(pem))
    (folder / "leaf.key").write_bytes(key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(folder / "leaf.pem", folder / "leaf.key")
    client = ssl.create_default_context(cafile=str(folder / "ca.pem"))
    return server, client
