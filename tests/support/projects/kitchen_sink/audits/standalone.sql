-- A standalone audit: a node of its own that checks two models together.
AUDIT (
  name every_customer_scored,
  standalone true,
  blocking false
);

SELECT c.customer_id
FROM marts.customer_summary AS c
LEFT JOIN marts.scored_customers AS s ON c.customer_id = s.customer_id
WHERE s.customer_id IS NULL
