DROP TRIGGER photos_add_event_hourly_totals ON photos;
DROP FUNCTION add_event_hourly_totals();
DROP TABLE event_hourly_totals;
