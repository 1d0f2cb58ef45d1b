"""The definitions side: what loading the code location runs (`dg dev`, a code server, `dg check`).

The project's location and environment names (`project.py`), the prepared manifest
(`manifest.py`), and everything that turns it into Dagster definitions: the translator, the specs,
the selection, partitions, freshness, code references, and the accounting of every SQLMesh node.
Nothing here imports SQLMesh when it is imported (`tests/integration/test_architecture.py`):
Dagster+ times out a code location that loads slowly, and loading never opens a database.
"""
