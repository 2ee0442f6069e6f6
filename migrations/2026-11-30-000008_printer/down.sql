ALTER TABLE photomatons
    DROP COLUMN printer_name,
    DROP COLUMN printer_state,
    DROP COLUMN printer_detail,
    DROP COLUMN printer_observed_at;
