MODEL (
  name marts.customers_by_key,
  kind INCREMENTAL_BY_UNIQUE_KEY (unique_key customer_id),
  grain customer_id
);

SELECT customer_id, name, updated_at FROM seeds.customers
