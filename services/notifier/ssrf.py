"""Which addresses a webhook may be sent to. Pure functions.

The host of a callback URL is resolved at send time and every address it
resolves to is checked; the request then goes to the address that was
checked (services/notifier/http.py pins it), so a DNS answer that changes
between the check and the connection cannot slip a private address in.
An IPv4 address wrapped in IPv6 (::ffff:a.b.c.d, 6to4, Teredo) is checked
as the IPv4 address it carries.
"""
import ipaddress
import socket

# (the address property, the reason given): the first that holds refuses it.
REFUSED = (
    ("is_unspecified", "unspecified"),
    ("is_loopback", "loopback"),
    ("is_link_local", "link-local"),   # 169.254.0.0/16 (cloud metadata), fe80::/10
    ("is_multicast", "multicast"),
    ("is_private", "private"),         # RFC 1918, fc00::/7, 100.64/10 is below
    ("is_reserved", "reserved"),
)


class Refused(Exception):
    """The callback's host is, or resolves to, an address webhooks may not reach."""


def _embedded_ipv4(address):
    if address.version != 6:
        return None
    return address.ipv4_mapped or address.sixtofour or (address.teredo or (None, None))[1]


def refusal(ip):
    """Why `ip` (a string) may not receive webhooks, or None if it may."""
    address = ipaddress.ip_address(ip.split("%", 1)[0])  # drop an IPv6 zone id
    inner = _embedded_ipv4(address)
    if inner is not None:
        reason = refusal(str(inner))
        return reason and f"{reason} (inside {address})"
    for prop, reason in REFUSED:
        if getattr(address, prop):
            return reason
    if not address.is_global:  # shared address space 100.64/10, benchmarking, ...
        return "not global"
    return None


def resolve(host, port, getaddrinfo=socket.getaddrinfo):
    """Every address `host` resolves to, in the resolver's order (strings)."""
    infos = getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen = []
    for _family, _type, _proto, _name, sockaddr in infos:
        if sockaddr[0] not in seen:
            seen.append(sockaddr[0])
    return seen


def pick_address(host, port, allow_private, getaddrinfo=socket.getaddrinfo):
    """The address to connect to: the first one the host resolves to.

    Refused when any of its addresses is refused (a host that answers with a
    public and a private address is not trusted with either). OSError when
    it does not resolve.
    """
    addresses = resolve(host, port, getaddrinfo)
    if not addresses:
        raise OSError(f"{host} resolves to no address")
    if not allow_private:
        for ip in addresses:
            reason = refusal(ip)
            if reason:
                raise Refused(f"{host} resolves to {ip}, a {reason} address")
    return addresses[0]
