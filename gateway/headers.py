"""Security headers on every response.

What each stops: nosniff, a browser guessing HTML out of a JSON answer or a
converted file; DENY and frame-ancestors 'none', the API or the page inside
someone else's frame (clickjacking); no-referrer, a job URL leaking to another
site; HSTS, a later visit over plain HTTP, sent only on a request that came
over TLS (directly, or through a trusted proxy: gateway/limits.py's ProxyFix).

The CSP here is for everything that is not a page: nothing may load at all.
The pages (gateway/web.py: `/` and `/api/docs`) set their own, same-origin
policy; set first, it is kept.
"""
from flask import request

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
HSTS = "max-age=31536000; includeSubDomains"

# header -> value, on every response unless the view set its own
ALWAYS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": API_CSP,
    "Cross-Origin-Opener-Policy": "same-origin",
}


def _secure(response):
    for name, value in ALWAYS.items():
        response.headers.setdefault(name, value)
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    return response


def init_app(app):
    # after_request hooks run last-registered first: registered before
    # web.init_app, this one runs after the pages have set their own CSP.
    app.after_request(_secure)
