"""The run's consistency check compares what SQLMesh state holds with the code, not only its ids.

Whoever can write the state tables can rewrite a snapshot's stored definition and keep its
identifier. SQLMesh would run the rewritten definition: it trusts the stored fingerprint (shown
below). The run refuses instead, naming the model, and nothing runs. State here is the sample's
DuckDB file; the definition is rewritten with SQL, as a state user with UPDATE could.
"""

from __future__ import annotations

import shutil

import pytest

from {{ cookiecutter.package_name }}.sqlmesh_integration.connection.context import open_context
from {{ cookiecutter.package_name }}.sqlmesh_integration.execution.state_integrity import tampered_snapshots

from ..support import SampleProject, materialized_keys, step_failure_message

pytestmark = pytest.mark.slow

HONEST = "COUNT(*) AS order_count"
FORGED = "COUNT(*) * 1000 AS order_count"


def rewrite_stored_definition(sample: SampleProject, model: str) -> None:
    """Rewrites the stored query of `model`'s prod snapshot in state, keeping its fingerprint."""
    sample.execute(
        f"UPDATE sqlmesh._snapshots SET snapshot = replace(snapshot, '{HONEST}', '{FORGED}') "
        f"WHERE name LIKE '%{model}%'"
    )
    # SQLMesh's local snapshot cache would serve the honest definition: a fresh deployment has none.
    shutil.rmtree(sample.project.project_dir / ".cache", ignore_errors=True)


def stored_prod_snapshots(sample: SampleProject) -> dict[str, object]:
    context = open_context(sample.project, load=False)
    try:
        environment = context.state_reader.get_environment("prod")
        assert environment is not None
        snapshots = context.state_reader.get_snapshots(environment.snapshots).values()
        return {snapshot.name: snapshot for snapshot in snapshots}
    finally:
        context.close()


def test_a_definition_rewritten_in_state_is_refused(applied_sample: SampleProject) -> None:
    sample = applied_sample
    assert HONEST in (sample.models_dir / "marts" / "daily_revenue.sql").read_text()
    assert tampered_snapshots(stored_prod_snapshots(sample).values()) == []

    rewrite_stored_definition(sample, '"marts"."daily_revenue"')

    stored = stored_prod_snapshots(sample)
    (name,) = [name for name in stored if "daily_revenue" in name]
    forged = stored[name]
    # What SQLMesh would run: the forged query, under a fingerprint it does not recompute.
    assert FORGED in forged.model.query.sql()  # type: ignore[attr-defined]
    assert forged.model.data_hash == forged.fingerprint.data_hash  # type: ignore[attr-defined]
    assert tampered_snapshots(stored.values()) == [name]

    result = sample.materialize(["marts/daily_revenue"])

    assert not result.success
    message = step_failure_message(result)
    assert "`marts.daily_revenue`" in message and "do not hash to their fingerprint" in message
    assert materialized_keys(result) == set()
    assert sample.intervals()["marts.daily_revenue"] == 0, "nothing ran"
    # (Intact definitions pass the same check in every other test that materializes.)
