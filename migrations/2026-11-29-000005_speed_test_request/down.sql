ALTER TABLE photomatons DROP COLUMN speed_test_requested_at;
