"""The sandbox child: `python -m convertix.imaging.worker --memory-mb N`.

Start-up: keep the real stdout for frames only (library prints go to stderr),
cap the address space, load the engine, prove the ImageMagick policy, then
say ready. Then: one request frame in, one response frame out, until EOF.
"""
import argparse
import os
import resource
import signal
import sys


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


def _limit_memory(mb):
    if mb:
        limit = mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


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
    from .convert import convert
    from .limits import Limits

    while True:
        try:
            header, payload = protocol.read_frame(inp)
        except protocol.FrameEOF:
            return 0
        try:
            options = validate(header.get("options") or {}, capabilities()["output"])
            # Stage frames go before the reply; the parent reports them as progress.
            result = convert(payload, options, Limits.from_dict(header.get("limits")),
                             on_stage=lambda stage: protocol.write_frame(out, {"stage": stage}))
            reply = _response(result)
        except ConvertixError as exc:
            reply = _error(exc)
        except MemoryError:
            reply = _error(ImageTooLarge("not enough memory to convert this image"))
        except Exception as exc:  # a bug, not the image: report it, keep serving
            reply = ({"ok": False, "code": "INTERNAL_ERROR",
                      "message": f"{type(exc).__name__}: {exc}", "details": {}}, b"")
        protocol.write_frame(out, *reply)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="convertix.imaging.worker")
    parser.add_argument("--memory-mb", type=int, default=1024)
    args = parser.parse_args(argv)
    _ignore_stop_signals()
    out = _protect_stdout()
    from . import protocol
    try:
        # Policy first: it runs a probe child, which must not inherit our memory cap.
        from .magick.policy_check import check_policy
        check_policy()
        _limit_memory(args.memory_mb)
        from .capabilities import capabilities
        capabilities()
    except Exception as exc:
        protocol.write_frame(out, {"ready": False, "error": f"{type(exc).__name__}: {exc}"})
        return 1
    protocol.write_frame(out, {"ready": True})
    return serve(0, out)


if __name__ == "__main__":
    sys.exit(main())
