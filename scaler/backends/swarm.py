"""Converter replicas as a Docker Swarm service, scaled through the docker SDK.

`running()` is read back from Swarm: the service's tasks that are running and
meant to keep running. A task Swarm is stopping (desired state `shutdown`)
does not count, as the Backend interface asks.

Scaling changes nothing but the replica count. docker-py's `Service.scale()`
is not used: it resubmits the spec as inspected *with defaults filled in*
(`insert_defaults=True`), which Swarm takes for a changed task template, so
the first scale replaces every running task: conversions in flight are
killed. Here the spec is read as stored (`insert_defaults=False`) and sent
back unchanged except for `Mode.Replicated.Replicas`, at the version read,
so a concurrent change to the service is refused rather than overwritten
(and retried on the fresh spec). tests/swarm checks that a scale-up leaves the
running tasks' ids unchanged.

Scale-down is graceful when the service says so, which the stack file and the
test services do: Swarm sends `stop_signal` (SIGTERM) to the replicas it
removes, Nameko stops consuming and finishes the tasks in flight, and Swarm
waits `stop_grace_period` (at least the conversion timeout) before it kills.
"""
import logging

from infra.config.schema import SCALER
from scaler.backends.base import Backend

log = logging.getLogger(__name__)

UPDATE_RETRIES = 3


class SwarmBackend(Backend):
    name = "swarm"

    def __init__(self, service_name, client):
        self.service_name = service_name
        self.client = client

    @classmethod
    def from_config(cls, config, settings):
        import docker  # only the swarm backend needs the SDK

        swarm = SCALER.resolve(settings)["swarm"]
        client = docker.DockerClient(base_url=swarm["docker_host"], timeout=30)
        return cls(swarm["service"], client)

    # --- the Backend interface ----------------------------------------------

    def running(self):
        return sum(1 for task in self._tasks() if _is_running(task))

    def scale(self, replicas):
        replicas = int(replicas)
        if replicas < 0:
            raise ValueError("replicas must be >= 0")
        import docker

        for attempt in range(UPDATE_RETRIES):
            # As stored, no defaults added: sent back, it is the same spec.
            current = self.client.api.inspect_service(self._id(), insert_defaults=False)
            spec = current["Spec"]
            mode = spec.get("Mode") or {}
            if "Replicated" not in mode:
                raise ValueError(f"service {self.service_name} is not replicated: {mode}")
            if (mode["Replicated"] or {}).get("Replicas") == replicas:
                return
            try:
                self.client.api.update_service(
                    current["ID"], current["Version"]["Index"],
                    task_template=spec.get("TaskTemplate"),
                    name=spec.get("Name"),
                    labels=spec.get("Labels"),
                    mode={"Replicated": {"Replicas": replicas}},
                    update_config=spec.get("UpdateConfig"),
                    rollback_config=spec.get("RollbackConfig"),
                    endpoint_spec=spec.get("EndpointSpec"),
                    fetch_current_spec=False)
                log.info("swarm service %s: %s -> %s replicas", self.service_name,
                         mode["Replicated"].get("Replicas"), replicas)
                return
            except docker.errors.APIError as exc:
                # "update out of sequence": someone changed the service since
                # it was read; read it again.
                if "out of sequence" not in str(exc) or attempt == UPDATE_RETRIES - 1:
                    raise

    def describe(self):
        current = self.client.api.inspect_service(self._id(), insert_defaults=False)
        mode = current["Spec"].get("Mode") or {}
        tasks = sorted(self._tasks(all_states=True),
                       key=lambda t: (t.get("Slot") or 0, t.get("CreatedAt") or ""))
        return {
            "backend": self.name,
            "service": self.service_name,
            "service_id": current["ID"],
            "desired": (mode.get("Replicated") or {}).get("Replicas"),
            "running": sum(1 for task in tasks if _is_running(task)),
            "replicas": [{
                "id": task["ID"],
                "slot": task.get("Slot"),
                "node": task.get("NodeID"),
                "state": task["Status"]["State"],
                "desired_state": task.get("DesiredState"),
                "since": task["Status"].get("Timestamp"),
                "container": (task["Status"].get("ContainerStatus") or {}).get("ContainerID"),
            } for task in tasks if task.get("DesiredState") == "running"
                or task["Status"]["State"] in ("running", "starting", "preparing")],
        }

    def close(self):
        # The service stays as it is: replicas keep running without the scaler.
        self.client.close()

    # --- helpers --------------------------------------------------------------

    def _id(self):
        # by name each time: a service removed and created again is followed
        return self.client.api.inspect_service(self.service_name)["ID"]

    def _tasks(self, all_states=False):
        filters = {"service": self._id()}
        if not all_states:
            filters["desired-state"] = "running"
        return self.client.api.tasks(filters=filters)

    def running_task_ids(self):
        """Ids of the running tasks (what tests compare across a scale)."""
        return sorted(task["ID"] for task in self._tasks() if _is_running(task))


def _is_running(task):
    return task["Status"]["State"] == "running" and task.get("DesiredState") == "running"
