-- Media per event, booth and hour (UTC): what an event's page shows (its timeline and its
-- totals per booth) without summing every media row of the event on each request (an event
-- of a busy weekend has hundreds of thousands of them).
--
-- Kept by a statement trigger on `photos`, in the transaction that inserts the media, whoever
-- inserts them (the recorder, a test, a script). A restore does not count twice: pg_dump puts
-- triggers in its post-data section, created after the data is loaded. Media rows are never
-- updated; deleting an event or a booth deletes its media and these rows alike (cascades).

-- No media may be inserted between the backfill below and the trigger (a gateway of the
-- previous version still running): they would be missing here for ever.
LOCK TABLE photos IN SHARE ROW EXCLUSIVE MODE;

CREATE TABLE event_hourly_totals (
    event_id      integer NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    hour          timestamptz NOT NULL,
    photomaton_id integer NOT NULL REFERENCES photomatons (id) ON DELETE CASCADE,
    sessions      bigint NOT NULL DEFAULT 0,
    photos        bigint NOT NULL DEFAULT 0,
    prints        bigint NOT NULL DEFAULT 0,
    digital       bigint NOT NULL DEFAULT 0,
    gifs          bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (event_id, hour, photomaton_id)
);
CREATE INDEX event_hourly_totals_photomaton_idx ON event_hourly_totals (photomaton_id);

CREATE FUNCTION add_event_hourly_totals() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- In key order, so that two transactions adding to the same hours cannot deadlock.
    INSERT INTO event_hourly_totals AS t (event_id, hour, photomaton_id, sessions, photos, prints, digital, gifs)
    SELECT event_id, date_trunc('hour', "timestamp", 'UTC'), photomaton_id,
           coalesce(sum(count) FILTER (WHERE media_type = 'SESSION'), 0),
           coalesce(sum(count) FILTER (WHERE media_type = 'PHOTO'), 0),
           coalesce(sum(count) FILTER (WHERE media_type = 'PRINT'), 0),
           coalesce(sum(count) FILTER (WHERE media_type = 'DIGITAL'), 0),
           coalesce(sum(count) FILTER (WHERE media_type = 'GIF'), 0)
    FROM new_photos
    WHERE event_id IS NOT NULL
    GROUP BY 1, 2, 3
    ORDER BY 1, 2, 3
    ON CONFLICT (event_id, hour, photomaton_id) DO UPDATE SET
        sessions = t.sessions + excluded.sessions,
        photos = t.photos + excluded.photos,
        prints = t.prints + excluded.prints,
        digital = t.digital + excluded.digital,
        gifs = t.gifs + excluded.gifs;
    RETURN NULL;
END
$$;

-- What is already there.
INSERT INTO event_hourly_totals (event_id, hour, photomaton_id, sessions, photos, prints, digital, gifs)
SELECT event_id, date_trunc('hour', "timestamp", 'UTC'), photomaton_id,
       coalesce(sum(count) FILTER (WHERE media_type = 'SESSION'), 0),
       coalesce(sum(count) FILTER (WHERE media_type = 'PHOTO'), 0),
       coalesce(sum(count) FILTER (WHERE media_type = 'PRINT'), 0),
       coalesce(sum(count) FILTER (WHERE media_type = 'DIGITAL'), 0),
       coalesce(sum(count) FILTER (WHERE media_type = 'GIF'), 0)
FROM photos
WHERE event_id IS NOT NULL
GROUP BY 1, 2, 3;

CREATE TRIGGER photos_add_event_hourly_totals
    AFTER INSERT ON photos
    REFERENCING NEW TABLE AS new_photos
    FOR EACH STATEMENT EXECUTE FUNCTION add_event_hourly_totals();
