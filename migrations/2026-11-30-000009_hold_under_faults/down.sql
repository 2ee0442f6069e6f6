DROP TABLE refused_lines;
DROP TABLE dead_letters;
ALTER TABLE events
    ALTER COLUMN total_sessions TYPE integer,
    ALTER COLUMN total_photos TYPE integer,
    ALTER COLUMN total_digital TYPE integer,
    ALTER COLUMN total_prints TYPE integer,
    ALTER COLUMN total_gifs TYPE integer;
