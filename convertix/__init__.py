"""Convertix core: what the gateway, the services and the scaler share.

The contract (`contract.py`: the names components agree on), error codes,
option validation, storage, and `convertix.imaging`, the pure image work (no
nameko, no flask, nothing from `infra/`).
"""
