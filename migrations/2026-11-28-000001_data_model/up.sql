-- The data model of the original design (Photomaton, Event, Photo, SpeedTest, User,
-- AuditLog), in snake_case, plus what the later capabilities need: the PC's MAC address and
-- Wake-on-LAN target, the paper capacity, agent key hashes, password hashes and the table
-- of accepted ingest batches that makes every batch count once.

CREATE TYPE event_status AS ENUM ('ACTIVE', 'COMPLETED', 'ARCHIVED');
CREATE TYPE media_type AS ENUM ('SESSION', 'PHOTO', 'PRINT', 'DIGITAL', 'GIF');
CREATE TYPE user_role AS ENUM ('ADMIN', 'INSTALLER', 'VIEWER');

CREATE FUNCTION boom_touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW IS DISTINCT FROM OLD THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END;
$$;

CREATE TABLE photomatons (
    id                  integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                text NOT NULL CHECK (length(btrim(name)) > 0),
    hostname            text NOT NULL CHECK (hostname ~ '^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$'),
    tailscale_ip        inet,
    router_tailscale_ip inet,
    mac_address         macaddr,
    -- host:port the magic packet is sent to; NULL means the router's Tailscale IP, port 9.
    wake_target         text,
    router_connected    boolean NOT NULL DEFAULT false,
    pc_connected        boolean NOT NULL DEFAULT false,
    last_seen           timestamptz,
    paper_capacity      integer NOT NULL DEFAULT 700 CHECK (paper_capacity > 0),
    remaining_prints    integer NOT NULL DEFAULT 700,
    warning_threshold   integer NOT NULL DEFAULT 350 CHECK (warning_threshold >= 0),
    critical_threshold  integer NOT NULL DEFAULT 275 CHECK (critical_threshold >= 0),
    last_print_update   timestamptz,
    -- SHA-256 (hex) of the agent key: keys are 256-bit random, shown once, never stored.
    agent_key_sha256    text UNIQUE CHECK (agent_key_sha256 ~ '^[0-9a-f]{64}$'),
    agent_key_created_at timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT photomatons_thresholds_ordered CHECK (critical_threshold <= warning_threshold)
);
-- Hostnames are unique whatever their case: "BOOM-01" and "boom-01" are one PC.
CREATE UNIQUE INDEX photomatons_hostname_key ON photomatons (lower(hostname));
CREATE TRIGGER photomatons_touch BEFORE UPDATE ON photomatons
    FOR EACH ROW EXECUTE FUNCTION boom_touch_updated_at();

CREATE TABLE events (
    id                  integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    notion_page_id      text NOT NULL CONSTRAINT events_notion_page_id_key UNIQUE,
    -- NULL while the page names no booth of the registry.
    photomaton_id       integer REFERENCES photomatons (id) ON DELETE SET NULL,
    client_name         text NOT NULL,
    event_type          text,
    event_date          timestamptz,
    album_name          text,
    notion_url          text,
    notion_data         jsonb NOT NULL DEFAULT '{}'::jsonb,
    notion_last_edited  timestamptz,
    total_sessions      integer NOT NULL DEFAULT 0 CHECK (total_sessions >= 0),
    total_photos        integer NOT NULL DEFAULT 0 CHECK (total_photos >= 0),
    total_digital       integer NOT NULL DEFAULT 0 CHECK (total_digital >= 0),
    total_prints        integer NOT NULL DEFAULT 0 CHECK (total_prints >= 0),
    total_gifs          integer NOT NULL DEFAULT 0 CHECK (total_gifs >= 0),
    status              event_status NOT NULL DEFAULT 'ACTIVE',
    synced_at           timestamptz NOT NULL DEFAULT now(),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_photomaton_status_idx ON events (photomaton_id, status);
CREATE INDEX events_status_date_idx ON events (status, event_date);
CREATE TRIGGER events_touch BEFORE UPDATE ON events
    FOR EACH ROW EXECUTE FUNCTION boom_touch_updated_at();

-- Media rows ("Photo" in the original design). One row per stat line of a batch; `count`
-- holds the copies of a print trigger or the sessions an agent aggregated.
CREATE TABLE photos (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id            integer REFERENCES events (id) ON DELETE CASCADE,
    photomaton_id       integer NOT NULL REFERENCES photomatons (id) ON DELETE CASCADE,
    batch_id            uuid,
    media_type          media_type NOT NULL,
    count               integer NOT NULL DEFAULT 1 CHECK (count > 0),
    "timestamp"         timestamptz NOT NULL DEFAULT now(),
    metadata            jsonb
);
CREATE INDEX photos_event_timestamp_idx ON photos (event_id, "timestamp");
CREATE INDEX photos_photomaton_timestamp_idx ON photos (photomaton_id, "timestamp");

CREATE TABLE speed_tests (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    photomaton_id       integer NOT NULL REFERENCES photomatons (id) ON DELETE CASCADE,
    download_speed      double precision NOT NULL CHECK (download_speed >= 0),
    upload_speed        double precision NOT NULL CHECK (upload_speed >= 0),
    ping                double precision NOT NULL CHECK (ping >= 0),
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX speed_tests_photomaton_created_idx ON speed_tests (photomaton_id, created_at);

CREATE TABLE users (
    id                  integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username            text NOT NULL CHECK (username ~ '^[A-Za-z0-9._-]{2,64}$'),
    email               text,
    name                text,
    infomaniak_id       text CONSTRAINT users_infomaniak_id_key UNIQUE,
    role                user_role NOT NULL DEFAULT 'VIEWER',
    -- PHC string of argon2id; never a plain password.
    password_hash       text NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    preferred_language  text NOT NULL DEFAULT 'fr' CHECK (preferred_language IN ('fr', 'en')),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_username_key ON users (lower(username));
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE TRIGGER users_touch BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION boom_touch_updated_at();

CREATE TABLE audit_logs (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Kept when the user is deleted: the log outlives accounts.
    user_id             integer REFERENCES users (id) ON DELETE SET NULL,
    username            text,
    action              text NOT NULL,
    resource            text NOT NULL,
    resource_id         integer,
    details             jsonb,
    ip_address          inet,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_logs_created_idx ON audit_logs (created_at DESC, id DESC);
CREATE INDEX audit_logs_user_created_idx ON audit_logs (user_id, created_at DESC);
CREATE INDEX audit_logs_action_created_idx ON audit_logs (action, created_at DESC);

-- Every agent batch the gateway committed, so that a batch delivered twice (agent retry,
-- JetStream redelivery after a crash) is recorded once, forever.
CREATE TABLE ingest_batches (
    photomaton_id       integer NOT NULL REFERENCES photomatons (id) ON DELETE CASCADE,
    batch_id            uuid NOT NULL,
    media_count         integer NOT NULL CHECK (media_count >= 0),
    received_at         timestamptz NOT NULL,
    committed_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (photomaton_id, batch_id)
);
