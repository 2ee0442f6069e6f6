ALTER TABLE photomatons
    DROP COLUMN probed_at,
    DROP COLUMN paper_observed_at;
