MODEL (
  name seeds.customers,
  kind SEED (path '../../seeds/customers.csv'),
  columns (customer_id INT, name TEXT, tier TEXT, updated_at TIMESTAMP),
  grain customer_id,
  audits (not_null(columns := (customer_id)))
);
