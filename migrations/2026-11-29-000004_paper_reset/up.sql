-- The last new roll declared on the dashboard: when, and how many prints it holds. The
-- booth's agent learns it from its next sync; until then the levels it reports still count
-- the previous roll, and the recorder decrements the reset level by the prints it records
-- after the reset instead of taking them.
ALTER TABLE photomatons
    ADD COLUMN paper_reset_at timestamptz,
    ADD COLUMN paper_reset_prints integer CHECK (paper_reset_prints >= 0);
