-- Blueprints: one file, one model per region.
MODEL (
  name marts.customers_@{region},
  kind FULL,
  blueprints ((region := eu, currency := 'EUR'), (region := us, currency := 'USD'))
);

SELECT customer_id, @currency AS currency, c.label AS currency_label
FROM seeds.customers
JOIN raw.currencies AS c ON c.code = @currency
