"""The webhook receiver shown in README "Webhooks" works as shown: with the
`standardwebhooks` library it takes a delivery signed as the notifier signs
it, and refuses a tampered, unsigned or replayed one."""
import os
import re
import time

from convertix import signature

README = os.path.join(os.path.dirname(__file__), "..", "..", "README.md")
BODY = b'{"id":"j1","status":"succeeded"}'


def receiver_code():
    text = open(README).read()
    section = text[text.index("## Webhooks"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_receiver_is_short_and_verifies_standard_webhooks():
    code = receiver_code()
    assert len(code.strip().splitlines()) <= 8
    namespace = {"__name__": "readme_receiver"}
    exec(compile(code, "README.md", "exec"), namespace)
    namespace["SECRET"] = signature.whsec("a-secret")  # as /auth/me shows it
    client = namespace["app"].test_client()

    def headers(at, secret="a-secret", body=BODY):
        return signature.standard_headers(secret, "msg_j1", at, body)

    now = time.time()
    assert client.post("/hook", data=BODY, headers=headers(now)).status_code == 204
    assert client.post("/hook", data=BODY.replace(b"succeeded", b"failed"),
                       headers=headers(now)).status_code == 401
    assert client.post("/hook", data=BODY, headers=headers(now, "another")).status_code == 401
    assert client.post("/hook", data=BODY).status_code == 401
    # a delivery captured and sent again ten minutes later: a replay
    assert client.post("/hook", data=BODY, headers=headers(now - 600)).status_code == 401
