DROP TABLE agent_commands;
ALTER TABLE photomatons DROP COLUMN agent_seen_at;
