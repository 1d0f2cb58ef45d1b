MODEL (
  name marts.customer_summary,
  kind FULL,
  grain customer_id,
  audits (unique_values(columns := (customer_id)))
);

SELECT c.customer_id, c.name, t.tier
FROM seeds.customers AS c
JOIN staging.customer_tiers AS t ON c.customer_id = t.customer_id
