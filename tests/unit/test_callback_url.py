"""Which callback_urls a job may have (convertix/callback.py), table-tested:
scheme, host, port range and IPv6 literals are checked when the job is made."""
import pytest

from convertix.callback import MAX_LENGTH, problem

GOOD = ["https://example.com/hook", "http://example.com:8080/x?y=1#z", "HTTP://EXAMPLE.COM/",
        "http://hooks_1.example.com./", "http://[::1]:8080/hook", "http://[2001:db8::1]/",
        "http://192.0.2.10:1/", "http://example.com:65535/", "http://münchen.example/",
        "https://user:pw@example.com/hook"]

BAD = [
    ("http://127.0.0.1:99999/", "port must be 1 to 65535"),
    ("http://127.0.0.1:65536/", "port must be 1 to 65535"),
    ("http://127.0.0.1:0/", "port must be 1 to 65535"),
    ("http://example.com:http/", "not a valid URL"),
    ("http://[::1", "not a valid URL"),
    ("http://[::1/hook", "not a valid URL"),
    ("http://[not-an-address]/", "not a valid URL"),
    ("http://-bad-.example/", "not a valid host name"),
    ("http://a..b/", "not a valid host name"),
    ("http://" + "a" * 64 + ".example/", "not a valid host name"),
    ("http://a b/", "spaces or control characters"),
    ("http://example.com/\r\nX-Injected: 1", "spaces or control characters"),
    ("ftp://example.com/hook", "http(s) URL"),
    ("javascript:alert(1)", "http(s) URL"),
    ("file:///etc/passwd", "http(s) URL"),
    ("gopher://127.0.0.1:6379/_INFO", "http(s) URL"),
    ("example.com/hook", "http(s) URL"),
    ("http://", "must name a host"),
    ("http:///path", "must name a host"),
    ("https://example.com/" + "a" * MAX_LENGTH, "at most"),
    ("", "http(s) URL"),
]


@pytest.mark.parametrize("url", GOOD)
def test_good_callback_urls_pass(url):
    assert problem(url) is None


@pytest.mark.parametrize("url, reason", BAD)
def test_bad_callback_urls_say_why(url, reason):
    assert reason in (problem(url) or "")
