-- Written in PostgreSQL's dialect (`::` casts, ILIKE); SQLMesh transpiles it to DuckDB.
MODEL (
  name staging.postgres_style,
  kind FULL,
  dialect postgres
);

SELECT
  customer_id,
  CASE WHEN tier ILIKE 'GOLD' THEN 1 ELSE 0 END AS is_gold,
  name::VARCHAR AS customer_name
FROM seeds.customers
