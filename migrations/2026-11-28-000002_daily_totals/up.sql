-- Media per booth and day (company time, Europe/Paris), kept by the recorder in the same
-- transaction as the media rows: the fleet view reads today's counts of 1,000 booths from here
-- instead of summing every media row of the day on each request.
CREATE TABLE photomaton_daily_totals (
    photomaton_id integer NOT NULL REFERENCES photomatons (id) ON DELETE CASCADE,
    day           date NOT NULL,
    sessions      bigint NOT NULL DEFAULT 0,
    photos        bigint NOT NULL DEFAULT 0,
    prints        bigint NOT NULL DEFAULT 0,
    digital       bigint NOT NULL DEFAULT 0,
    gifs          bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (photomaton_id, day)
);

INSERT INTO photomaton_daily_totals (photomaton_id, day, sessions, photos, prints, digital, gifs)
SELECT photomaton_id, ("timestamp" AT TIME ZONE 'Europe/Paris')::date,
       coalesce(sum(count) FILTER (WHERE media_type = 'SESSION'), 0),
       coalesce(sum(count) FILTER (WHERE media_type = 'PHOTO'), 0),
       coalesce(sum(count) FILTER (WHERE media_type = 'PRINT'), 0),
       coalesce(sum(count) FILTER (WHERE media_type = 'DIGITAL'), 0),
       coalesce(sum(count) FILTER (WHERE media_type = 'GIF'), 0)
FROM photos
GROUP BY 1, 2;
