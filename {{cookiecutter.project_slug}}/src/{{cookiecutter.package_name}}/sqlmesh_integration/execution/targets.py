"""What a run is asked to do: the selected models and checks, and the request (plain data).

The resource builds these from the step's selection and the specs' metadata and hands the runner a
:class:`RunRequest`; the event console and the runner use the targets to report only what was
selected. No SQLMesh import: the resource imports this module when definitions load.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import dagster as dg


@dataclass(frozen=True)
class CheckTarget:
    """A Dagster check that stands for one SQLMesh audit."""

    check_name: str
    audit_name: str
    blocking: bool


@dataclass(frozen=True)
class ModelTarget:
    """What a run reports for one SQLMesh node: a selected model, or a node that only audits.

    Attributes:
        model_name: The node's SQLMesh name (a model's fully qualified name, or a standalone
            audit's name).
        asset_key: The model's asset; for a node that only audits, the asset its checks are on.
        checks: The selected checks of the node.
        audit_count: Audits SQLMesh runs for the node, selected as checks or not.
        materialize: False for nodes that only audit (external tables with audits, standalone
            audits): their checks are reported, nothing is materialized.
        fetch_row_count: Count the model's rows after it ran, for `dagster/row_count`.
        materialization_metadata: Definition metadata every materialization repeats (the column
            lineage: Dagster reads it from the latest materialization).
        partitions_def: The asset's partitions (one per SQLMesh interval, `partitions.py`): the
            model is reported as one materialization per partition SQLMesh filled. None for an
            unpartitioned model, reported as one materialization.
    """

    model_name: str
    asset_key: dg.AssetKey
    checks: tuple[CheckTarget, ...] = ()
    audit_count: int = 0  # audits SQLMesh runs for the model, selected as checks or not
    materialize: bool = True
    fetch_row_count: bool = False
    materialization_metadata: Mapping[str, Any] = field(default_factory=dict)
    partitions_def: dg.TimeWindowPartitionsDefinition | None = None


@dataclass(frozen=True)
class Selection:
    """A step's selection, split the way SQLMesh runs it.

    Attributes:
        run: Nodes for one `sqlmesh run`: the selected models, and the audit-only nodes (external
            tables read by them, standalone audits whose check is selected).
        audit_only: Nodes whose checks are selected without their model (or in a step that
            materializes nothing): SQLMesh audits their filled intervals, nothing runs.
        expected_identifiers: The snapshot identifier each node has in the deployed code.
    """

    run: dict[str, ModelTarget]
    audit_only: dict[str, ModelTarget]
    expected_identifiers: dict[str, str]


@dataclass(frozen=True)
class Restatement:
    """A restatement somebody asked for.

    Attributes:
        requested_by: Who asked, from the run's tags (the user, backfill, sensor or schedule).
        source: How it was asked (the run tag or the op config).
        run_id: The Dagster run.
    """

    requested_by: str
    source: str
    run_id: str


@dataclass(frozen=True)
class RunRequest:
    """What to run.

    Attributes:
        targets: The selected models by SQLMesh name, with their asset keys and selected checks.
        expected_identifiers: The snapshot identifier each selected model has in the deployed code.
        environment: The SQLMesh environment to run.
        execution_time: SQLMesh's execution time (UTC); now when None.
        audit_only: Nodes whose selected checks are audited over their filled intervals, without
            running anything (a step that selects checks without their model).
        start: The start of the time range to fill (a run's partition range); None for whatever
            SQLMesh has due.
        end: The end of that range (exclusive).
        restatement: Recompute the range through SQLMesh's restatement instead of filling only
            what is missing (`restatement.py`).
        downstream: Models of the code location outside the selection, reported when SQLMesh's
            restatement cascades to them.
    """

    targets: Mapping[str, ModelTarget]
    expected_identifiers: Mapping[str, str]
    environment: str
    execution_time: datetime | None = None
    audit_only: Mapping[str, ModelTarget] = field(default_factory=dict)
    start: datetime | None = None
    end: datetime | None = None
    restatement: Restatement | None = None
    downstream: Mapping[str, ModelTarget] = field(default_factory=dict)
