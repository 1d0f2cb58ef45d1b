MODEL (
  name staging.stg_payments,
  kind VIEW,
  owner 'data-platform',
  description 'Payments with amounts converted from cents to the order currency.',
  grain payment_id,
  audits (
    unique_values(columns := payment_id)
  )
);

SELECT
  payment_id, /* Payment identifier at the payment provider. */
  order_id, /* Order the payment belongs to. */
  LOWER(payment_method) AS payment_method, /* credit_card, paypal, bank_transfer or gift_card. */
  @cents_to_amount(amount_cents) AS amount, /* Amount in the order currency. */
  paid_at /* When the payment was captured (UTC). */
FROM seeds.raw_payments
