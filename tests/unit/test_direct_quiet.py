"""How long a task's stage reports wait (convertix/direct.py quiet_s): a
/convert task's while its gateway waits for the answer, plus the margin for
the gateway's record; any other task's not at all."""
import pytest

from convertix import direct

NOW = 1_800_000_000.0
MARGIN = direct.QUIET_MARGIN_S


@pytest.mark.parametrize("task, quiet", [
    ({"job_id": "j", "index": 0}, 0.0),                           # a POST /jobs task
    ({"job_id": "j", "indexes": [0, 1]}, 0.0),                    # a chunk
    ({direct.ANSWER_BY: NOW + 10}, 10 + MARGIN),                  # the gateway waits 10 s more
    ({direct.ANSWER_BY: NOW - MARGIN / 2}, MARGIN / 2),           # its wait is over, not the margin
    ({direct.ANSWER_BY: NOW - 60}, 0.0),                          # long over: report as any task
    ({direct.ANSWER_BY: "soon"}, 0.0),                            # not a time: as any task
    ({direct.ANSWER_BY: True}, 0.0),
    ({direct.ANSWER_BY: None}, 0.0),
])
def test_quiet_s(task, quiet):
    assert direct.quiet_s(task, NOW) == pytest.approx(quiet)


def test_a_convert_task_message_carries_the_gateways_wait():
    task = direct.task_message("j", {"format": "png"}, {"user_id": "u"}, "q", answer_by=NOW)
    assert task[direct.ANSWER_BY] == NOW and task[direct.REPLY_TO] == "q"
    assert direct.ANSWER_BY not in direct.task_message("j", {}, {"user_id": "u"})
