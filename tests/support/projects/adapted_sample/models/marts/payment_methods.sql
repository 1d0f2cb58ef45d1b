MODEL (
  name marts.payment_methods,
  kind FULL,
  cron '@daily',
  owner 'finance',
  description 'Payments per payment method, in the order currency. Rebuilt in full every day.',
  grain payment_method,
  audits (
    unique_values(columns := payment_method),
    not_null(columns := (payment_method, payment_count, amount)),
    accepted_range("column" := amount, min_v := 0)
  )
);

SELECT
  payment_method, /* credit_card, paypal, bank_transfer or gift_card. */
  COUNT(*) AS payment_count, /* Payments made with the method. */
  CAST(SUM(amount) AS DECIMAL(18, 2)) AS amount /* Amount paid with the method, in the order currency. */
FROM staging.stg_payments
GROUP BY
  payment_method
