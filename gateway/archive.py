"""GET /jobs/<id>/archive as a stream.

The zip is written while it is sent: each file is read CHUNK_BYTES at a
time into zipfile, whose output goes to a sink the response drains after
every chunk. No temporary copy of the results is made (it was a spooled
file as big as the job's outputs) and memory stays about one chunk per
download. Entries are stored, not deflated (images are compressed already);
zipfile writes data descriptors since the sink cannot seek, and ZIP64
records when a file needs them.
"""
import io
import logging
import zipfile

log = logging.getLogger(__name__)

CHUNK_BYTES = 2**20


class _Sink(io.RawIOBase):
    """Where zipfile writes; what was written is taken out with drain()."""

    def __init__(self):
        super().__init__()
        self.chunks = []

    def writable(self):
        return True

    def write(self, data):
        self.chunks.append(bytes(data))
        return len(data)

    def drain(self):
        data = b"".join(self.chunks)
        self.chunks.clear()
        return data


def stream_zip(entries, chunk=CHUNK_BYTES):
    """Yield a zip of `entries` ([(path, name in the archive)]) piece by piece."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_STORED) as archive:
        for path, name in entries:
            try:
                source = open(path, "rb")
            except FileNotFoundError:  # removed meanwhile (job deleted): leave it out
                log.warning("archive: %s is gone; left out", name)
                continue
            with source:
                info = zipfile.ZipInfo.from_file(path, arcname=name)
                info.compress_type = zipfile.ZIP_STORED
                with archive.open(info, "w") as member:
                    while True:
                        data = source.read(chunk)
                        if not data:
                            break
                        member.write(data)
                        yield sink.drain()
            yield sink.drain()
    yield sink.drain()  # the central directory
