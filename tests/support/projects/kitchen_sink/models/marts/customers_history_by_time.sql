MODEL (
  name marts.customers_history_by_time,
  kind SCD_TYPE_2_BY_TIME (unique_key customer_id, updated_at_name updated_at)
);

SELECT customer_id, name, tier, updated_at FROM seeds.customers
