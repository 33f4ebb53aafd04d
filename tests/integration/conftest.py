"""Integration layer: real RabbitMQ (a vhost per test), real databases,
the real services in this process (nameko's runner_factory/container_factory)."""
import io
import uuid

import pytest
from nameko.standalone.rpc import ClusterRpcProxy
from PIL import Image

from convertix.imaging import sniff
from convertix.options import validate
from convertix.storage import Storage
from services.jobs.states import JOB_FINAL
from tests.helpers import wait_until


def png_bytes(size=(64, 48), colour=(200, 30, 30), mode="RGB"):
    buffer = io.BytesIO()
    Image.new(mode, size, colour).save(buffer, "PNG")
    return buffer.getvalue()


def jpeg_bytes(size=(64, 48), colour=(30, 200, 30)):
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "JPEG")
    return buffer.getvalue()


def noisy_jpeg(size):
    buffer = io.BytesIO()
    Image.effect_noise(size, 64).convert("RGB").save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


class Client:
    """Does what the gateway does, over real RPC: store inputs, create the job."""

    def __init__(self, config, user_id=None):
        self.config = config
        self.storage = Storage(config["STORAGE"]["root"])
        self.user_id = user_id or uuid.uuid4().hex

    def rpc(self, service, method, *args, **kwargs):
        with ClusterRpcProxy(self.config, timeout=30) as proxy:
            return getattr(getattr(proxy, service), method)(*args, **kwargs)

    def submit(self, files, **options):
        options = validate({"format": "png", **options}, {"png", "jpeg", "webp", "gif"})
        job_id = uuid.uuid4().hex
        for index, (_name, data) in enumerate(files):
            self.storage.write(self.storage.input_path(job_id, index), data)
        described = [{"filename": name, "format": sniff(data), "bytes": len(data)}
                     for name, data in files]
        return self.rpc("jobs", "create_job", job_id, self.user_id, options, described)

    def job(self, job_id):
        return self.rpc("jobs", "get_job", job_id, self.user_id)

    def wait_final(self, job_id, timeout=60):
        return wait_until(lambda: (lambda d: d if d["status"] in JOB_FINAL else None)(
            self.job(job_id)), timeout=timeout, message=f"job {job_id} to finish")


@pytest.fixture
def client(service_config):
    return Client(service_config)
