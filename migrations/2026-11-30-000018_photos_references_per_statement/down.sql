DROP TRIGGER events_delete_photos ON events;
DROP FUNCTION photos_of_deleted_events();
DROP TRIGGER photomatons_delete_photos ON photomatons;
DROP FUNCTION photos_of_deleted_booths();
DROP TRIGGER photos_0_check_updated_references ON photos;
DROP TRIGGER photos_0_check_inserted_references ON photos;
DROP FUNCTION photos_check_updated_references();
DROP FUNCTION photos_check_inserted_references();
DROP FUNCTION photos_check_named(integer[], integer[]);
-- Media that name nothing any more (written meanwhile by hand) could not be kept by the keys.
DELETE FROM photos p WHERE NOT EXISTS (SELECT 1 FROM photomatons b WHERE b.id = p.photomaton_id);
UPDATE photos p SET event_id = NULL
    WHERE event_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM events e WHERE e.id = p.event_id);
ALTER TABLE photos
    ADD CONSTRAINT photos_event_id_fkey
        FOREIGN KEY (event_id) REFERENCES events (id) ON DELETE CASCADE,
    ADD CONSTRAINT photos_photomaton_id_fkey
        FOREIGN KEY (photomaton_id) REFERENCES photomatons (id) ON DELETE CASCADE;
