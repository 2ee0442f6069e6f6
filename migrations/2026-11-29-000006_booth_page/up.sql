-- What the booth page shows besides the live state: the agent's backlog and version as of its
-- last batch, and the paper level over time.
ALTER TABLE photomatons
    ADD COLUMN agent_backlog bigint CHECK (agent_backlog >= 0),
    ADD COLUMN agent_version text;

-- Every change of a booth's paper level, whoever makes it (the recorder from the agent's
-- reports, a new roll on the dashboard, an edit): written by a row trigger, in the same
-- transaction as the change.
CREATE TABLE paper_levels (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    photomaton_id integer NOT NULL REFERENCES photomatons (id) ON DELETE CASCADE,
    at            timestamptz NOT NULL DEFAULT now(),
    remaining     integer NOT NULL
);
CREATE INDEX paper_levels_photomaton_idx ON paper_levels (photomaton_id, id);

CREATE FUNCTION record_paper_level() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO paper_levels (photomaton_id, remaining) VALUES (NEW.id, NEW.remaining_prints);
    RETURN NULL;
END
$$;

CREATE TRIGGER photomatons_paper_level_insert
    AFTER INSERT ON photomatons
    FOR EACH ROW EXECUTE FUNCTION record_paper_level();
CREATE TRIGGER photomatons_paper_level_update
    AFTER UPDATE OF remaining_prints ON photomatons
    FOR EACH ROW WHEN (OLD.remaining_prints IS DISTINCT FROM NEW.remaining_prints)
    EXECUTE FUNCTION record_paper_level();

-- Where each booth stands now.
INSERT INTO paper_levels (photomaton_id, at, remaining)
SELECT id, coalesce(last_print_update, updated_at), remaining_prints FROM photomatons;
