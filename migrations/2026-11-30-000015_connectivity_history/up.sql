-- Every change of a booth's router and PC state, as the probes observed it: what an event's page
-- reads to say how long each booth was reachable during the event. Written by a row trigger in
-- the same transaction as the change (like paper_levels); one row per change, not per probe.
CREATE TABLE connectivity_changes (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    photomaton_id    integer NOT NULL REFERENCES photomatons (id) ON DELETE CASCADE,
    at               timestamptz NOT NULL,
    router_connected boolean NOT NULL,
    pc_connected     boolean NOT NULL
);
CREATE INDEX connectivity_changes_photomaton_at_idx ON connectivity_changes (photomaton_id, at);

CREATE FUNCTION record_connectivity() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO connectivity_changes (photomaton_id, at, router_connected, pc_connected)
    VALUES (NEW.id, coalesce(NEW.probed_at, now()), NEW.router_connected, NEW.pc_connected);
    RETURN NULL;
END
$$;

-- The first probe of a booth counts even when it finds both down (the columns' defaults).
CREATE TRIGGER photomatons_connectivity_update
    AFTER UPDATE OF router_connected, pc_connected, probed_at ON photomatons
    FOR EACH ROW WHEN (
        OLD.router_connected IS DISTINCT FROM NEW.router_connected
        OR OLD.pc_connected IS DISTINCT FROM NEW.pc_connected
        OR (OLD.probed_at IS NULL AND NEW.probed_at IS NOT NULL))
    EXECUTE FUNCTION record_connectivity();

-- Where each probed booth stands now.
INSERT INTO connectivity_changes (photomaton_id, at, router_connected, pc_connected)
SELECT id, probed_at, router_connected, pc_connected FROM photomatons WHERE probed_at IS NOT NULL;
