"""`convertix`: the command-line client of the Convertix HTTP API (docs/SPEC.md)."""
