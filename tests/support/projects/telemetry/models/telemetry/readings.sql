-- One reading per device and hour.
MODEL (
  name telemetry.readings,
  kind INCREMENTAL_BY_TIME_RANGE (time_column reading_hour),
  interval_unit hour,
  grain (device_id, reading_hour),
  audits (
    not_null(columns := (device_id, reading_hour, value)),
    unique_combination_of_columns(columns := (device_id, reading_hour))
  )
);

SELECT
  devices.device_id,
  CAST(@start_ts AS TIMESTAMP) AS reading_hour,
  devices.device_id * 10 AS value
FROM seeds.devices AS devices
