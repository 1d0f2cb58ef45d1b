-- EMBEDDED: no table; SQLMesh inlines it as a subquery wherever it is referenced.
MODEL (
  name staging.customer_tiers,
  kind EMBEDDED
);

SELECT customer_id, UPPER(tier) AS tier FROM seeds.customers
