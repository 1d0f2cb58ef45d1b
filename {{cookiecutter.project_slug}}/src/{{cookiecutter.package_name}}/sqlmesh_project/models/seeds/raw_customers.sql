MODEL (
  name seeds.raw_customers,
  kind SEED (
    path '../../seeds/raw_customers.csv'
  ),
  owner 'data-platform',
  description 'Customers exported from the shop system, one row per customer account (sample data).',
  grain customer_id,
  columns (
    customer_id INT,
    first_name TEXT,
    last_name TEXT,
    email TEXT,
    country_code TEXT,
    signed_up_on DATE
  ),
  column_descriptions (
    customer_id = 'Customer account identifier in the shop system.',
    first_name = 'First name as entered at sign-up.',
    last_name = 'Last name as entered at sign-up.',
    email = 'E-mail address as entered at sign-up.',
    country_code = 'ISO 3166-1 alpha-2 country of the billing address.',
    signed_up_on = 'Day the account was created.'
  ),
  audits (unique_values(columns := customer_id), not_null(columns := (customer_id, email)))
)
