-- An event's media are read by event alone (`recount_events`, and deleting the event), never
-- by event and time: an index on `event_id` serves them both. Without the time in the key,
-- PostgreSQL keeps each event's rows as posting lists under one key (b-tree deduplication),
-- where `(event_id, timestamp)` held one entry per media (each has its own time). `COPY` of
-- 400,000 media of 16 booths at their events, three runs: the index 2.6 MB against 12 MB,
-- the COPY 1.27-1.31 s against 1.36-1.43 s.
CREATE INDEX photos_event_idx ON photos (event_id);
DROP INDEX photos_event_timestamp_idx;
