ALTER TABLE users DROP COLUMN fleet_view;
