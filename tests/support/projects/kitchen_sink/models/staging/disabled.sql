-- Disabled: SQLMesh ignores it, so Dagster never shows it.
MODEL (
  name staging.disabled_model,
  kind FULL,
  enabled false
);

SELECT 1 AS id
