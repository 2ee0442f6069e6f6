-- `photos` takes one row per media line of every batch: it is the table that recording
-- writes most. Its two foreign keys were checked row by row (PostgreSQL runs a lookup of the
-- booth and one of the event for every media row), which was about 40 % of the cost of
-- inserting a row. They are replaced by the same guarantees, checked once per statement:
--
-- * an insert or update of `photos` that names a booth or an event that does not exist fails
--   with `foreign_key_violation` (SQLSTATE 23503), as the constraint did;
-- * the booths and events it names are locked `FOR KEY SHARE` until its transaction ends, as
--   the constraint's check did, so that deleting one of them waits for the transaction, and
--   a transaction that waited for a deletion fails instead of writing orphans;
-- * deleting a booth or an event deletes its media (`ON DELETE CASCADE`, as before).

ALTER TABLE photos
    DROP CONSTRAINT photos_event_id_fkey,
    DROP CONSTRAINT photos_photomaton_id_fkey;

CREATE FUNCTION photos_check_references() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    missing text;
BEGIN
    -- In key order, so that two writers cannot deadlock on them.
    PERFORM 1 FROM photomatons
        WHERE id IN (SELECT DISTINCT photomaton_id FROM new_photos)
        ORDER BY id FOR KEY SHARE;
    PERFORM 1 FROM events
        WHERE id IN (SELECT DISTINCT event_id FROM new_photos)
        ORDER BY id FOR KEY SHARE;
    SELECT format('photomaton %s', n.photomaton_id) INTO missing
        FROM new_photos n
        WHERE NOT EXISTS (SELECT 1 FROM photomatons p WHERE p.id = n.photomaton_id)
        LIMIT 1;
    IF missing IS NULL THEN
        SELECT format('event %s', n.event_id) INTO missing
            FROM new_photos n
            WHERE n.event_id IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM events e WHERE e.id = n.event_id)
            LIMIT 1;
    END IF;
    IF missing IS NOT NULL THEN
        RAISE foreign_key_violation
            USING MESSAGE = format('photos name %s, which does not exist', missing);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER photos_check_inserted_references
    AFTER INSERT ON photos
    REFERENCING NEW TABLE AS new_photos
    FOR EACH STATEMENT EXECUTE FUNCTION photos_check_references();

CREATE TRIGGER photos_check_updated_references
    AFTER UPDATE ON photos
    REFERENCING NEW TABLE AS new_photos
    FOR EACH STATEMENT EXECUTE FUNCTION photos_check_references();

CREATE FUNCTION photos_of_deleted_booths() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM photos WHERE photomaton_id IN (SELECT id FROM deleted);
    RETURN NULL;
END
$$;

CREATE TRIGGER photomatons_delete_photos
    AFTER DELETE ON photomatons
    REFERENCING OLD TABLE AS deleted
    FOR EACH STATEMENT EXECUTE FUNCTION photos_of_deleted_booths();

CREATE FUNCTION photos_of_deleted_events() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM photos WHERE event_id IN (SELECT id FROM deleted);
    RETURN NULL;
END
$$;

CREATE TRIGGER events_delete_photos
    AFTER DELETE ON events
    REFERENCING OLD TABLE AS deleted
    FOR EACH STATEMENT EXECUTE FUNCTION photos_of_deleted_events();
