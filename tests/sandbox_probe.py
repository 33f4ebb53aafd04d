"""A stand-in for a subverted decoder: the real sandbox start-up (worker.main:
the same environment, user, namespace, limits and seccomp filter), then, in
place of conversions, it runs the Python each request frame carries and
replies with the value of `result`. Run by tests/unit/test_sandbox_confinement.py
as Sandbox(module="tests.sandbox_probe")."""
import sys

from convertix.imaging import protocol, worker


def serve(inp, out):
    from convertix.imaging.confine import cpu_limit
    while True:
        try:
            header, _ = protocol.read_frame(inp)
        except protocol.FrameEOF:
            return 0
        cpu_limit(header.get("cpu_s") or 60)
        scope = {}
        try:
            exec(header["code"], scope)
            reply = {"result": scope.get("result")}
        except BaseException as exc:  # what the attacker would see
            reply = {"raised": type(exc).__name__, "errno": getattr(exc, "errno", None),
                     "message": str(exc)}
        protocol.write_frame(out, reply)


def run(sandbox, code, timeout_s=30):
    """The probe's reply to `code`, run in `sandbox` (started if need be)."""
    import time
    if sandbox._proc is None:
        sandbox.start()
    protocol.write_frame(sandbox._proc.stdin.fileno(), {"code": code, "cpu_s": timeout_s})
    header, _ = protocol.read_frame(sandbox._proc.stdout.fileno(), time.monotonic() + timeout_s)
    return header


if __name__ == "__main__":
    sys.exit(worker.main(serve=serve))
