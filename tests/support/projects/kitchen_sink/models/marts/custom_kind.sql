-- A custom materialization (materializations/append_only.py).
MODEL (
  name marts.custom_kind,
  kind CUSTOM (materialization 'append_only')
);

SELECT customer_id, name FROM seeds.customers
