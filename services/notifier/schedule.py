"""When a failed webhook attempt is tried again. Pure functions.

Exponential backoff with bounded jitter: the nominal wait after the n-th
failed attempt is `base * factor**(n-1)`, capped at `max_delay`, and the real
wait is drawn in [nominal * (1 - jitter), nominal], so many receivers that
failed together do not all come back in the same second, and no wait is ever
longer than its nominal value (the bounds the tests and the docs state).
With config.yaml's defaults (6 s, x3, cap 30 min, 8 attempts, jitter 0.25) the retries
come after at most 6 s, 18 s, 54 s, 2.7 min, 8.1 min, 24.3 min and 30 min:
the first within 10 s, the second within a minute of the first attempt, the
last 50 to 66 minutes after it.
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """config.yaml's NOTIFIER retry keys; their defaults and checks:
    infra/config/schema.py (NOTIFIER)."""
    base_delay_s: float
    factor: float
    max_delay_s: float
    max_attempts: int
    jitter: float  # the share of a wait that is random

    @classmethod
    def from_config(cls, values):
        """From the NOTIFIER section as the schema resolved it (other keys ignored)."""
        return cls(**{name: values[name] for name in cls.__dataclass_fields__})


def nominal_delay(backoff, failed_attempts):
    """The longest wait after `failed_attempts` failures (1 = the first attempt failed)."""
    return min(backoff.max_delay_s, backoff.base_delay_s * backoff.factor ** (failed_attempts - 1))


def retry_delay(backoff, failed_attempts, draw):
    """Seconds to wait before the next attempt, or None when none is left.

    `draw` is a number in [0, 1) (random.random() in the service, fixed in tests).
    """
    if failed_attempts >= backoff.max_attempts:
        return None
    nominal = nominal_delay(backoff, failed_attempts)
    return nominal * (1 - backoff.jitter * draw)
