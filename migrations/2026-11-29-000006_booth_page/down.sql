DROP TRIGGER photomatons_paper_level_update ON photomatons;
DROP TRIGGER photomatons_paper_level_insert ON photomatons;
DROP FUNCTION record_paper_level();
DROP TABLE paper_levels;
ALTER TABLE photomatons DROP COLUMN agent_backlog, DROP COLUMN agent_version;
