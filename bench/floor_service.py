"""The bare Nameko service of bench/floor.py: an RPC that answers at once,
and an event handler that does nothing but count.

    nameko run --config <its config> bench.floor_service
"""
from nameko.events import event_handler
from nameko.rpc import rpc

HANDLED = [0]


class FloorService:
    name = "floor"

    @rpc
    def echo(self, payload):
        return payload

    @rpc
    def handled(self):
        return HANDLED[0]

    @event_handler("floor_source", "ended")
    def on_ended(self, payload):
        HANDLED[0] += 1
