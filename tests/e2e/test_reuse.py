"""Reused results against the system as processes: the same bytes
with the same options again, by the same user, come back as the stored
result without reaching a converter; another user's are converted."""
import glob
import io
import json
import os

import requests
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import Api
from tests.helpers import wait_until


def photo():
    image = Image.effect_noise((320, 240), 50).convert("RGB")
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def conversions(stack):
    """convertix_conversions_total of the converter process, all labels summed."""
    (target,) = glob.glob(os.path.join(stack.env["METRICS_TARGETS_DIR"], "converter@*.json"))
    with open(target) as handle:
        (address,) = json.load(handle)[0]["targets"]
    text = requests.get(f"http://{address}/metrics", timeout=10).text
    return sum(sample.value for family in text_string_to_metric_families(text)
               if family.name == "convertix_conversions"
               for sample in family.samples if sample.name == "convertix_conversions_total")


def test_the_same_upload_again_is_the_stored_result_not_a_conversion(stack):
    api = Api(stack, "reuser")
    data = photo()
    first = api.upload([("p.png", data)], {"format": "webp", "width": 100})
    assert first.status_code == 202, first.text
    done = api.wait_final(first.json()["id"])
    assert done["status"] == "succeeded" and done["tasks"][0]["reused"] is False
    original = api.get(f"/jobs/{done['id']}/tasks/0/result").content
    wait_until(lambda: conversions(stack) >= 1, timeout=30, message="the first conversion counted")
    converted = conversions(stack)

    # the same bytes, the options spelled otherwise: final in the answer itself
    again = api.upload([("copy.png", data)], {"format": "WEBP", "width": 100, "quality": 80})
    assert again.status_code == 202, again.text
    doc = again.json()
    assert doc["status"] == "succeeded" and doc["id"] != done["id"]
    (task,) = doc["tasks"]
    assert task["reused"] is True and task["attempts"] == 0 and task["stage"] is None
    assert task["output"]["bytes"] == len(original)
    assert api.get(f"/jobs/{doc['id']}/tasks/0/result").content == original

    # POST /convert answers with the bytes at once (its job is final when created)
    answer = api.upload([("c.png", data)], {"format": "webp", "width": 100}, path="/convert")
    assert answer.status_code == 200 and answer.content == original

    # deleting the first job leaves the reused results whole
    assert api.session.delete(f"{api.base}/jobs/{done['id']}", timeout=30).status_code == 204
    assert api.get(f"/jobs/{doc['id']}/tasks/0/result").content == original
    assert conversions(stack) == converted  # no converter saw any of them

    # never across users: another user's same upload is converted
    other = Api(stack, "other-reuser")
    theirs = other.wait_final(other.upload([("p.png", data)], {"format": "webp", "width": 100})
                              .json()["id"])
    assert theirs["status"] == "succeeded" and theirs["tasks"][0]["reused"] is False
    wait_until(lambda: conversions(stack) == converted + 1, timeout=30,
               message="the other user's conversion counted")
