"""Which remote URIs a process may read, and which addresses it may connect to.

The command line reads whatever URI its user names: no guard is installed.  The service
(``modelxray serve``) reads URIs that *callers* send, so it installs a :class:`UriGuard`
in every process that reads them (its scan workers and their forked parsers), against
server-side request forgery:

* a URI is read only when it starts with an allowed prefix (default ``hf://``: the hub the
  service is configured with); a prefix matches at a path-segment boundary (``s3://b/p``
  allows ``s3://b/p`` and ``s3://b/p/x``, not ``s3://b/px``), and URIs with ``.``/``..``
  segments, backslashes or credentials are refused outright;
* an ``http(s)`` connection is made only to an address that is public (not loopback,
  link-local, private, shared, multicast or reserved), unless an operator names the network
  it sits in (``allow_networks``).  The address is checked *when connecting*, on every
  address the name resolves to, and the connection goes to the address checked: a name that
  resolves to a public address when the URI is accepted and to ``169.254.169.254`` later (DNS
  rebinding) is refused then;
* a redirect is followed only to a URI the guard allows (its connection is checked like any
  other); no proxy from the environment is used (its destination could not be checked).

``hf://`` reads go to the hub endpoint the operator configured (``HF_ENDPOINT``); ``s3://``,
``gs://`` and ``az://`` to the endpoints of the client libraries' configuration: what a caller
chooses there is a repository, bucket or key, never a host.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit

from modelxray.sources.interface import REMOTE_SCHEMES, uri_scheme

DEFAULT_ALLOW = ("hf://",)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class UriRefused(ValueError):
    """A URI, redirect or address the guard does not allow (the message says why)."""


def _split(uri: str) -> SplitResult:
    """``urlsplit`` of an http(s) URI whose host and port parse, or :class:`UriRefused`."""
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError for a port that is no number in range
    except ValueError as exc:
        raise UriRefused(f"not a well-formed URI ({exc})") from None
    return parts


def _segments_safe(path: str) -> bool:
    decoded = unquote(unquote(path))
    parts = decoded.split("/")
    return "\\" not in decoded and not any(p in (".", "..") for p in parts)


def _address_problem(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public address, or None."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return _address_problem(ip.ipv4_mapped)
    for what, flag in (
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("private", ip.is_private),
        ("multicast", ip.is_multicast),
        ("unspecified", ip.is_unspecified),
        ("reserved", ip.is_reserved),
        ("not globally routable", not ip.is_global),
    ):
        if flag:
            return what
    return None


@dataclass(frozen=True)
class UriGuard:
    """The URIs callers may have read and the non-public networks ``http(s)`` may reach."""

    allow: tuple[str, ...] = DEFAULT_ALLOW
    # CIDR networks an http(s) connection may reach although they are not public
    # (an internal model store: "10.1.2.0/24"; a test server: "127.0.0.1/32").
    allow_networks: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for prefix in self.allow:
            scheme = uri_scheme(prefix)
            if scheme is None or not prefix.lower().startswith(scheme + "://"):
                raise ValueError(
                    f"not a URI prefix: {prefix!r} (expected one of "
                    f"{', '.join(s + '://' for s in REMOTE_SCHEMES)} and what follows)"
                )
            if not _segments_safe(prefix) or "@" in urlsplit(prefix).netloc:
                raise ValueError(f"not a URI prefix: {prefix!r}")
        self.networks()  # a malformed network is an error when configured, not when used

    def networks(self) -> tuple[IPNetwork, ...]:
        try:
            return tuple(ipaddress.ip_network(n, strict=False) for n in self.allow_networks)
        except ValueError as exc:
            raise ValueError(f"not a network: {exc}") from None

    # -- URIs

    def check(self, uri: str) -> None:
        """Raise :class:`UriRefused` unless ``uri`` starts with an allowed prefix."""
        scheme = uri_scheme(uri)
        if scheme is None:
            raise UriRefused("not a remote URI")
        rest = uri.split("://", 1)[1]
        if not _segments_safe(rest.split("?", 1)[0].split("#", 1)[0]):
            raise UriRefused("'.' or '..' segments and backslashes are not allowed in a URI")
        if scheme in ("http", "https"):
            parts = _split(uri)
            if parts.username is not None or parts.password is not None:
                raise UriRefused("credentials in a URI are not accepted")
            if not parts.hostname:
                raise UriRefused("no host in the URI")
        if not any(self._matches(prefix, uri, scheme) for prefix in self.allow):
            allowed = ", ".join(self.allow) or "(nothing)"
            raise UriRefused(f"not on this service's URI allow-list (allowed: {allowed})")

    @staticmethod
    def _matches(prefix: str, uri: str, scheme: str) -> bool:
        if uri_scheme(prefix) != scheme:
            return False
        p_rest, u_rest = prefix.split("://", 1)[1], uri.split("://", 1)[1]
        if scheme in ("http", "https"):  # the host by its parsed name, the path by segments
            p, u = urlsplit(prefix), _split(uri)
            if (p.hostname or "", p.port) != (u.hostname or "", u.port):
                return bool(not p.netloc)  # "https://": any host
            p_rest, u_rest = p.path, u.path or "/"
        if not p_rest:
            return True
        if not u_rest.startswith(p_rest):
            return False
        boundary = "/?@" if scheme == "hf" else "/?"  # hf://org/name@revision
        return p_rest.endswith("/") or len(u_rest) == len(p_rest) or u_rest[len(p_rest)] in boundary

    # -- addresses

    def address_problem(self, ip: IPAddress) -> str | None:
        """Why an http(s) connection may not go to ``ip``, or None."""
        why = _address_problem(ip)
        if why is None:
            return None
        mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
        for net in self.networks():
            if ip in net or (mapped is not None and mapped in net):
                return None
        return f"{ip} is {why} (allow its network with --allow-network to reach it)"

    def resolve(self, host: str, port: int) -> list[tuple[Any, ...]]:
        """``getaddrinfo`` for a TCP connection to ``host``, every address checked; raises
        :class:`UriRefused` when one is not allowed (a name is judged by all its answers)."""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise UriRefused(f"{host}: the name does not resolve ({exc.strerror})") from None
        if not infos:
            raise UriRefused(f"{host}: the name does not resolve")
        for *_, sockaddr in infos:
            ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
            why = self.address_problem(ip)
            if why is not None:
                raise UriRefused(f"{host} resolves to an address not allowed: {why}")
        return list(infos)

    def check_host(self, uri: str) -> None:
        """For an http(s) URI: resolve its host now and check every address (the early
        answer to a caller; connections are checked again when made)."""
        if uri_scheme(uri) not in ("http", "https"):
            return
        parts = _split(uri)
        default = 443 if parts.scheme.lower() == "https" else 80
        self.resolve(parts.hostname or "", parts.port or default)

    def connect(
        self,
        address: tuple[str, int],
        timeout: float | None = None,
        source_address: tuple[str, int] | None = None,
    ) -> socket.socket:
        """``socket.create_connection`` to a checked address of ``address``'s host (the
        address connected to is the one checked: no second lookup)."""
        host, port = address
        last: OSError | None = None
        for family, kind, proto, _, sockaddr in self.resolve(host, port):
            sock = socket.socket(family, kind, proto)
            try:
                if timeout is not None:
                    sock.settimeout(timeout)
                if source_address:
                    sock.bind(source_address)
                sock.connect(sockaddr)
                peer = ipaddress.ip_address(str(sock.getpeername()[0]).split("%", 1)[0])
                why = self.address_problem(peer)
                if why is not None:
                    raise UriRefused(f"{host}: connected to an address not allowed: {why}")
                return sock
            except OSError as exc:
                sock.close()
                last = exc
            except UriRefused:
                sock.close()
                raise
        raise last or OSError(f"could not connect to {host}")

    # -- passing to worker processes

    def to_json(self) -> str:
        return json.dumps({"allow": list(self.allow), "allow_networks": list(self.allow_networks)})

    @classmethod
    def from_json(cls, text: str) -> UriGuard:
        d = json.loads(text)
        return cls(tuple(d.get("allow", DEFAULT_ALLOW)), tuple(d.get("allow_networks", ())))


# The guard of this process (inherited by forked children); None: read any URI (the CLI).
_ACTIVE: UriGuard | None = None


def install(guard: UriGuard | None) -> None:
    """Make ``guard`` the guard of every remote read in this process (None: no guard)."""
    global _ACTIVE
    _ACTIVE = guard


def active() -> UriGuard | None:
    return _ACTIVE


def opener(guard: UriGuard) -> Any:
    """A ``urllib`` opener whose connections and redirects ``guard`` checks."""
    import http.client
    import urllib.request

    class _Http(http.client.HTTPConnection):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._create_connection = guard.connect

    class _Https(http.client.HTTPSConnection):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._create_connection = guard.connect

    class _HttpHandler(urllib.request.HTTPHandler):
        def http_open(self, req: Any) -> Any:
            return self.do_open(_Http, req)

    class _HttpsHandler(urllib.request.HTTPSHandler):
        def https_open(self, req: Any) -> Any:
            return self.do_open(_Https, req, context=getattr(self, "_context", None))

    return urllib.request.build_opener(
        urllib.request.ProxyHandler({}), _HttpHandler, _HttpsHandler, _redirects(guard)
    )


def plain_opener() -> Any:
    """The command line's opener (no guard: it reads the URI its user named, through the
    user's proxies); like the guarded one, it never lets credentials follow a redirect."""
    import urllib.request

    return urllib.request.build_opener(_redirects(None))


def _redirects(guard: UriGuard | None) -> Any:
    """A redirect handler: each hop checked by ``guard`` (when there is one), and the
    ``Authorization`` header dropped when the hop leaves the origin (scheme, host and port)
    it was given for -- urllib would otherwise copy it to any host, in clear to http."""
    import urllib.request

    class _Redirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(
            self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str
        ) -> Any:
            if guard is not None:
                try:
                    guard.check(newurl)
                except UriRefused as exc:
                    raise UriRefused(f"redirect not followed: {exc}") from None
            new = super().redirect_request(req, fp, code, msg, headers, newurl)
            if new is not None and _origin(newurl) != _origin(req.full_url):
                new.remove_header("Authorization")  # credentials stay with their origin
            return new

    return _Redirects


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()
