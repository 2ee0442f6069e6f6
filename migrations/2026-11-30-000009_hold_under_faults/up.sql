-- Event totals in 64 bits: a batch may carry 5,000 lines of up to 10,000 each, so a few
-- hundred batches (or one stolen key) would overflow 32-bit totals and make every later
-- batch of that event fail.
ALTER TABLE events
    ALTER COLUMN total_sessions TYPE bigint,
    ALTER COLUMN total_photos TYPE bigint,
    ALTER COLUMN total_digital TYPE bigint,
    ALTER COLUMN total_prints TYPE bigint,
    ALTER COLUMN total_gifs TYPE bigint;

-- Bus messages the gateway can never record (undecodable, a constraint or range error, or
-- failing again and again while the database answers), set aside instead of retried for
-- ever; admins see them (`GET /api/dead-letters`) and can replay one once its cause is fixed
-- (`POST /api/dead-letters/{id}/replay`). The payload is kept byte for byte.
CREATE TABLE dead_letters (
    id            bigserial PRIMARY KEY,
    stream        text NOT NULL,
    subject       text NOT NULL,
    -- Read from the payload when it names one; no foreign key: the booth may be gone.
    photomaton_id integer,
    payload       bytea NOT NULL,
    reason        text NOT NULL,
    deliveries    bigint NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dead_letters_created_idx ON dead_letters (created_at DESC);

-- Stat lines ingest refused one by one (a timestamp more than 24 h ahead or older than a
-- year, a count out of range) while the rest of their batch was counted; shown on the
-- booth page. The line is kept as the agent sent it.
CREATE TABLE refused_lines (
    id            bigserial PRIMARY KEY,
    photomaton_id integer NOT NULL REFERENCES photomatons (id) ON DELETE CASCADE,
    batch_id      uuid NOT NULL,
    line_index    integer NOT NULL,
    reason        text NOT NULL,
    line          text NOT NULL,
    received_at   timestamptz NOT NULL,
    UNIQUE (photomaton_id, batch_id, line_index)
);
CREATE INDEX refused_lines_booth_idx ON refused_lines (photomaton_id, received_at DESC);
