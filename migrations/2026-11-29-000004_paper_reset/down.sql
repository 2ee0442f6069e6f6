ALTER TABLE photomatons DROP COLUMN paper_reset_at, DROP COLUMN paper_reset_prints;
