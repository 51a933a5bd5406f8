"""Webhook delivery cannot be turned against our network: the host is resolved again at
send time (DNS rebinding), the connection goes to the checked address (TLS still checks
the name), and a receiver that trickles its answer is cut off at the deadline.

DNS is the input here (``outbound.getaddrinfo`` is replaced); the sockets are real."""

import shutil
import socket
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from loyalty_site.core import outbound
from programs.models import WebhookDelivery, WebhookDeliveryState, WebhookEventType
from programs.services.webhooks import webhook_delivery_attempt, webhook_events_emit
from tests.api.conftest import assert_problem

PUBLIC = "93.184.215.14"
POINTS = WebhookEventType.POINTS_AWARDED


class Listener:
    """A real TCP server on 127.0.0.1 that counts the connections it accepts."""

    def __init__(self, *, tls_context=None, trickle=False):
        self.connections = 0
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def setup(self):
                listener.connections += 1
                super().setup()

            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                if trickle:  # one header byte a second: never a whole answer in time
                    self.wfile.write(b"HTTP/1.1 204 No Content\r\n")
                    for _ in range(10):
                        self.wfile.write(b"X")
                        self.wfile.flush()
                        time.sleep(1)
                    return
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls_context is not None:
            self.server.socket = tls_context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def dns(monkeypatch, address):
    """The name service answers ``address`` for every host from now on."""

    def getaddrinfo(host, port):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(outbound, "getaddrinfo", getaddrinfo)


@pytest.fixture
def listener():
    server = Listener()
    yield server
    server.close()


def test_a_host_that_turns_private_after_saving_is_refused_at_send_time(
    api, member, monkeypatch, listener
):
    dns(monkeypatch, PUBLIC)  # public when the partner subscribes...
    url = f"https://hooks.example.com:{listener.port}/hooks"
    response = api.post("/api/v1/webhooks", {"url": url, "events": [POINTS]}, format="json")
    assert response.status_code == 201, response.json()
    dns(monkeypatch, "127.0.0.1")  # ...loopback when the worker sends (DNS rebinding)
    [delivery] = webhook_events_emit([(POINTS, member, {"points": 5})])
    webhook_delivery_attempt(delivery.pk)
    delivery.refresh_from_db()
    assert listener.connections == 0  # nothing reached the local server
    assert delivery.state == WebhookDeliveryState.PENDING  # retried: DNS may be fixed
    assert delivery.last_error.startswith("refused: The host hooks.example.com resolves to ")
    assert "127.0.0.1" in delivery.log[-1]["error"]


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.9",
        "192.168.1.1",
        "169.254.169.254",
        "224.0.0.1",
        "0.0.0.0",  # noqa: S104
        "::1",
        "fe80::1",
        "ff02::1",
        "::ffff:10.0.0.1",
        "100.64.0.1",
    ],
)
def test_every_non_public_address_is_refused(monkeypatch, address):
    monkeypatch.setattr(
        outbound, "getaddrinfo", lambda host, port: [(0, 0, 0, "", (address, port))]
    )
    with pytest.raises(outbound.Refused, match=address.split("::ffff:")[-1]):
        outbound.post("https://hooks.example.com/x", b"{}", {}, deadline=1, allow_private=False)


def test_one_private_address_among_public_ones_is_enough_to_refuse(monkeypatch):
    monkeypatch.setattr(
        outbound,
        "getaddrinfo",
        lambda host, port: [(0, 0, 0, "", (PUBLIC, port)), (0, 0, 0, "", ("10.0.0.1", port))],
    )
    assert "10.0.0.1" in outbound.url_problem("https://hooks.example.com/", allow_private=False)


def test_plain_http_is_refused_outside_development(monkeypatch):
    dns(monkeypatch, PUBLIC)
    with pytest.raises(outbound.Refused, match="https"):
        outbound.post("http://hooks.example.com/x", b"{}", {}, deadline=1, allow_private=False)


@pytest.fixture
def certificate(tmp_path):
    """A self-signed certificate for hooks.example.test, made with openssl."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(  # noqa: S603
        [
            shutil.which("openssl") or "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=hooks.example.test",
            "-addext",
            "subjectAltName=DNS:hooks.example.test",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return key, cert


def test_tls_connects_to_the_checked_address_and_verifies_the_name(monkeypatch, certificate):
    key, cert = certificate
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    server = Listener(tls_context=server_context)
    try:
        monkeypatch.setattr(
            outbound, "tls_context", lambda: ssl.create_default_context(cafile=str(cert))
        )
        dns(monkeypatch, "127.0.0.1")
        url = f"https://hooks.example.test:{server.port}/x"
        answer = outbound.post(url, b"{}", {}, deadline=5, allow_private=True)
        assert answer.status == 204
        assert server.connections == 1
        with pytest.raises(ssl.SSLCertVerificationError):  # another name: not this cert
            outbound.post(
                f"https://other.example.test:{server.port}/x",
                b"{}",
                {},
                deadline=5,
                allow_private=True,
            )
    finally:
        server.close()


def test_a_trickling_answer_is_cut_off_at_the_deadline(monkeypatch):
    server = Listener(trickle=True)
    try:
        dns(monkeypatch, "127.0.0.1")
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            outbound.post(
                f"http://hooks.example.test:{server.port}/x",
                b"{}",
                {"Content-Length": "2"},
                deadline=1.5,
                allow_private=True,
            )
        assert time.monotonic() - started < 3  # not the 10 s the server would take
    finally:
        server.close()


def test_a_subscription_to_a_private_name_is_refused_when_saved(api, monkeypatch):
    dns(monkeypatch, "10.9.8.7")
    response = api.post(
        "/api/v1/webhooks",
        {"url": "https://intranet.example.com/x", "events": [POINTS]},
        format="json",
    )
    problem = assert_problem(response, 400, "validation_error")
    assert "10.9.8.7" in problem["errors"][0]["detail"]
    assert not WebhookDelivery.objects.exists()
