"""StageReports: a task's stages are reported only once it has run a while."""
import eventlet
from eventlet.event import Event

from services.converter.progress import StageReports

DEADLINE_S = 5


def wait_for(condition):
    with eventlet.Timeout(DEADLINE_S):
        while not condition():
            eventlet.sleep(0.005)


def test_no_delay_reports_the_start_and_every_stage():
    sent = []
    report = StageReports(sent.append, after_s=0)
    report("transform")
    report("encode")
    report.close()
    assert sent == ["decode", "transform", "encode"]


def test_a_task_that_ends_before_the_delay_reports_nothing():
    sent, witness = [], Event()
    report = StageReports(sent.append, after_s=0.05)
    # Due after the report's timer: the hub runs timers in the order they are
    # due, so had close() left that timer alive, it would have sent first.
    eventlet.spawn_after(0.1, witness.send)
    report("transform")
    report("encode")
    report.close()
    with eventlet.Timeout(DEADLINE_S):
        witness.wait()
    assert sent == []


def test_past_the_delay_the_current_stage_then_each_new_one():
    sent = []
    report = StageReports(sent.append, after_s=0.01)
    report("transform")
    wait_for(lambda: sent)
    assert sent == ["transform"]  # where the task is when the delay passes
    report("encode")
    report("store")
    report.close()
    assert sent == ["transform", "encode", "store"]


def test_a_report_on_its_way_goes_out_before_close_returns():
    sent, gate = [], Event()

    def slow_send(stage):
        gate.wait()  # the broker is slow to confirm
        sent.append(stage)
    report = StageReports(slow_send, after_s=0.01)
    wait_for(lambda: report._fired)
    eventlet.spawn_after(0.02, gate.send)
    report.close()
    assert sent == ["decode"]


def test_quiet_s_holds_every_report_even_with_no_delay():
    sent, witness = [], Event()
    report = StageReports(sent.append, after_s=0, quiet_s=0.05)
    eventlet.spawn_after(0.1, witness.send)  # past the quiet time: see the test above
    report("transform")
    report.close()
    with eventlet.Timeout(DEADLINE_S):
        witness.wait()
    assert sent == []
