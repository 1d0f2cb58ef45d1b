"""Preparing the manifest: SQLMesh's models, audits and column lineage read once, written as JSON.

Runs in `dg utils refresh-defs-state` and `sqlmesh-dagster prepare` (CI, the deploy), never when
definitions load. Imports SQLMesh.
"""
