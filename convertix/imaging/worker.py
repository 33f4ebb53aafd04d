"""The sandbox child: `python -m convertix.imaging.worker --memory-mb N`.

Start-up: keep the real stdout for frames only (library prints go to stderr),
give up the network and the host's mounts (confine.py), prove the
ImageMagick policy, load the engine, seal its view of the filesystem
(mountns.py), become the sandbox user, set the resource limits, install the
seccomp filter, then say ready (with what could not be confined). Then: one
request frame in, one response frame out (with this child's clock at both
ends), until EOF; each conversion gets its own CPU limit.
"""
import argparse
import os
import signal
import sys
import time


def _protect_stdout():
    """Return an fd for frames; fd 1 (and sys.stdout) now write to stderr."""
    out = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return out


def _ignore_stop_signals():
    """The parent decides when this process ends (EOF on stdin, or a kill).

    A SIGTERM or Ctrl-C sent to the whole process group (`make stop`, a
    terminal) must not kill a conversion in flight while the converter
    service above is finishing its work gracefully.
    """
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _load_engine():
    """Import all the engine will run, while the code is still readable (confine.become)."""
    import cssselect2  # noqa: F401  (svgrefs imports these lazily)
    import tinycss2  # noqa: F401

    from convertix.options import validate  # noqa: F401

    from . import svgrefs  # noqa: F401
    from .capabilities import capabilities, load_codecs
    from .confine import cpu_limit  # noqa: F401
    from .convert import convert  # noqa: F401
    load_codecs()  # every codec (and an SVG probe render): capabilities() may be remembered
    capabilities()
    from .sniff import sniff
    sniff(b"\x89PNG\r\n\x1a\n")  # libmagic opens its database now, not after the uid switch
    _load_magick()


def _load_magick():
    """What ImageMagick loads at its first read: Wand's wand.sequence, our
    policy.xml and its BMP and TIFF coder modules."""
    import io

    from PIL import Image

    from . import magick
    try:
        magick.wand()
        import wand.sequence  # noqa: F401  (Wand imports it at an image's first .sequence)
    except (magick.MagickUnavailable, ImportError):
        return  # no ImageMagick: its inputs are not offered (capabilities)
    for coder in ("BMP", "TIFF"):
        buf = io.BytesIO()
        Image.new("RGB", (1, 1)).save(buf, coder)
        magick.ping(buf.getvalue(), coder)


def code_paths():
    """Folders whose files the child may still open once confined: ours and Python's."""
    import sysconfig
    here = os.path.dirname(os.path.abspath(__file__))
    project = os.path.dirname(os.path.dirname(here))
    return [project, sys.prefix, sys.base_prefix, sys.exec_prefix,
            os.path.dirname(os.path.realpath(sys.executable)),
            sysconfig.get_paths()["stdlib"], *sys.path]


def _check_output_size(result, limits):
    """IMAGE_TOO_LARGE for an output over Limits.output_cap, before it is sent or stored."""
    from convertix.errors import ImageTooLarge
    src = result.input
    cap = limits.output_cap(src.width * src.height * max(src.frames, 1),
                            result.width * result.height * result.frames)
    if len(result.data) > cap:
        raise ImageTooLarge(f"the {result.format} output would be {len(result.data)} bytes, "
                            f"over the {cap}-byte cap for this image",
                            details={"bytes": len(result.data), "max_bytes": cap})


def _response(result):
    header = {"ok": True, **result.to_dict()}
    return header, result.data


def _error(exc):
    return {"ok": False, "code": exc.code, "message": exc.message, "details": exc.details}, b""


def serve(inp, out):
    from convertix.errors import ConvertixError, ImageTooLarge
    from convertix.options import validate

    from . import protocol
    from .capabilities import capabilities
    from .confine import cpu_limit
    from .convert import convert
    from .limits import Limits

    while True:
        # This child's own clock (CLOCK_MONOTONIC) when the request's first
        # bytes arrived and when its reply leaves: the converter reports how
        # long each sandbox stood idle between two tasks.
        arrived = []
        try:
            header, payload = protocol.read_frame(
                inp, on_arrival=lambda: arrived.append(time.monotonic()))
        except protocol.FrameEOF:
            return 0
        began = arrived[0]
        try:
            cpu_limit(header.get("cpu_s") or 60)
            options = validate(header.get("options") or {}, capabilities()["output"])
            # Stage frames go before the reply; the parent reports them as progress.
            result = convert(payload, options, Limits.from_dict(header.get("limits")),
                             on_stage=lambda stage: protocol.write_frame(out, {"stage": stage}))
            _check_output_size(result, Limits.from_dict(header.get("limits")))
            reply = _response(result)
        except ConvertixError as exc:
            reply = _error(exc)
        except MemoryError:
            reply = _error(ImageTooLarge("not enough memory to convert this image"))
        except Exception as exc:  # a bug, not the image: report it, keep serving
            reply = ({"ok": False, "code": "INTERNAL_ERROR",
                      "message": f"{type(exc).__name__}: {exc}", "details": {}}, b"")
        header, data = reply
        protocol.write_frame(out, {**header, "clock": [began, time.monotonic()]}, data)


def main(argv=None, serve=serve):
    """Start up confined (see the module's doc), then `serve` (tests pass a probe)."""
    from . import confine
    parser = argparse.ArgumentParser(prog="convertix.imaging.worker")
    parser.add_argument("--memory-mb", type=int, default=confine.DEFAULT_MEMORY_MB)
    parser.add_argument("--user", default=confine.DEFAULT_USER)  # "": stay as we are
    parser.add_argument("--max-file-mb", type=int, default=confine.DEFAULT_MAX_FILE_MB)
    parser.add_argument("--max-open-files", type=int, default=confine.DEFAULT_MAX_OPEN_FILES)
    parser.add_argument("--trace-syscalls", action="store_true")  # log, not refuse (syscalls.py)
    args = parser.parse_args(argv)
    _ignore_stop_signals()
    out = _protect_stdout()
    from . import protocol
    try:
        degraded, own_mounts = confine.enter_namespaces()
        # Policy next: it runs a probe child, which the limits below would forbid.
        from .magick.policy_check import check_policy
        check_policy()
        _load_engine()
        if own_mounts:
            from . import mountns
            degraded += mountns.seal(code_paths())
        parents_uid = os.getuid()
        degraded += confine.become(args.user)
        degraded += confine.limit_resources(args.memory_mb, args.max_file_mb, args.max_open_files,
                                            own_user=os.getuid() != parents_uid)
        degraded += confine.install_seccomp(log_only=args.trace_syscalls)
    except Exception as exc:
        protocol.write_frame(out, {"ready": False, "error": f"{type(exc).__name__}: {exc}"})
        return 1
    protocol.write_frame(out, {"ready": True, "degraded": degraded})
    return serve(0, out)


if __name__ == "__main__":
    sys.exit(main())
