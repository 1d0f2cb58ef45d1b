"""The metadata and tag keys this integration puts on Dagster specs, runs and events.

Every key lives in the `sqlmesh/` namespace (beside Dagster's own `dagster/` keys), defined here
once. The spec builder writes the identity keys; the resource and the sensor read them back to map
a step's selection to SQLMesh nodes, so no global registry is needed.
"""

from __future__ import annotations

# Identity: which SQLMesh node a spec or check stands for.
METADATA_MODEL_NAME = "sqlmesh/model_name"
METADATA_SNAPSHOT_IDENTIFIER = "sqlmesh/snapshot_identifier"
# Audits as checks: the audit, whether it blocks, and how many audits the node has.
METADATA_AUDIT_NAME = "sqlmesh/audit_name"
METADATA_AUDIT_BLOCKING = "sqlmesh/audit_blocking"
METADATA_AUDIT_COUNT = "sqlmesh/audit_count"
METADATA_AUDIT_ARGUMENT_PREFIX = "sqlmesh/audit_argument/"
# What the audited SQLMesh node is: a model of the multi-asset, an external table, or a standalone
# audit (the node's SQLMesh name is in `sqlmesh/model_name`).
METADATA_AUDITED_NODE = "sqlmesh/audited_node"
NODE_MODEL = "model"
NODE_EXTERNAL = "external"
NODE_STANDALONE = "standalone_audit"
# Definition-time description of a model.
METADATA_KIND = "sqlmesh/kind"
METADATA_CRON = "sqlmesh/cron"
METADATA_DIALECT = "sqlmesh/dialect"
METADATA_PHYSICAL_TABLE = "sqlmesh/physical_table"
METADATA_GRAIN = "sqlmesh/grain"
METADATA_TIME_COLUMN = "sqlmesh/time_column"
METADATA_FILE_PATH = "sqlmesh/file_path"
METADATA_START = "sqlmesh/start"
METADATA_INLINED_INTO = "sqlmesh/inlined_into"
# Whether a run counts the model's rows after it is materialized (`dagster/row_count`).
METADATA_FETCH_ROW_COUNT = "sqlmesh/fetch_row_count"
# The SQLMesh environment a materialization, observation or failure is about.
METADATA_ENVIRONMENT = "sqlmesh/environment"
# What a materialization reports (events.py; the mirror's and the up-to-date observations too).
METADATA_SNAPSHOT_VERSION = "sqlmesh/snapshot_version"
METADATA_INTERVALS = "sqlmesh/intervals"
METADATA_INTERVAL_COUNT = "sqlmesh/interval_count"
METADATA_BATCH_COUNT = "sqlmesh/batch_count"
METADATA_INTERVAL_END = "sqlmesh/interval_end"
METADATA_DURATION_SECONDS = "sqlmesh/duration_seconds"
METADATA_ROWS_PROCESSED = "sqlmesh/rows_processed"
METADATA_PARTITION_INTERVAL = "sqlmesh/partition_interval"
METADATA_STATUS = "sqlmesh/status"
# What a failed audit's check result reports.
METADATA_FAILED_ROWS = "sqlmesh/failed_rows"
# Failures: what a failed step's Dagster failure names (see errors.py).
METADATA_FAILED_MODELS = "sqlmesh/failed_models"
METADATA_SKIPPED_MODELS = "sqlmesh/skipped_models"
METADATA_NOT_APPLIED_MODELS = "sqlmesh/not_applied_models"
# The mirror's runless materializations (mirror.py): where the data came from.
METADATA_SOURCE = "sqlmesh/source"
METADATA_PLAN_ID = "sqlmesh/plan_id"
METADATA_CI_RUN_URL = "sqlmesh/ci_run_url"
METADATA_FILLED_AT = "sqlmesh/filled_at"
# What the janitor job dropped (janitor.py, cleanup.py): names as the state and warehouse show them.
METADATA_DROPPED_ENVIRONMENTS = "sqlmesh/dropped_environments"
METADATA_DROPPED_VIEWS = "sqlmesh/dropped_views"
METADATA_DROPPED_TABLES = "sqlmesh/dropped_tables"
METADATA_JANITOR_WARNINGS = "sqlmesh/janitor_warnings"
# Run tags.
TAG_DUE_MODELS = "sqlmesh/due_models"
TAG_RESTATE = "sqlmesh/restate"  # opt-in recompute of a run's range (restatement.py)
