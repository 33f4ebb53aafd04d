"""The whole system as processes: HTTP upload → RabbitMQ → converter → download."""
import io
import subprocess
import zipfile

import eventlet
import pytest
import requests
from PIL import Image, ImageOps

from tests.e2e.conftest import BIN, ROOT, Api, Stack
from tests.helpers import corpus_bytes, self_signed_certificate, wait_until

# 30 real images of many formats, from the shared corpus.
MIXED = [
    "photos/imagemagick/rose.jpg", "photos/skimage/astronaut.png", "photos/skimage/coffee.png",
    "photos/skimage/chelsea.png", "photos/skimage/rocket.jpg", "photos/skimage/coins.png",
    "photos/skimage/horse.png", "photos/skimage/text.png", "photos/skimage/retina.jpg",
    "photos/skimage/cell.png",
    "valid/jpeg/hopper.jpg", "valid/jpeg/pil_sample_cmyk.jpg", "valid/jpeg/hopper_gray.jpg",
    "valid/jpeg/flower2.jpg", "valid/jpeg/testorig.jpg", "valid/gif/hopper.gif",
    "valid/gif/chi.gif", "valid/gif/transparent.gif", "valid/webp/" + "hopper.webp",
    "valid/tiff/hopper.tif", "valid/tiff/hopper_lzw.tif", "valid/tiff/16bit.deflate.tif",
    "valid/bmp/hopper.bmp", "valid/heic/hopper.heic", "valid/avif/hopper.avif",
    "valid/avif/transparency.avif", "valid/png/pngsuite/basn6a08.png",
    "valid/png/pngsuite/basn2c16.png", "valid/png/pngsuite/basi3p08.png", "valid/jpeg/flower.jpg",
]

JOB_OPTIONS = [
    {"format": "webp", "width": 128, "quality": 75},
    {"format": "jpeg", "width": 64, "height": 64, "fit": "cover"},
    {"format": "png", "width": 100, "height": 50, "fit": "contain", "grayscale": True},
]


def upright_size(relative):
    import pillow_heif
    pillow_heif.register_heif_opener()
    with Image.open(io.BytesIO(corpus_bytes(relative))) as image:
        return ImageOps.exif_transpose(image).size


def expected_size(source, options):
    width, height = source
    box_w, box_h = options.get("width"), options.get("height")
    if options.get("fit") == "contain":  # padded to the box
        return box_w, box_h
    if options.get("fit") == "cover":  # cropped to the box, never enlarged
        return min(box_w, width), min(box_h, height)
    scale = min(1.0, box_w / width)
    return max(1, round(width * scale)), max(1, round(height * scale))


def test_30_mixed_images_in_3_jobs_all_succeed(stack):
    api = Api(stack, "mixer")
    jobs = []
    for number, options in enumerate(JOB_OPTIONS):
        names = MIXED[number * 10:(number + 1) * 10]
        answer = api.upload([(name.rsplit("/", 1)[1], corpus_bytes(name)) for name in names],
                            options)
        assert answer.status_code == 202, answer.text
        jobs.append((answer.json()["id"], names, options))

    for job_id, names, options in jobs:
        doc = api.wait_final(job_id)
        assert doc["status"] == "succeeded", [t["error"] for t in doc["tasks"]]
        for task, name in zip(doc["tasks"], names):
            result = api.get(f"/jobs/{job_id}/tasks/{task['index']}/result")
            assert result.status_code == 200
            with Image.open(io.BytesIO(result.content)) as image:
                assert image.format.lower() == options["format"]
                want = expected_size(upright_size(name), options)
                assert abs(image.size[0] - want[0]) <= 1 and abs(image.size[1] - want[1]) <= 1, name
                if options.get("grayscale"):
                    assert image.mode in ("L", "LA")
        archive = zipfile.ZipFile(io.BytesIO(api.get(f"/jobs/{job_id}/archive").content))
        assert len(archive.namelist()) == 10


def test_20_concurrent_uploads(stack):
    api = Api(stack, "crowd")
    image = corpus_bytes("valid/jpeg/hopper.jpg")

    def one(number):
        answer = api.upload([(f"{number}.jpg", image)], {"format": "png", "width": 32})
        assert answer.status_code == 202, answer.text
        return api.wait_final(answer.json()["id"])

    pool = eventlet.GreenPool(20)
    docs = list(pool.imap(one, range(20)))
    assert len({doc["id"] for doc in docs}) == 20
    assert {doc["status"] for doc in docs} == {"succeeded"}


def test_a_corrupt_image_fails_only_its_own_task(stack):
    api = Api(stack, "partial")
    answer = api.upload([("good.png", corpus_bytes("valid/png/pngsuite/basn2c08.png")),
                         ("bad.png", corpus_bytes("bad/truncated/truncated_image.png"))],
                        {"format": "webp"})
    doc = api.wait_final(answer.json()["id"])
    assert doc["status"] == "partial"
    assert doc["tasks"][0]["status"] == "succeeded"
    assert doc["tasks"][1]["error"]["code"] == "CORRUPT_IMAGE"


def test_make_admin_command(stack):
    api = Api(stack, "boss")
    assert api.get("/auth/me").json()["roles"] == []
    done = subprocess.run([f"{BIN}/flask", "--app", "gateway", "make-admin", "boss"],
                          cwd=ROOT, env=stack.env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    api.login("boss", "password-boss")
    assert api.get("/auth/me").json()["roles"] == ["admin"]


def test_converter_killed_and_restarted_loses_no_job(tmp_path):
    stack = Stack(tmp_path).start()
    try:
        api = Api(stack, "restart")
        stack.stop_process("converter")  # graceful stop; tasks now wait in the queue
        noisy = io.BytesIO()
        Image.effect_noise((2000, 1500), 60).convert("RGB").save(noisy, "JPEG")
        ids = [api.upload([(f"{n}.jpg", noisy.getvalue())], {"format": "png"}).json()["id"]
               for n in range(6)]
        assert {api.get(f"/jobs/{i}").json()["status"] for i in ids} == {"queued"}

        stack.start_converter()
        wait_until(stack.converter_ready, timeout=60, message="the converter to start")
        wait_until(lambda: any(api.get(f"/jobs/{i}").json()["status"] == "processing"
                               for i in ids), timeout=60, message="work to start")
        import signal
        stack.stop_process("converter", sig=signal.SIGKILL)  # dies holding tasks
        stack.start_converter()

        docs = [api.wait_final(i, timeout=180) for i in ids]
        assert {doc["status"] for doc in docs} == {"succeeded"}
        # the tasks the killed converter held were delivered again
        assert max(doc["tasks"][0]["attempts"] for doc in docs) >= 2
        for doc in docs:
            result = api.get(f"/jobs/{doc['id']}/tasks/0/result")
            with Image.open(io.BytesIO(result.content)) as image:
                assert image.format == "PNG" and image.size == (2000, 1500)
    finally:
        stack.stop()


def test_task_that_always_raises_ends_in_the_dead_letter_queue(tmp_path):
    stack = Stack(tmp_path, converter=["tests.faulty_converter:FaultyConverter"]).start()
    try:
        api = Api(stack, "unlucky")
        answer = api.upload([("a.jpg", corpus_bytes("valid/jpeg/hopper.jpg"))], {"format": "png"})
        doc = api.wait_final(answer.json()["id"])
        (task,) = doc["tasks"]
        assert doc["status"] == "failed" and task["attempts"] == 3
        assert task["error"]["code"] == "INTERNAL_ERROR"
        assert api.get(f"/jobs/{doc['id']}/tasks/0/result").json()["error"]["code"] == "NOT_FOUND"
    finally:
        stack.stop()


def test_gateway_serves_tls_with_a_configured_certificate(tmp_path):
    cert, key = self_signed_certificate(tmp_path)
    stack = Stack(tmp_path, env={"TLS_CERT": str(cert), "TLS_KEY": str(key)}).start()
    try:
        assert stack.url.startswith("https://")
        api = Api(stack, "secure")
        answer = api.upload([("a.jpg", corpus_bytes("valid/jpeg/hopper.jpg"))],
                            {"format": "webp", "width": 16}, path="/convert")
        assert answer.status_code == 200 and answer.headers["Content-Type"] == "image/webp"
        import requests
        with pytest.raises(requests.exceptions.SSLError):  # and it is really TLS
            requests.get(stack.url + "/healthz", timeout=5, verify=True)
    finally:
        stack.stop()


def broker_answers():
    done = subprocess.run(["rabbitmq-diagnostics", "-q", "check_port_connectivity"],
                          capture_output=True, timeout=60)
    return done.returncode == 0


def test_jobs_survive_a_broker_restart_and_a_gateway_restart(tmp_path):
    stack = Stack(tmp_path).start()
    try:
        api = Api(stack, "survivor")
        noisy = io.BytesIO()
        Image.effect_noise((2000, 1500), 60).convert("RGB").save(noisy, "JPEG")
        ids = [api.upload([(f"{n}.jpg", noisy.getvalue())], {"format": "png"}).json()["id"]
               for n in range(6)]

        # RabbitMQ goes away with tasks queued and in flight, then comes back
        subprocess.run(["rabbitmqctl", "stop_app"], check=True, capture_output=True, timeout=120)
        subprocess.run(["rabbitmqctl", "start_app"], check=True, capture_output=True, timeout=120)
        wait_until(broker_answers, timeout=60, interval=0.5, message="RabbitMQ to answer")

        # and so does the gateway
        stack.stop_process("gateway")
        stack.start_gateway()

        try:
            docs = [api.wait_final(i, timeout=240) for i in ids]
        except (AssertionError, requests.RequestException) as exc:
            logs = "\n".join(f"--- {name}\n{stack.log(name)}" for name in stack.procs)
            raise AssertionError(f"{exc!r}\n{logs}") from exc
        assert {doc["status"] for doc in docs} == {"succeeded"}
        for doc in docs:
            result = api.get(f"/jobs/{doc['id']}/tasks/0/result")
            assert result.status_code == 200 and result.content[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        stack.stop()
