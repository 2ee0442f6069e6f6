CREATE INDEX photos_event_timestamp_idx ON photos (event_id, "timestamp");
DROP INDEX photos_event_idx;
