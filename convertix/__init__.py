"""Convertix core: what the gateway, the services and the scaler share.

Names (constants), config loading, error codes, option validation, storage,
and `convertix.imaging`, the pure image work (no nameko, no flask).
"""
