"""Where a request waits: one in flight longer than a threshold has its
greenlet's stack written down (once), with every greenlet's stack and the
process's TCP connections. Off unless CONVERTIX_STALL_DUMP_DIR is set: a
diagnosis aid for a process that holds requests (green threads only: gevent
in the gateway, eventlet in the services).
"""
import gc
import os
import time
import traceback

ENV_DIR, ENV_S = "CONVERTIX_STALL_DUMP_DIR", "CONVERTIX_STALL_DUMP_S"


def folder():
    return os.environ.get(ENV_DIR) or None


def threshold_s():
    return float(os.environ.get(ENV_S, "5"))


class Watch:
    def __init__(self, where, threshold):
        self.where, self.threshold = where, threshold
        self.inflight = {}   # greenlet -> (monotonic start, what)

    def enter(self, greenlet, what):
        self.inflight[greenlet] = (time.monotonic(), what)

    def leave(self, greenlet):
        self.inflight.pop(greenlet, None)

    def run(self, sleep):
        """The watch loop: `sleep` is the green library's."""
        os.makedirs(self.where, exist_ok=True)
        path = os.path.join(self.where, f"stalls-{os.uname().nodename}-{os.getpid()}.txt")
        dumped, last_full, written = set(), 0.0, 0
        while written < 400:
            sleep(1)
            now = time.monotonic()
            for gr, (start, what) in list(self.inflight.items()):
                if now - start < self.threshold or id(gr) in dumped:
                    continue
                dumped.add(id(gr))
                written += 1
                text = [f"=== {time.strftime('%H:%M:%S')} {what} in flight {now - start:.1f} s\n"]
                if gr.gr_frame is not None:
                    text += traceback.format_stack(gr.gr_frame)
                if now - last_full > 30:
                    last_full = now
                    text.append("--- every greenlet\n" + every_greenlet())
                    text.append("--- tcp\n" + tcp() + "\n")
                with open(path, "a") as f:
                    f.write("".join(text) + "\n")


def every_greenlet():
    from greenlet import greenlet
    out = []
    for gr in gc.get_objects():
        try:   # a dead weak proxy raises ReferenceError on any look
            if isinstance(gr, greenlet) and gr.gr_frame is not None:
                out.append(f"- {gr!r}\n" + "".join(traceback.format_stack(gr.gr_frame)))
        except ReferenceError:
            continue
    return "".join(out)


def tcp():
    lines = []
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                for row in f.read().splitlines()[1:]:
                    p = row.split()
                    lines.append(f"{_addr(p[1])} -> {_addr(p[2])} st={p[3]} "
                                 f"q={p[4]} timer={p[5]} retr={p[6]}")
        except OSError:
            pass
    return "\n".join(lines)


def _addr(hexaddr):
    ip, port = hexaddr.split(":")
    if len(ip) == 8:
        ip = ".".join(str(int(ip[i:i + 2], 16)) for i in (6, 4, 2, 0))
    return f"{ip}:{int(port, 16)}"


def nameko_provider():
    """A DependencyProvider that tracks the service's workers (eventlet)."""
    import eventlet
    from greenlet import getcurrent
    from nameko.extensions import DependencyProvider

    watch = Watch(folder(), threshold_s())

    class StallWatch(DependencyProvider):
        def start(self):
            self.container.spawn_managed_thread(lambda: watch.run(eventlet.sleep))

        def worker_setup(self, worker_ctx):
            watch.enter(getcurrent(), worker_ctx.call_id)

        def worker_teardown(self, worker_ctx):
            watch.leave(getcurrent())

    return StallWatch()
