"""Every bad file of the corpus (tests/corpus/MANIFEST.tsv: corrupt, bomb,
malicious) uploaded to the running system: refused up front (413/415) or
failed as a task with a SPEC code; and then a normal job still runs."""
import time

from convertix.errors import TASK_ERROR_CODES
from tests.abuse.conftest import NormalUser, user
from tests.corpus_cases import BAD, may_succeed
from tests.helpers import corpus_bytes

UP_FRONT = {413: "FILE_TOO_LARGE", 415: "UNSUPPORTED_FORMAT"}


def test_every_bad_file_gets_a_clear_answer(stack):
    attacker = user(stack)
    jobs = {}
    for row in BAD:
        answer = attacker.upload([(row["path"].rsplit("/", 1)[-1], corpus_bytes(row["path"]))],
                                 {"format": "png"})
        if answer.status_code in UP_FRONT:
            assert answer.json()["error"]["code"] == UP_FRONT[answer.status_code], row["path"]
            continue
        assert answer.status_code == 202, (row["path"], answer.text)
        jobs[answer.json()["id"]] = row
    started = time.monotonic()
    for job_id, row in jobs.items():
        task = attacker.wait_final(job_id, timeout=600)["tasks"][0]
        if task["status"] == "succeeded":
            assert may_succeed(row), row["path"]
        else:
            assert task["status"] == "failed", (row["path"], task)
            assert task["error"]["code"] in TASK_ERROR_CODES, (row["path"], task)
            assert "0x" not in task["error"]["message"].lower().replace("0x…", ""), task
    # The bad files held the 2 sandboxes for this long; now a normal job runs at once.
    drained = time.monotonic() - started
    with NormalUser(stack) as normal:
        pass
    normal.check()
    assert jobs, "no bad file reached the converter"
    print(f"{len(jobs)} bad files as tasks, drained in {drained:.0f} s")
