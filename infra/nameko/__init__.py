"""Nameko dependencies and consumers shared by the services.

Every service imports from here, so this is where the reconnect backoff is
bounded for all of them (infra/nameko/reconnect.py).
"""
from infra.nameko import reconnect

reconnect.install()
