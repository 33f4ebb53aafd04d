import pickle

from nameko.exceptions import deserialize, serialize

from convertix import remote  # noqa: F401
from convertix.errors import HTTP_STATUS, TASK_ERROR_CODES, CorruptImage, error


def test_every_task_code_has_a_status():
    assert all(code in HTTP_STATUS for code in TASK_ERROR_CODES)


def test_error_crosses_nameko_rpc_serialisation_intact():
    original = error("CORRUPT_IMAGE", "bad bytes", filename="x.png")
    rebuilt = deserialize(serialize(original))
    assert isinstance(rebuilt, CorruptImage)
    assert rebuilt.to_dict() == {"code": "CORRUPT_IMAGE", "message": "bad bytes",
                                 "details": {"filename": "x.png"}}
    assert rebuilt.status == 422


def test_error_pickles():
    rebuilt = pickle.loads(pickle.dumps(error("NOT_READY", "wait")))
    assert rebuilt.code == "NOT_READY" and str(rebuilt) == "wait"
