MODEL (
  name marts.customers,
  kind FULL,
  cron '@daily',
  owner 'analytics',
  description 'One row per customer with order history and lifetime value in US dollars (returned orders excluded). Rebuilt in full every day.',
  grain customer_id,
  tags (mart, customer),
  audits (
    unique_values(columns := customer_id),
    not_null(
      columns := (customer_id, full_name, order_count, lifetime_value_usd, customer_segment)
    ),
    accepted_range("column" := lifetime_value_usd, min_v := 0),
    accepted_values("column" := customer_segment, is_in := ('prospect', 'active', 'loyal')),
    match_like_pattern_list_non_blocking("column" := email, patterns := '%_@_%._%') /* Non-blocking: a malformed e-mail is a data-entry issue, not a reason to stop the pipeline. LIKE, not valid_email: its regex fails on Postgres. */
  )
);

WITH order_history AS (
  SELECT
    customer_id,
    COUNT(*) AS order_count,
    MIN(order_date) AS first_order_date,
    MAX(order_date) AS last_order_date,
    SUM(CASE WHEN is_returned THEN 0 ELSE amount_usd END) AS lifetime_value_usd
  FROM marts.orders
  GROUP BY
    customer_id
)
SELECT
  customers.customer_id, /* Customer account identifier. */
  customers.full_name, /* First and last name. */
  customers.email, /* E-mail address, lower-cased. */
  customers.country_code, /* ISO 3166-1 alpha-2 country of the billing address. */
  customers.signed_up_on, /* Day the account was created. */
  order_history.first_order_date, /* Day of the first order; NULL for prospects. */
  order_history.last_order_date, /* Day of the latest order; NULL for prospects. */
  COALESCE(order_history.order_count, 0) AS order_count, /* Orders placed, returned ones included. */
  CAST(COALESCE(order_history.lifetime_value_usd, 0) AS DECIMAL(18, 2)) AS lifetime_value_usd, /* Amount paid for orders not returned, in US dollars. */
  CASE
    WHEN order_history.order_count IS NULL
    THEN 'prospect'
    WHEN order_history.order_count >= 4
    THEN 'loyal'
    ELSE 'active'
  END AS customer_segment /* prospect (no order yet), active (1-3 orders) or loyal (4 or more). */
FROM staging.stg_customers AS customers
LEFT JOIN order_history
  ON order_history.customer_id = customers.customer_id
