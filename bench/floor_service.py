"""The bare Nameko service of bench/floor.py: an RPC that answers at once.

    nameko run --config <its config> bench.floor_service
"""
from nameko.rpc import rpc


class FloorService:
    name = "floor"

    @rpc
    def echo(self, payload):
        return payload
