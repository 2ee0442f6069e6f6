DROP TRIGGER events_delete_photos ON events;
DROP FUNCTION photos_of_deleted_events();
DROP TRIGGER photomatons_delete_photos ON photomatons;
DROP FUNCTION photos_of_deleted_booths();
DROP TRIGGER photos_check_updated_references ON photos;
DROP TRIGGER photos_check_inserted_references ON photos;
DROP FUNCTION photos_check_references();
ALTER TABLE photos
    ADD CONSTRAINT photos_event_id_fkey
        FOREIGN KEY (event_id) REFERENCES events (id) ON DELETE CASCADE,
    ADD CONSTRAINT photos_photomaton_id_fkey
        FOREIGN KEY (photomaton_id) REFERENCES photomatons (id) ON DELETE CASCADE;
