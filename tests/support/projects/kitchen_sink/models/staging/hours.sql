-- Hourly intervals over the last day; a signal holds back every odd hour (never ready).
MODEL (
  name staging.hours,
  kind INCREMENTAL_BY_TIME_RANGE (time_column event_hour),
  cron '@hourly',
  interval_unit hour,
  start '1 day ago',
  signals (hours_landed()),
  grain event_hour
);

SELECT CAST(@start_ts AS TIMESTAMP) AS event_hour, 1 AS events
