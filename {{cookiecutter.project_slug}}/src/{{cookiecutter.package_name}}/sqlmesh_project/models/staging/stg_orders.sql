MODEL (
  name staging.stg_orders,
  kind VIEW,
  owner 'data-platform',
  description 'Orders, cleaned: order day derived from the order timestamp, normalised status and currency.',
  grain order_id,
  audits (
    unique_values(columns := order_id)
  )
);

SELECT
  order_id, /* Order identifier. */
  customer_id, /* Customer who placed the order. */
  ordered_at, /* When the order was placed (UTC). */
  CAST(ordered_at AS DATE) AS order_date, /* Day the order was placed (UTC); the marts' time column. */
  LOWER(status) AS status, /* Fulfilment status: placed, shipped, completed or returned. */
  LOWER(status) = 'returned' AS is_returned, /* True when the customer sent the order back. */
  UPPER(currency_code) AS currency_code /* ISO 4217 currency the order was charged in. */
FROM seeds.raw_orders
