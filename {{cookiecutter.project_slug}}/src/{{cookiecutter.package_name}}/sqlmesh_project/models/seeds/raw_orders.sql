MODEL (
  name seeds.raw_orders,
  kind SEED (
    path '../../seeds/raw_orders.csv'
  ),
  owner 'data-platform',
  description 'Orders exported from the shop system, one row per order (sample data, January to March 2024).',
  grain order_id,
  columns (
    order_id INT,
    customer_id INT,
    ordered_at TIMESTAMP,
    status TEXT,
    currency_code TEXT
  ),
  column_descriptions (
    order_id = 'Order identifier in the shop system.',
    customer_id = 'Customer who placed the order.',
    ordered_at = 'When the order was placed (UTC).',
    status = 'Fulfilment status: placed, shipped, completed or returned.',
    currency_code = 'ISO 4217 currency the order was charged in.'
  ),
  audits (
    unique_values(columns := order_id),
    not_null(columns := (order_id, customer_id, ordered_at))
  )
)
