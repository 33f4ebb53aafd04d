"""The webhook signature: `sha256=<hex HMAC-SHA256 of the exact body>`. Pure functions."""
import hashlib
import hmac

HEADER = "X-Convertix-Signature"
PREFIX = "sha256="


def sign(secret, body):
    return PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret, body, header):
    return hmac.compare_digest(sign(secret, body), header or "")
