DROP TRIGGER photomatons_connectivity_update ON photomatons;
DROP FUNCTION record_connectivity();
DROP TABLE connectivity_changes;
