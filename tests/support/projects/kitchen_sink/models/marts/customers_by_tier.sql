MODEL (
  name marts.customers_by_tier,
  kind INCREMENTAL_BY_PARTITION,
  partitioned_by tier
);

SELECT tier, COUNT(*) AS customers FROM seeds.customers GROUP BY tier
