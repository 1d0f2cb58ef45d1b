"""The kitchen-sink project's config, in Python (SQLMesh reads `config.py` when there is no YAML).

One DuckDB gateway. The database path is relative: the integration resolves it against the
repository root, like the shipped sample's `local.duckdb`.
"""

from sqlmesh.core.config import (
    Config,
    DuckDBConnectionConfig,
    GatewayConfig,
    ModelDefaultsConfig,
)

config = Config(
    gateways={"local": GatewayConfig(connection=DuckDBConnectionConfig(database="local.duckdb"))},
    default_gateway="local",
    # A relative start: every model without its own start covers the last two weeks.
    model_defaults=ModelDefaultsConfig(dialect="duckdb", start="2 weeks ago", cron="@daily"),
    variables={"event_weight": 3},
    # The external source the models read, landed here so the project is self-contained.
    before_all=[
        "CREATE SCHEMA IF NOT EXISTS raw",
        "CREATE TABLE IF NOT EXISTS raw.currencies AS "
        "SELECT * FROM (VALUES ('EUR', 'Euro'), ('USD', 'US dollar')) AS t(code, label)",
    ],
)
