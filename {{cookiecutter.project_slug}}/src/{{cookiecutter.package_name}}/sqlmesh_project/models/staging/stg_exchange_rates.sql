MODEL (
  name staging.stg_exchange_rates,
  kind VIEW,
  owner 'data-platform',
  description 'Monthly average exchange rates to US dollars, read from the external source raw.exchange_rates.',
  grain (currency_code, rate_month),
  audits (
    unique_combination_of_columns(columns := (currency_code, rate_month)),
    not_null(columns := (currency_code, rate_month, usd_per_unit))
  )
);

SELECT
  UPPER(currency_code) AS currency_code, /* ISO 4217 currency code. */
  rate_month, /* First day of the month the rate applies to. */
  usd_per_unit /* US dollars per one unit of the currency (monthly average). */
FROM raw.exchange_rates
