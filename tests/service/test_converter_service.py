"""The converter's logic with worker_factory: the engine and the event
dispatcher are worker_factory's mocks; storage is a real folder."""
import contextlib
import time
from functools import partial

import pytest
from nameko.testing.services import worker_factory
from prometheus_client import REGISTRY

from convertix.contract import TASK_FAILED, TASK_PROGRESS, TASK_STARTED, TASK_SUCCEEDED
from convertix.errors import CorruptImage
from convertix.imaging import Converted, InputInfo
from convertix.storage import Storage
from infra.nameko.metrics import Conversion
from services.converter.progress import StageReports
from services.converter.service import ConverterService
from tests.integration.conftest import png_bytes

JOB = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def converter(tmp_path):
    storage = Storage(tmp_path)
    storage.write(storage.input_path(JOB, 0), b"input bytes")
    # every stage reported (progress_after_s 0); the delay: tests/unit/test_stage_reports.py
    service = worker_factory(ConverterService, storage=storage, attempt=2,
                             progress=partial(StageReports, after_s=0))
    service.engine.output_formats.return_value = ["png", "webp"]
    return mock_engine(service)


def mock_engine(service):
    """A sandbox reserved converts with the mock's convert(), which the tests set."""
    service.engine.reserve = lambda: contextlib.nullcontext(
        lambda data, options, on_stage=None: service.engine.convert(
            data, options, on_stage=on_stage))
    service.engine.last_run = None
    return service


def events(service):
    return [(call.args[0], call.args[1]) for call in service.dispatch.call_args_list]


def convert_in_stages(data, options, on_stage):
    """An engine that reports the sandbox's stages, then a 1x1 PNG."""
    on_stage("transform")
    on_stage("encode")
    return Converted(data=b"png!", format="png", mime="image/png", width=1, height=1, frames=1,
                     input=InputInfo(format="png", width=1, height=1, frames=1, bytes=11))


def test_success_writes_the_output_and_reports_it(converter):
    converter.engine.convert.return_value = Converted(
        data=b"webp!", format="webp", mime="image/webp", width=3, height=2, frames=1,
        input=InputInfo(format="png", width=6, height=4, frames=1, bytes=11))

    converter.convert_task({"job_id": JOB, "index": 0, "options": {"format": "webp"}})

    (started, first), (stored, third), (succeeded, second) = events(converter)
    assert (started, first) == (TASK_STARTED, {"job_id": JOB, "index": 0, "attempt": 2})
    assert (stored, third["stage"]) == (TASK_PROGRESS, "store")  # before the write
    assert succeeded == TASK_SUCCEEDED
    assert second["output"] == {"format": "webp", "width": 3, "height": 2, "bytes": 5}
    assert converter.storage.read(converter.storage.output_path(JOB, 0, "webp")) == b"webp!"
    data, options = converter.engine.convert.call_args.args
    assert data == b"input bytes" and options["format"] == "webp" and options["fit"] == "inside"


def test_bad_image_is_reported_not_raised(converter):
    converter.engine.convert.side_effect = CorruptImage("truncated")
    converter.convert_task({"job_id": JOB, "index": 0, "options": {"format": "png"}})
    name, payload = events(converter)[-1]
    assert name == TASK_FAILED
    assert payload["error"] == {"code": "CORRUPT_IMAGE", "message": "truncated", "details": {}}


def test_a_failure_carries_the_inputs_sniffed_format(tmp_path):
    """The failure metrics and the task_failed event name the input's real
    format (sniffed from its bytes), not "unknown"."""
    storage = Storage(tmp_path)
    png = png_bytes()
    storage.write(storage.input_path(JOB, 0), png)
    service = worker_factory(ConverterService, storage=storage, attempt=1,
                             progress=partial(StageReports, after_s=0))
    service.engine.output_formats.return_value = ["png", "webp"]
    mock_engine(service)
    service.engine.convert.side_effect = CorruptImage("truncated")
    service.convert_task({"job_id": JOB, "index": 0, "options": {"format": "webp"}})
    name, payload = events(service)[-1]
    assert name == TASK_FAILED and payload["input"] == {"format": "png", "bytes": len(png)}
    recorder = service.metrics.conversion.return_value
    recorder.failed.assert_called_once_with("CORRUPT_IMAGE", {"format": "png", "bytes": len(png)})


def test_failure_metrics_are_labelled_with_the_input_format():
    def failed(input_format):
        return REGISTRY.get_sample_value("convertix_conversions_total", {
            "input_format": input_format, "output_format": "webp", "outcome": "failed"}) or 0
    before = failed("png"), failed("unknown")
    Conversion("webp", time.monotonic()).failed("CORRUPT_IMAGE", {"format": "png"})
    Conversion("webp", time.monotonic()).failed("INVALID_OPTIONS", None)  # input never read
    assert (failed("png"), failed("unknown")) == (before[0] + 1, before[1] + 1)


def test_invalid_options_on_the_queue_fail_the_task(converter):
    converter.convert_task({"job_id": JOB, "index": 0, "options": {"format": "exe"}})
    name, payload = events(converter)[-1]
    assert name == TASK_FAILED and payload["error"]["code"] == "INVALID_OPTIONS"
    converter.engine.convert.assert_not_called()


def test_unexpected_errors_raise_so_the_message_is_requeued(converter):
    converter.engine.convert.side_effect = RuntimeError("sandbox crashed")
    with pytest.raises(RuntimeError):
        converter.convert_task({"job_id": JOB, "index": 0, "options": {"format": "png"}})
    assert [name for name, _ in events(converter)] == [TASK_STARTED]


def test_the_sandbox_stages_are_reported_as_progress(converter):
    converter.engine.convert.side_effect = convert_in_stages
    converter.convert_task({"job_id": JOB, "index": 0, "options": {"format": "png"}})
    stages = [payload["stage"] for name, payload in events(converter) if name == TASK_PROGRESS]
    assert stages == ["transform", "encode", "store"]


def test_a_fast_task_reports_only_its_end(tmp_path):
    """With the default delay a task done at once sends one event, not five."""
    storage = Storage(tmp_path)
    storage.write(storage.input_path(JOB, 0), b"input bytes")
    service = worker_factory(ConverterService, storage=storage, attempt=1,
                             progress=partial(StageReports, after_s=30))
    service.engine.output_formats.return_value = ["png"]

    mock_engine(service)
    service.engine.convert.side_effect = convert_in_stages
    service.convert_task({"job_id": JOB, "index": 0, "options": {"format": "png"}})
    assert [name for name, _ in events(service)] == [TASK_SUCCEEDED]


def test_a_convert_task_reports_no_stage_while_its_gateway_waits(converter):
    """A /convert task's job exists only once the gateway stops waiting (202)
    or the task ends: before then a stage report would reach no job, so even
    with every stage reported (progress_after_s 0) it sends only its end."""
    import time

    from convertix import direct
    converter.engine.convert.side_effect = convert_in_stages
    record = {"user_id": "u" * 32, "filename": "a.png", "format": "png", "bytes": 11}
    converter.convert_task(direct.task_message(JOB, {"format": "png"}, record,
                                               answer_by=time.time() + 30))
    assert [name for name, _ in events(converter)] == [TASK_SUCCEEDED]

    converter.dispatch.reset_mock()  # its gateway stopped waiting long ago: stages again
    converter.convert_task(direct.task_message(JOB, {"format": "png"}, record,
                                               answer_by=time.time() - 30))
    assert [name for name, _ in events(converter)][:2] == [TASK_STARTED, TASK_PROGRESS]
