"""The webhook receiver shown in README "Webhooks" works as shown: it takes a
body signed by the notifier's signature and refuses a tampered one."""
import os
import re

from services.notifier import signature

README = os.path.join(os.path.dirname(__file__), "..", "..", "README.md")


def receiver_code():
    text = open(README).read()
    section = text[text.index("## Webhooks"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_receiver_is_six_lines_and_verifies_signatures():
    code = receiver_code()
    assert len(code.strip().splitlines()) == 6
    namespace = {"__name__": "readme_receiver"}
    exec(compile(code, "README.md", "exec"), namespace)
    namespace["SECRET"] = b"a-secret"
    client = namespace["app"].test_client()
    body = b'{"id":"j1","status":"succeeded"}'
    good = {signature.HEADER: signature.sign("a-secret", body)}
    assert client.post("/hook", data=body, headers=good).status_code == 204
    assert client.post("/hook", data=body.replace(b"succeeded", b"failed"),
                       headers=good).status_code == 401
    assert client.post("/hook", data=body).status_code == 401
