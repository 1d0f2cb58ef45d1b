MODEL (
  name seeds.devices,
  kind SEED (path '../../seeds/devices.csv'),
  columns (device_id INT, site TEXT),
  grain device_id,
  audits (unique_values(columns := device_id))
);
