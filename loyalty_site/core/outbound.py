"""Outbound HTTP that cannot be turned against our own network (SSRF).

Every call to an address a partner chose (webhooks today) goes through ``post``:

* the host is resolved at send time, and every address it resolves to must be public: a
  private, loopback, link-local, multicast or reserved address refuses the call, so a
  name that resolved to a public address when it was saved and to 127.0.0.1 now (DNS
  rebinding) is refused;
* the connection goes to the address that was checked, not to a second resolution; TLS
  still verifies the certificate for the host name (SNI and host name check);
* redirects are never followed (``http.client`` does not follow them: a 3xx is an answer);
* the whole call, connect to response headers, is bounded by ``deadline`` seconds: a
  server that trickles its answer is cut off; the body is never read.

``allow_private`` lets a development server (or an operator on a closed network, see the
``OUTBOUND_ALLOW_PRIVATE_NETWORKS`` setting) call local addresses; the other rules stay.
"""

import contextlib
import http.client
import ipaddress
import socket
import ssl
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit


class Refused(Exception):
    """The call was not made: the reason says why (shown to staff and partners)."""


@dataclass(frozen=True)
class Answer:
    status: int


def getaddrinfo(host: str, port: int) -> list:  # a seam for tests: DNS is the input
    return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    address = ipaddress.ip_address(text.split("%")[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped  # ::ffff:10.0.0.1 is 10.0.0.1
    return address


def _public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return address.is_global and not address.is_multicast


def address_problem(host: str, port: int, *, allow_private: bool) -> tuple[str | None, str]:
    """(why ``host`` may not be called, or None; the address to connect to)."""
    try:
        found = getaddrinfo(host, port)
    except (OSError, UnicodeError, ValueError):
        return f"The host {host} cannot be resolved.", ""
    addresses = [_address(str(sockaddr[0])) for *_, sockaddr in found]
    if not addresses:
        return f"The host {host} cannot be resolved.", ""
    if not allow_private:
        for address in addresses:
            if not _public(address):
                return (
                    f"The host {host} resolves to {address}, a private, loopback or reserved "
                    "address; calls go to public addresses only.",
                    "",
                )
    return None, str(addresses[0])


def url_problem(url: str, *, allow_private: bool) -> str | None:
    """Why ``url`` may not be called, or None (checked again at send time by ``post``)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "This is not a valid URL."
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes:
        return "The URL must start with https://."
    if parts.username or parts.password:
        return "The URL must not contain a user name or password."
    if not parts.hostname:
        return "The URL has no host."
    if allow_private:
        return None
    problem, _ = address_problem(parts.hostname, port or 443, allow_private=allow_private)
    return problem


def tls_context() -> ssl.SSLContext:  # a seam for tests that trust their own certificate
    return ssl.create_default_context()


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to ``address`` while speaking to (``Host:``) the URL's host name."""

    def __init__(self, host, port, *, address, timeout):
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self):
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host, port, *, address, timeout):
        super().__init__(host, port, timeout=timeout, context=tls_context())
        self.address = address

    def connect(self):
        sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def post(
    url: str, body: bytes, headers: dict[str, str], *, deadline: float, allow_private: bool
) -> Answer:
    """POST ``body`` to ``url`` under the rules above. Raises ``Refused`` when the call may
    not be made, ``TimeoutError`` past the deadline, ``OSError`` on network errors."""
    if problem := url_problem(url, allow_private=True):  # the shape; addresses below
        raise Refused(problem)
    parts = urlsplit(url)
    https = parts.scheme == "https"
    if not https and not allow_private:
        raise Refused("The URL must start with https://.")
    port = parts.port or (443 if https else 80)
    problem, address = address_problem(parts.hostname, port, allow_private=allow_private)
    if problem:
        raise Refused(problem)
    kind = _PinnedHTTPSConnection if https else _PinnedHTTPConnection
    connection = kind(parts.hostname, port, address=address, timeout=deadline)
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    outcome: list = []

    def call():
        try:
            connection.request("POST", path, body=body, headers=headers)
            outcome.append(Answer(connection.getresponse().status))
        except BaseException as exc:  # handed to the caller's thread
            outcome.append(exc)

    worker = threading.Thread(target=call, daemon=True, name="outbound-post")
    worker.start()
    worker.join(deadline)
    if worker.is_alive():
        _abort(connection)
        worker.join(1)
        raise TimeoutError(f"no answer within {deadline:g} s")
    connection.close()
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    return result


def _abort(connection: http.client.HTTPConnection) -> None:
    """Cut a call short from another thread: its blocked read fails at once."""
    sock = connection.sock
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    connection.close()
