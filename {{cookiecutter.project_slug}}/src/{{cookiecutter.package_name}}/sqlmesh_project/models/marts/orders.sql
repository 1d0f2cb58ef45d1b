MODEL (
  name marts.orders,
  kind INCREMENTAL_BY_TIME_RANGE (
    time_column order_date
  ),
  cron '@daily',
  end '2024-03-31', /* The sample's data ends in March 2024: no empty days (or Dagster partitions) after it. Remove for live data. */
  owner 'analytics',
  description 'One row per order with its payments summed and converted to US dollars. Loaded day by day on order_date.',
  grain order_id,
  tags (mart, finance),
  audits (
    unique_values(columns := order_id),
    not_null(columns := (order_id, customer_id, order_date, amount, amount_usd)),
    accepted_values("column" := status, is_in := ('placed', 'shipped', 'completed', 'returned')),
    assert_positive_amounts("column" := amount_usd),
    accepted_range("column" := payment_count, min_v := 1, max_v := 2, blocking := FALSE) /* Orders are paid in one or two parts (gift card + card); more is unusual, not wrong: warn only. */
  )
);

WITH order_payments AS (
  SELECT
    order_id,
    COUNT(*) AS payment_count,
    SUM(amount) AS amount
  FROM staging.stg_payments
  GROUP BY
    order_id
)
SELECT
  orders.order_id, /* Order identifier. */
  orders.customer_id, /* Customer who placed the order. */
  orders.order_date, /* Day the order was placed (UTC). */
  orders.ordered_at, /* When the order was placed (UTC). */
  orders.status, /* Fulfilment status: placed, shipped, completed or returned. */
  orders.is_returned, /* True when the customer sent the order back. */
  orders.currency_code, /* ISO 4217 currency the order was charged in. */
  order_payments.payment_count, /* Number of payments that paid the order. */
  CAST(order_payments.amount AS DECIMAL(18, 2)) AS amount, /* Amount paid, in the order currency. */
  CAST(ROUND(order_payments.amount * rates.usd_per_unit, 2) AS DECIMAL(18, 2)) AS amount_usd /* Amount paid in US dollars, at the monthly average rate. */
FROM staging.stg_orders AS orders
INNER JOIN order_payments
  ON order_payments.order_id = orders.order_id
LEFT JOIN staging.stg_exchange_rates AS rates
  ON rates.currency_code = orders.currency_code
  AND rates.rate_month = CAST(DATE_TRUNC('MONTH', orders.order_date) AS DATE)
WHERE
  orders.order_date BETWEEN @start_date AND @end_date
