-- An event's media are those its booth made inside the event's window, whatever the event's
-- status and whenever the agent reported them: a booth offline all Saturday night that
-- reports on Monday, after Notion marked the wedding "Terminé", gives the wedding its prints.
-- The window comes from Notion's date (notion-sync computes it, see `paris::event_window`);
-- an event written before this migration gets its Paris day, from midnight to 08:00 the next
-- day (`events.overrun_hours`' default).
ALTER TABLE events ADD COLUMN window_start timestamptz, ADD COLUMN window_end timestamptz;
UPDATE events SET
    window_start = ((event_date AT TIME ZONE 'Europe/Paris')::date)::timestamp AT TIME ZONE 'Europe/Paris',
    window_end = (((event_date AT TIME ZONE 'Europe/Paris')::date + 1)::timestamp + interval '8 hours') AT TIME ZONE 'Europe/Paris'
WHERE event_date IS NOT NULL;
CREATE INDEX events_window_idx ON events (photomaton_id, window_start);

-- The event a media of `booth` made at `at` belongs to: the latest-starting window holding it.
CREATE FUNCTION event_at(booth integer, at timestamptz) RETURNS integer
LANGUAGE sql STABLE AS $$
    SELECT id FROM events
    WHERE photomaton_id = booth AND window_start <= at AND at < window_end
    ORDER BY window_start DESC, id DESC
    LIMIT 1
$$;

-- Rebuilds the totals of `ids` (per type, and per hour and booth) from their media rows:
-- after media moved between events, and for an admin's recount.
CREATE FUNCTION recount_events(ids integer[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM event_hourly_totals WHERE event_id = ANY (ids);
    INSERT INTO event_hourly_totals (event_id, hour, photomaton_id, sessions, photos, prints, digital, gifs)
    SELECT event_id, date_trunc('hour', "timestamp", 'UTC'), photomaton_id,
           coalesce(sum(count) FILTER (WHERE media_type = 'SESSION'), 0),
           coalesce(sum(count) FILTER (WHERE media_type = 'PHOTO'), 0),
           coalesce(sum(count) FILTER (WHERE media_type = 'PRINT'), 0),
           coalesce(sum(count) FILTER (WHERE media_type = 'DIGITAL'), 0),
           coalesce(sum(count) FILTER (WHERE media_type = 'GIF'), 0)
    FROM photos
    WHERE event_id = ANY (ids)
    GROUP BY 1, 2, 3
    ORDER BY 1, 2, 3;
    UPDATE events e SET
        total_sessions = t.sessions, total_photos = t.photos, total_prints = t.prints,
        total_digital = t.digital, total_gifs = t.gifs, updated_at = now()
    FROM (
        SELECT i AS id,
               coalesce(sum(h.sessions), 0) AS sessions, coalesce(sum(h.photos), 0) AS photos,
               coalesce(sum(h.prints), 0) AS prints, coalesce(sum(h.digital), 0) AS digital,
               coalesce(sum(h.gifs), 0) AS gifs
        FROM unnest(ids) AS i LEFT JOIN event_hourly_totals h ON h.event_id = i
        GROUP BY i
    ) t
    WHERE e.id = t.id;
END
$$;

-- The existing media, attributed by window, and every event counted again. No media may be
-- inserted meanwhile (a gateway of the previous version still running).
LOCK TABLE photos IN SHARE ROW EXCLUSIVE MODE;
UPDATE photos SET event_id = event_at(photomaton_id, "timestamp")
WHERE event_id IS DISTINCT FROM event_at(photomaton_id, "timestamp");
SELECT recount_events(coalesce(array_agg(id), '{}')) FROM events;
