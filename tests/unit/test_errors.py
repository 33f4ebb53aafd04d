import pickle

from nameko.exceptions import deserialize, serialize

from convertix.errors import HTTP_STATUS, TASK_ERROR_CODES, CorruptImage, error


def test_every_task_code_has_a_status():
    assert all(code in HTTP_STATUS for code in TASK_ERROR_CODES)


def test_error_crosses_nameko_rpc_serialisation_intact():
    original = error("CORRUPT_IMAGE", "bad bytes", filename="x.png")
    rebuilt = deserialize(serialize(original))
    assert isinstance(rebuilt, CorruptImage)
    assert rebuilt.to_dict() == {"code": "CORRUPT_IMAGE", "message": "bad bytes",
                                 "details": {"filename": "x.png"}}
    assert HTTP_STATUS[rebuilt.code] == 422


def test_every_subclass_crosses_rpc_without_a_registration_import():
    # registered where defined: no side-effect import needed by any caller
    for code in ("NOT_FOUND", "USERNAME_TAKEN", "INVALID_CREDENTIALS"):
        rebuilt = deserialize(serialize(error(code, "x")))
        assert type(rebuilt).__name__ != "RemoteError" and rebuilt.code == code


def test_error_pickles():
    rebuilt = pickle.loads(pickle.dumps(error("NOT_READY", "wait")))
    assert rebuilt.code == "NOT_READY" and str(rebuilt) == "wait"
