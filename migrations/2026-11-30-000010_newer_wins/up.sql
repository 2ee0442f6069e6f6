-- Newer wins: a probe report or an agent's paper level is applied only if it was observed no
-- earlier than the one applied last, so that a message redelivered late (after a nak, or a
-- recorder restart) never puts back an older state.
ALTER TABLE photomatons
    ADD COLUMN probed_at timestamptz,
    ADD COLUMN paper_observed_at timestamptz;
