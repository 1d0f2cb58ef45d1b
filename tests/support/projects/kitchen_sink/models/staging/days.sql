-- Incremental by time, one row per day, evaluated in batches of 7 daily intervals.
MODEL (
  name staging.days,
  kind INCREMENTAL_BY_TIME_RANGE (time_column event_date, batch_size 7),
  start '1 week ago',
  grain event_date,
  audits (not_null(columns := (event_date)))
);

SELECT
  CAST(day AS DATE) AS event_date,
  @weighted(1) AS events
FROM generate_series(@start_ds::DATE, @end_ds::DATE, INTERVAL 1 DAY) AS days(day)
WHERE CAST(day AS DATE) BETWEEN @start_ds AND @end_ds
