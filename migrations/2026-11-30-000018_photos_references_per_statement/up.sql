-- `photos` takes one row per media line of every batch: it is the table that recording
-- writes most. Its two foreign keys were checked row by row (PostgreSQL runs a lookup of the
-- booth and one of the event for every media row), which was about 40 % of the cost of
-- inserting a row. They are replaced by the same guarantees, checked once per statement:
--
-- * an insert or update of `photos` that names a booth or an event that does not exist fails
--   with `foreign_key_violation` (SQLSTATE 23503), as the constraint did;
-- * the booths and events it names (an update: those it changes) are locked `FOR KEY SHARE`
--   until its transaction ends, as the constraint's check did, so that deleting one of them waits for the transaction, and
--   a transaction that waited for a deletion fails instead of writing orphans;
-- * deleting a booth or an event deletes its media (`ON DELETE CASCADE`, as before).
--
-- Unlike the constraints, they do not follow `TRUNCATE … CASCADE` of `photomatons` or
-- `events`, a change of their `id` (identity columns the code never updates), or a
-- transaction in REPEATABLE READ deleting a booth whose media another one just wrote (the
-- cascade would not see them); the services do none of these.

ALTER TABLE photos
    DROP CONSTRAINT photos_event_id_fkey,
    DROP CONSTRAINT photos_photomaton_id_fkey;

-- The booths and events that rows of `photos` now name: locked, then each must exist.
CREATE FUNCTION photos_check_named(booth_ids integer[], event_ids integer[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    missing integer;
BEGIN
    -- In key order, so that two writers cannot deadlock on them.
    PERFORM 1 FROM photomatons WHERE id = ANY (booth_ids) ORDER BY id FOR KEY SHARE;
    PERFORM 1 FROM events WHERE id = ANY (event_ids) ORDER BY id FOR KEY SHARE;
    SELECT b INTO missing FROM unnest(booth_ids) AS b
        WHERE NOT EXISTS (SELECT 1 FROM photomatons p WHERE p.id = b) LIMIT 1;
    IF missing IS NOT NULL THEN
        RAISE foreign_key_violation
            USING MESSAGE = format('photos name photomaton %s, which does not exist', missing);
    END IF;
    SELECT e INTO missing FROM unnest(event_ids) AS e
        WHERE NOT EXISTS (SELECT 1 FROM events v WHERE v.id = e) LIMIT 1;
    IF missing IS NOT NULL THEN
        RAISE foreign_key_violation
            USING MESSAGE = format('photos name event %s, which does not exist', missing);
    END IF;
END
$$;

CREATE FUNCTION photos_check_inserted_references() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM photos_check_named(
        ARRAY(SELECT DISTINCT photomaton_id FROM new_photos),
        ARRAY(SELECT DISTINCT event_id FROM new_photos WHERE event_id IS NOT NULL));
    RETURN NULL;
END
$$;

-- As a foreign key does, an update checks (and locks) only the references it changes: moving
-- media to another event (`reattribute`) must not lock their booth, which the recorder holds.
CREATE FUNCTION photos_check_updated_references() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM photos_check_named(
        ARRAY(SELECT DISTINCT n.photomaton_id FROM new_photos n JOIN old_photos o USING (id)
              WHERE n.photomaton_id IS DISTINCT FROM o.photomaton_id),
        ARRAY(SELECT DISTINCT n.event_id FROM new_photos n JOIN old_photos o USING (id)
              WHERE n.event_id IS NOT NULL AND n.event_id IS DISTINCT FROM o.event_id));
    RETURN NULL;
END
$$;

-- Triggers fire in the order of their names: the references are checked before
-- `photos_add_event_hourly_totals` adds the rows to the totals.
CREATE TRIGGER photos_0_check_inserted_references
    AFTER INSERT ON photos
    REFERENCING NEW TABLE AS new_photos
    FOR EACH STATEMENT EXECUTE FUNCTION photos_check_inserted_references();

CREATE TRIGGER photos_0_check_updated_references
    AFTER UPDATE ON photos
    REFERENCING OLD TABLE AS old_photos NEW TABLE AS new_photos
    FOR EACH STATEMENT EXECUTE FUNCTION photos_check_updated_references();

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
