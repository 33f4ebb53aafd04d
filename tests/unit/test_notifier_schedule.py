"""The webhook retry schedule (services/notifier/schedule.py), table-tested."""
import pytest

from infra.config.schema import NOTIFIER
from services.notifier.schedule import Backoff, nominal_delay, retry_delay

DEFAULT = Backoff.from_config(NOTIFIER.default)


@pytest.mark.parametrize("failed, nominal", [
    (1, 6), (2, 18), (3, 54), (4, 162), (5, 486), (6, 1458), (7, 1800),
])
def test_nominal_delays_grow_by_the_factor_up_to_the_cap(failed, nominal):
    assert nominal_delay(DEFAULT, failed) == nominal


@pytest.mark.parametrize("draw", [0.0, 0.5, 0.999999])
@pytest.mark.parametrize("failed", range(1, 8))
def test_jitter_stays_within_its_share_of_the_nominal_delay(failed, draw):
    delay = retry_delay(DEFAULT, failed, draw)
    nominal = nominal_delay(DEFAULT, failed)
    assert nominal * (1 - DEFAULT.jitter) <= delay <= nominal


@pytest.mark.parametrize("draw", [0.0, 0.999999])
def test_first_retry_within_10_s_and_second_within_a_minute(draw):
    first = retry_delay(DEFAULT, 1, draw)
    second = first + retry_delay(DEFAULT, 2, draw)
    assert first <= 10
    assert second <= 60


@pytest.mark.parametrize("draw, low, high", [(0.0, 55 * 60, 70 * 60), (0.999999, 45 * 60, 55 * 60)])
def test_all_eight_attempts_take_about_an_hour(draw, low, high):
    total = sum(retry_delay(DEFAULT, failed, draw) for failed in range(1, 8))
    assert low <= total <= high


@pytest.mark.parametrize("failed", [8, 9, 20])
def test_no_retry_after_the_last_attempt(failed):
    assert retry_delay(DEFAULT, failed, 0.5) is None


def test_seven_retries_make_eight_attempts():
    assert [retry_delay(DEFAULT, n, 0.0) is not None for n in range(1, 9)] == [True] * 7 + [False]


def test_from_config_reads_numbers_and_keeps_defaults():
    backoff = Backoff.from_config(NOTIFIER.resolve({"base_delay_s": "0.2", "max_attempts": 3,
                                                    "timeout_s": 5}))
    assert backoff == Backoff(base_delay_s=0.2, factor=3.0, max_delay_s=1800.0, max_attempts=3,
                              jitter=0.25)
    assert retry_delay(backoff, 1, 0.0) == pytest.approx(0.2)
    assert retry_delay(backoff, 3, 0.0) is None
