-- Monthly intervals.
MODEL (
  name staging.months,
  kind INCREMENTAL_BY_TIME_RANGE (time_column month_start),
  cron '@monthly',
  interval_unit month,
  start '3 months ago',
  grain month_start
);

SELECT CAST(@start_ds AS DATE) AS month_start
