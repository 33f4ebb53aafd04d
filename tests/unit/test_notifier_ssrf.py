"""The webhooks' SSRF guard (services/notifier/ssrf.py), table-tested."""
import socket

import pytest

from services.notifier import ssrf

REFUSED = [
    ("127.0.0.1", "loopback"), ("127.255.0.9", "loopback"), ("::1", "loopback"),
    ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("192.168.1.1", "private"),
    ("fc00::1", "private"), ("fd12:3456::1", "private"),
    ("169.254.169.254", "link-local"), ("169.254.0.1", "link-local"), ("fe80::1", "link-local"),
    ("224.0.0.1", "multicast"), ("239.255.255.250", "multicast"), ("ff02::1", "multicast"),
    ("0.0.0.0", "unspecified"), ("::", "unspecified"),
    ("100.64.0.1", "not global"),
    # IPv4 inside IPv6: judged as the IPv4 address it carries
    ("::ffff:127.0.0.1", "loopback (inside ::ffff:7f00:1)"),
    ("::ffff:169.254.169.254", "link-local (inside ::ffff:a9fe:a9fe)"),
    ("::ffff:10.0.0.1", "private (inside ::ffff:a00:1)"),
    ("2002:7f00:1::1", "loopback (inside 2002:7f00:1::1)"),    # 6to4
    ("fe80::1%eth0", "link-local"),
]
ALLOWED = ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2001:4860:4860::8888", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("ip, reason", REFUSED)
def test_refused_addresses(ip, reason):
    assert ssrf.refusal(ip) == reason


@pytest.mark.parametrize("ip", ["240.0.0.1", "255.255.255.255", "192.0.2.1", "2001:db8::1"])
def test_reserved_and_documentation_addresses_are_refused(ip):
    assert ssrf.refusal(ip) is not None


@pytest.mark.parametrize("ip", ALLOWED)
def test_public_addresses_are_allowed(ip):
    assert ssrf.refusal(ip) is None


def fake_dns(*addresses):
    def getaddrinfo(host, port, type=None):
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                 (a, port)) for a in addresses]
    return getaddrinfo


def test_pick_address_returns_the_first_checked_address():
    assert ssrf.pick_address("hooks.example", 443, False,
                             fake_dns("93.184.216.34", "1.1.1.1")) == "93.184.216.34"


def test_one_private_answer_refuses_the_host():
    with pytest.raises(ssrf.Refused, match="10.0.0.7, a private address"):
        ssrf.pick_address("hooks.example", 443, False, fake_dns("93.184.216.34", "10.0.0.7"))


def test_allow_private_lets_them_through():
    assert ssrf.pick_address("hooks.example", 80, True, fake_dns("10.0.0.7")) == "10.0.0.7"


def test_localhost_resolves_to_loopback_and_is_refused():
    # the real resolver: a name is judged by what it resolves to, not by its spelling
    with pytest.raises(ssrf.Refused, match="loopback"):
        ssrf.pick_address("localhost", 80, False)
    assert ssrf.refusal(ssrf.pick_address("localhost", 80, True)) == "loopback"


def test_an_unknown_host_is_a_network_error():
    with pytest.raises(OSError):
        ssrf.pick_address("no-such-host.invalid", 80, False)
