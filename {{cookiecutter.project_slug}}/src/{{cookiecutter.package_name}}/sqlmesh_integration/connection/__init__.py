"""Opening SQLMesh: its config (DuckDB paths made absolute), a `Context`, and the locks around them.

The one door to SQLMesh for everything above it: preparing a manifest, a run, the sensor's reads,
the pull-request data diff and the operations. Imports SQLMesh.
"""
