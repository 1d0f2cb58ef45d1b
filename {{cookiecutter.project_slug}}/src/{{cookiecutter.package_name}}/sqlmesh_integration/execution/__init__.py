"""Execution: what runs inside a Dagster step.

The resource (`resource.py`) maps the step's selection to SQLMesh models (`targets.py`); the
runner (`runner.py`) checks versions, takes the lock and makes one `Context.run`; the event console
(`events.py`) turns SQLMesh's progress into Dagster events as each model finishes, and
`event_writes.py` builds and writes the materializations. SQLMesh is imported when a run starts
(the runner), not when the resource is imported.
"""
