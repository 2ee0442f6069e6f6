DROP TRIGGER photos_inserted ON photos;
DROP FUNCTION photos_inserted();

CREATE FUNCTION photos_check_inserted_references() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM photos_check_named(
        ARRAY(SELECT DISTINCT photomaton_id FROM new_photos),
        ARRAY(SELECT DISTINCT event_id FROM new_photos WHERE event_id IS NOT NULL));
    RETURN NULL;
END
$$;

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

CREATE TRIGGER photos_0_check_inserted_references
    AFTER INSERT ON photos
    REFERENCING NEW TABLE AS new_photos
    FOR EACH STATEMENT EXECUTE FUNCTION photos_check_inserted_references();

CREATE TRIGGER photos_add_event_hourly_totals
    AFTER INSERT ON photos
    REFERENCING NEW TABLE AS new_photos
    FOR EACH STATEMENT EXECUTE FUNCTION add_event_hourly_totals();
