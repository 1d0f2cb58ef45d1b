-- A standalone audit: every device has readings in the summary.
AUDIT (
  name every_device_reports,
  standalone true,
  cron '@hourly'
);

SELECT devices.device_id
FROM seeds.devices AS devices
LEFT JOIN telemetry.device_summary AS summary
  ON summary.device_id = devices.device_id
WHERE summary.device_id IS NULL
