"""Nameko dependencies and consumers shared by the services.

Every service imports from here, so this is where their consumers are made
to live through a broker outage (infra/nameko/outage.py).
"""
from infra.nameko import outage

outage.install()
