-- Media keep the events this version gave them.
DROP FUNCTION recount_events(integer[]);
DROP FUNCTION event_at(integer, timestamptz);
DROP INDEX events_window_idx;
ALTER TABLE events DROP COLUMN window_start, DROP COLUMN window_end;
