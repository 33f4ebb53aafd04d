"""Nameko services: accounts, jobs, converter. Run with `nameko run --config config.yaml`."""
