-- INCREMENTAL_UNMANAGED, with a SQL macro variable (@DEF) and a Jinja block.
MODEL (
  name staging.unmanaged,
  kind INCREMENTAL_UNMANAGED
);

@DEF(minimum_id, 1);

JINJA_QUERY_BEGIN;
SELECT customer_id, '{{ "jinja" | upper }}' AS rendered_by
FROM seeds.customers
WHERE customer_id >= @minimum_id
JINJA_END;
