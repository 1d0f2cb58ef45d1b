MODEL (
  name marts.daily_revenue,
  kind INCREMENTAL_BY_TIME_RANGE (
    time_column revenue_date
  ),
  cron '@daily',
  end '2024-03-31', /* The sample's data ends in March 2024: no empty days (or Dagster partitions) after it. Remove for live data. */
  owner 'analytics',
  description 'Revenue per day in US dollars: gross, returned and net. Days without orders have no row.',
  grain revenue_date,
  tags (mart, finance),
  audits (
    unique_values(columns := revenue_date),
    not_null(columns := (revenue_date, order_count, gross_revenue_usd, net_revenue_usd)),
    assert_positive_amounts("column" := gross_revenue_usd),
    accepted_range("column" := net_revenue_usd, min_v := 0)
  )
);

SELECT
  order_date AS revenue_date, /* Day the orders were placed (UTC). */
  COUNT(*) AS order_count, /* Orders placed that day. */
  COUNT(DISTINCT customer_id) AS customer_count, /* Distinct customers who ordered that day. */
  CAST(SUM(amount_usd) AS DECIMAL(18, 2)) AS gross_revenue_usd, /* Amount paid for all orders, in US dollars. */
  CAST(SUM(CASE WHEN is_returned THEN amount_usd ELSE 0 END) AS DECIMAL(18, 2)) AS returned_usd, /* Amount of orders later returned, in US dollars. */
  CAST(SUM(CASE WHEN is_returned THEN 0 ELSE amount_usd END) AS DECIMAL(18, 2)) AS net_revenue_usd /* Gross minus returned, in US dollars. */
FROM marts.orders
WHERE
  order_date BETWEEN @start_date AND @end_date
GROUP BY
  order_date
