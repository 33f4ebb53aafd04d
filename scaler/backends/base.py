"""What the scaling loop needs from a place where converter replicas run.

Two implementations: `local` (processes on this machine, the default) and
`swarm` (a Docker Swarm service). Both must scale down gracefully: a replica
that goes stops consuming first and exits only once its tasks in flight are
acknowledged (Nameko's graceful stop on SIGTERM), so no task is lost or
needlessly requeued.
"""


class Backend:
    name = "abstract"

    def running(self):
        """Replicas running now, read back from the backend (not what was asked).
        A replica that is draining towards exit does not count."""
        raise NotImplementedError

    def scale(self, replicas):
        """Ask for `replicas` replicas. Returns promptly: starting and draining
        go on in the background; `running()` shows the progress."""
        raise NotImplementedError

    def describe(self):
        """A JSON-able dict for `scaler.status()`: per-replica ids and states."""
        raise NotImplementedError

    def close(self):
        """Release resources. The local backend stops (drains) its processes;
        the swarm backend leaves the service as it is."""
