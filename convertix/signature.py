"""Webhook signatures. Pure functions.

Two, over the same per-user secret (its UTF-8 bytes are the HMAC key):
- `X-Convertix-Signature: sha256=<hex HMAC-SHA256 of the exact body>`, kept
  for the receivers written against it; it signs the body alone, so a
  captured request can be replayed for ever.
- The Standard Webhooks headers (https://www.standardwebhooks.com):
  `webhook-id`, `webhook-timestamp` (Unix seconds, set per attempt) and
  `webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`.
  The timestamp is signed, so a receiver that checks it (the
  `standardwebhooks` libraries refuse one more than 5 minutes away) refuses
  a replay; the id is the same for every attempt of a job's webhook, so a
  receiver can also drop the duplicates that retries make. The key, in that
  spec's form, is `whsec_<base64 of the key>` (`whsec()`, shown at /auth/me).
"""
import base64
import hashlib
import hmac

HEADER = "X-Convertix-Signature"
PREFIX = "sha256="

ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER = "webhook-id", "webhook-timestamp", "webhook-signature"
WHSEC_PREFIX = "whsec_"
VERSION = "v1"


def sign(secret, body):
    return PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret, body, header):
    return hmac.compare_digest(sign(secret, body), header or "")


def whsec(secret):
    """The secret as Standard Webhooks writes it: the same key, base64, prefixed."""
    return WHSEC_PREFIX + base64.b64encode(secret.encode()).decode("ascii")


def message_id(job_id):
    """A job's webhook id: one per job, so every attempt and round carries the same."""
    return f"msg_{job_id}"


def standard_headers(secret, msg_id, timestamp, body):
    """The three Standard Webhooks headers for `body` sent at `timestamp` (Unix seconds)."""
    timestamp = str(int(timestamp))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    mac = base64.b64encode(hmac.new(secret.encode(), signed, hashlib.sha256).digest())
    return {ID_HEADER: msg_id, TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: f"{VERSION},{mac.decode('ascii')}"}
