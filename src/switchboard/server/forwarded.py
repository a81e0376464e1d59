"""The client's address behind reverse proxies: ``X-Forwarded-For`` and ``Forwarded``.

A proxy connects to the server from its own address and says where the request came
from in a header, each hop appending the address it received the request from:
``X-Forwarded-For: client, proxy1`` (de facto) or ``Forwarded: for=client,
for=proxy1`` (RFC 7239). Anything left of the hops the server trusts may have been
made up by the client, so the chain is read right to left, starting from the TCP
peer: while the current hop is a trusted proxy, step to the address it reports. The
first address that is not trusted is the client's; if every hop is trusted, the
leftmost one is.

* The headers are read only when the TCP peer itself is trusted.
* An entry that is not an IP address (``unknown``, an obfuscated ``_hidden``
  identifier, garbage) ends the walk at the last address reached; a header whose
  rightmost entry is one says nothing. A ``Forwarded`` value that does not parse is
  ignored as a whole. Nothing here raises for what a request carries.
* A proxy appends to one of the two headers and passes the other one through, so
  that one is whatever the client sent. When a request carries both and they lead to
  different clients, neither is believed: the client address is the TCP peer's. (Have
  the proxy drop the header it does not set.)

Ports are dropped: the result is an IP address as a string, IPv4-mapped IPv6
addresses as IPv4.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

from ..protocol.http11 import Headers

__all__ = ["TrustedProxies", "parse_forwarded", "parse_x_forwarded_for", "parse_node"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_QUOTED = r'"(?:[\t !#-\[\]-~\x80-\xff]|\\[\t -~\x80-\xff])*"'
# One forwarded-pair (or nothing), then the separator that follows it (RFC 7239 4).
_ITEM = re.compile(rf"[ \t]*(?:({_TOKEN})=({_TOKEN}|{_QUOTED}))?[ \t]*([;,]|\Z)")
_ESCAPE = re.compile(r"\\(.)")
_PORT = re.compile(r"[0-9]{1,5}|_[A-Za-z0-9._-]+")  # RFC 7239 6: node-port, obfport


def parse_forwarded(value: str) -> list[str] | None:
    """The ``for`` parameter of each element of a ``Forwarded`` value, in order.

    >>> parse_forwarded('for=192.0.2.60;proto=http, for="[2001:db8::1]:4711"')
    ['192.0.2.60', '[2001:db8::1]:4711']

    Elements without ``for`` are skipped. None when the value does not parse (a
    parameter repeated in one element included).
    """
    nodes: list[str] = []
    seen: set[str] = set()
    pos = 0
    while True:
        match = _ITEM.match(value, pos)
        if match is None:
            return None
        name, text, separator = match.groups()
        if name is not None:
            name = name.lower()
            if name in seen:
                return None
            seen.add(name)
            if name == "for":
                nodes.append(_ESCAPE.sub(r"\1", text[1:-1]) if text[0] == '"' else text)
        if separator == ",":
            seen.clear()
        elif not separator:
            return nodes
        pos = match.end()


def parse_x_forwarded_for(value: str) -> list[str]:
    """The entries of an ``X-Forwarded-For`` value, in order: ``"a, b"`` -> ``["a", "b"]``."""
    return [entry.strip() for entry in value.split(",")]


def parse_node(node: str) -> IPAddress | None:
    """The IP address in a hop, port or brackets around it removed; None if it has none.

    Accepts ``192.0.2.1``, ``192.0.2.1:80``, ``2001:db8::1``, ``[2001:db8::1]`` and
    ``[2001:db8::1]:80``; ``unknown``, ``_hidden`` and anything else give None.
    """
    if node.startswith("["):
        host, bracket, port = node[1:].partition("]")
        if not bracket or (port and (port[0] != ":" or not _PORT.fullmatch(port[1:]))):
            return None
    elif node.count(":") == 1:  # IPv4 and a port
        host, _, port = node.partition(":")
        if not _PORT.fullmatch(port):
            return None
    else:
        host = node
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class TrustedProxies:
    """The proxies whose forwarding headers are believed: IP addresses and networks.

    ``TrustedProxies(["127.0.0.1", "10.0.0.0/8", "::1"])``. Raises ValueError for an
    entry that is neither (``"10.0.0.1/8"``, with host bits set, is refused too) and
    TypeError for a single string instead of a list.
    """

    def __init__(self, proxies: Iterable[str | IPAddress | IPNetwork] = ()) -> None:
        if isinstance(proxies, str):
            raise TypeError(
                f"trusted_proxies takes a list of addresses or networks, "
                f"e.g. [{proxies!r}], not a string"
            )
        networks: list[IPNetwork] = []
        for proxy in proxies:
            try:
                networks.append(ipaddress.ip_network(proxy))
            except (TypeError, ValueError) as exc:
                raise ValueError(
                    f"trusted_proxies: {proxy!r} is not an IP address or network: {exc}"
                ) from None
        self.networks: tuple[IPNetwork, ...] = tuple(networks)

    def __bool__(self) -> bool:
        return bool(self.networks)

    def __contains__(self, address: object) -> bool:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if not isinstance(address, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
            return False
        return any(
            address.version == network.version and address in network for network in self.networks
        )

    def client_address(self, peer: str | None, headers: Headers) -> str | None:
        """The client's address for a request from ``peer`` (the TCP peer's IP) with
        ``headers``: ``peer`` itself unless it is a trusted proxy."""
        if not self.networks or peer is None:
            return peer
        address = parse_node(peer)
        if address is None or address not in self:
            return peer
        found: set[IPAddress] = set()
        for name in ("X-Forwarded-For", "Forwarded"):
            values = headers.get_all(name)
            if not values:
                continue
            joined = ", ".join(values)
            hops = parse_forwarded(joined) if name == "Forwarded" else parse_x_forwarded_for(joined)
            client = None if hops is None else self._walk(hops)
            if client is not None:
                found.add(client)
        if len(found) != 1:  # neither header, or the two disagree
            return peer
        return str(found.pop())

    def _walk(self, hops: list[str]) -> IPAddress | None:
        """The first untrusted address from the right, the leftmost if all are trusted,
        the last one reached before an entry that is not an address."""
        client = None
        for hop in reversed(hops):
            address = parse_node(hop)
            if address is None:
                break
            client = address
            if address not in self:
                break
        return client
