-- A booth's own alert delays, when the fleet's (`notify.down_after_secs`,
-- `notify.silent_after_secs`) do not suit it (a venue whose 4G drops for a minute every hour).
-- A row only for booths that have their own; a NULL column: the fleet's. Apart from
-- `photomatons`, whose Diesel table is at its 32-column limit.
CREATE TABLE photomaton_alert_delays (
    photomaton_id     integer PRIMARY KEY REFERENCES photomatons (id) ON DELETE CASCADE,
    down_after_secs   integer CHECK (down_after_secs BETWEEN 10 AND 86400),
    silent_after_secs integer CHECK (silent_after_secs BETWEEN 10 AND 86400)
);
