"""A list cursor is the client's to send back, so any string may arrive."""
import base64

import pytest

from convertix.errors import ConvertixError
from services.jobs.service import _decode_cursor


@pytest.mark.parametrize("cursor", [
    # 3000 '[' under base64: json.loads hit RecursionError, a 500
    base64.urlsafe_b64encode(b"[" * 3000).decode(),
    "[" * 3000,
    "A" * 100_000,
    base64.urlsafe_b64encode(b'["2024-01-01T00:00:00", "x"]' + b" " * 600).decode(),
    "",
])
def test_any_cursor_is_a_bad_request(cursor):
    with pytest.raises(ConvertixError) as exc:
        _decode_cursor(cursor)
    assert exc.value.code == "BAD_REQUEST"
