"""Automation: what runs on a sensor tick (the Dagster daemon, the code server).

The sensor (`sensor.py`) asks SQLMesh which intervals are due (`due.py`) and requests one run for
exactly those models; the mirror (`mirror.py`) turns what SQLMesh filled outside Dagster
(`filled.py`) into runless materializations. SQLMesh is imported on a tick, not at load.
"""
