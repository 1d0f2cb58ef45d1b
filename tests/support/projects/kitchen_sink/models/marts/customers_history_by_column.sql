MODEL (
  name marts.customers_history_by_column,
  kind SCD_TYPE_2_BY_COLUMN (unique_key customer_id, columns [tier])
);

SELECT customer_id, name, tier FROM seeds.customers
