MODEL (
  name staging.stg_customers,
  kind VIEW,
  owner 'data-platform',
  description 'Customers, cleaned: full name, normalised e-mail and country code.',
  grain customer_id,
  audits (
    unique_values(columns := customer_id)
  )
);

SELECT
  customer_id, /* Customer account identifier. */
  CONCAT(first_name, ' ', last_name) AS full_name, /* First and last name. */
  LOWER(TRIM(email)) AS email, /* E-mail address, trimmed and lower-cased. */
  UPPER(country_code) AS country_code, /* ISO 3166-1 alpha-2 country of the billing address. */
  signed_up_on /* Day the account was created. */
FROM seeds.raw_customers
