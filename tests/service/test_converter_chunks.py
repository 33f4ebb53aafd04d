"""A chunk of tasks in the converter (worker_factory: the engine and the
dispatcher mocked, a real storage folder, a real record of ended tasks):
each task converted and reported on its own; a retry asked by one does not
redo the others."""
from functools import partial

import pytest
from nameko.testing.services import worker_factory

from convertix.contract import TASK_FAILED, TASK_SUCCEEDED
from convertix.errors import CorruptImage
from convertix.imaging import Converted, InputInfo
from convertix.storage import Storage
from services.converter.ended import Ended
from services.converter.progress import StageReports
from services.converter.service import ConverterService
from tests.service.test_converter_service import mock_engine

JOB = "0123456789abcdef0123456789abcdef"
CHUNK = {"job_id": JOB, "indexes": [0, 1, 2, 3], "options": {"format": "png"}}


@pytest.fixture
def converter(tmp_path):
    storage = Storage(tmp_path)
    for index in range(4):
        storage.write(storage.input_path(JOB, index), f"input {index}".encode())
    service = worker_factory(ConverterService, storage=storage, attempt=1, ended=Ended(),
                             progress=partial(StageReports, after_s=30))
    service.engine.output_formats.return_value = ["png"]
    return mock_engine(service)


def ends(service):
    """(event, index) of each task's end, by index."""
    return sorted((payload["index"], name) for name, payload in
                  ((c.args[0], c.args[1]) for c in service.dispatch.call_args_list)
                  if name in (TASK_SUCCEEDED, TASK_FAILED))


def engine(crash=(), corrupt=()):
    """convert(): a 1x1 PNG, except for the inputs named."""
    def convert(data, options, on_stage=None):
        if data in crash:
            raise RuntimeError("sandbox crashed")
        if data in corrupt:
            raise CorruptImage("truncated")
        return Converted(data=b"png!", format="png", mime="image/png", width=1, height=1,
                         frames=1, input=InputInfo(format="png", width=1, height=1, frames=1,
                                                   bytes=len(data)))
    return convert


def test_each_task_of_a_chunk_is_converted_and_reported(converter):
    converter.engine.convert.side_effect = engine()
    converter.convert_task(CHUNK)
    assert ends(converter) == [(i, TASK_SUCCEEDED) for i in range(4)]
    for index in range(4):
        assert converter.storage.read(converter.storage.output_path(JOB, index, "png")) == b"png!"


def test_a_bad_image_fails_alone_and_the_chunk_is_done(converter):
    converter.engine.convert.side_effect = engine(corrupt={b"input 2"})
    converter.convert_task(CHUNK)  # nothing raised: nothing to retry
    assert ends(converter) == [(0, TASK_SUCCEEDED), (1, TASK_SUCCEEDED), (2, TASK_FAILED),
                               (3, TASK_SUCCEEDED)]


def test_a_retry_asked_by_one_task_redoes_only_the_unfinished(converter):
    converter.engine.convert.side_effect = engine(crash={b"input 1"})
    with pytest.raises(RuntimeError):  # the message is requeued ...
        converter.convert_task(CHUNK)
    assert ends(converter) == [(0, TASK_SUCCEEDED), (2, TASK_SUCCEEDED), (3, TASK_SUCCEEDED)]

    # ... and delivered again: only the task that did not end is converted
    converter.dispatch.reset_mock()
    converter.engine.convert.reset_mock()
    converter.engine.convert.side_effect = engine()
    converter.convert_task(CHUNK)
    assert [c.args[0] for c in converter.engine.convert.call_args_list] == [b"input 1"]
    assert ends(converter) == [(1, TASK_SUCCEEDED)]
