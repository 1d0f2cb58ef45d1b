MODEL (
  name seeds.raw_payments,
  kind SEED (
    path '../../seeds/raw_payments.csv'
  ),
  owner 'data-platform',
  description 'Payments captured by the payment provider, one row per payment; an order can be paid in several parts (sample data).',
  grain payment_id,
  columns (
    payment_id INT,
    order_id INT,
    payment_method TEXT,
    amount_cents INT,
    paid_at TIMESTAMP
  ),
  column_descriptions (
    payment_id = 'Payment identifier at the payment provider.',
    order_id = 'Order the payment belongs to.',
    payment_method = 'credit_card, paypal, bank_transfer or gift_card.',
    amount_cents = 'Amount in minor units (cents) of the order currency.',
    paid_at = 'When the payment was captured (UTC).'
  ),
  audits (
    unique_values(columns := payment_id),
    not_null(columns := (payment_id, order_id, amount_cents))
  )
)
