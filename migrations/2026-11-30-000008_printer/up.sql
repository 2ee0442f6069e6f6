-- The booth's printer as its agent last reported it (Windows spooler, or CUPS): a printer out
-- of paper or in error is as urgent as a critical paper level.
ALTER TABLE photomatons
    ADD COLUMN printer_name text,
    ADD COLUMN printer_state text
        CHECK (printer_state IN ('ready', 'printing', 'offline', 'paper_out', 'error')),
    ADD COLUMN printer_detail text,
    ADD COLUMN printer_observed_at timestamptz;
