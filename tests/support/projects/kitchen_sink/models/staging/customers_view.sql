MODEL (
  name staging.customers_view,
  kind VIEW
);

SELECT customer_id, name FROM seeds.customers
