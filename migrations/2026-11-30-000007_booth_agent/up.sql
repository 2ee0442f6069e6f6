-- The booth's agent apart from the probes: when it was last heard from (a batch or a poll),
-- and the commands the dashboard sends it (remote hands on a booth behind 4G NAT: the agent
-- fetches them when it polls ingest, runs them if its own configuration allows them, and
-- reports back through ingest).
ALTER TABLE photomatons ADD COLUMN agent_seen_at timestamptz;

CREATE TABLE agent_commands (
    id            uuid PRIMARY KEY,
    photomaton_id integer NOT NULL REFERENCES photomatons (id) ON DELETE CASCADE,
    command       text NOT NULL CHECK (command ~ '^[a-z0-9_]{1,64}$'),
    status        text NOT NULL DEFAULT 'queued'
                  CHECK (status IN ('queued', 'sent', 'succeeded', 'failed', 'expired')),
    output        text,
    exit_code     integer,
    requested_by  integer REFERENCES users (id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    sent_at       timestamptz,
    finished_at   timestamptz,
    expires_at    timestamptz NOT NULL
);
CREATE INDEX agent_commands_photomaton_idx ON agent_commands (photomaton_id, created_at DESC);
CREATE INDEX agent_commands_open_idx ON agent_commands (expires_at)
    WHERE status IN ('queued', 'sent');
