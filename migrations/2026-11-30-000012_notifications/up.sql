-- Where people want to hear of alerts (one row per channel), maintenance windows during which
-- nothing is sent, and what boom-notifier did with each message (DeliveryUpdated).
CREATE TABLE notification_channels (
    id          uuid PRIMARY KEY,
    user_id     integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('email', 'telegram', 'webhook')),
    target      text NOT NULL CHECK (length(target) BETWEEN 1 AND 2048),
    alert_kinds text[] NOT NULL,
    -- Europe/Paris times of day; from > to spans midnight.
    quiet_from  time,
    quiet_to    time,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((quiet_from IS NULL) = (quiet_to IS NULL))
);
CREATE INDEX notification_channels_user_idx ON notification_channels (user_id);

CREATE TABLE alert_mutes (
    id            uuid PRIMARY KEY,
    -- NULL: the whole fleet.
    photomaton_id integer REFERENCES photomatons (id) ON DELETE CASCADE,
    starts_at     timestamptz NOT NULL,
    ends_at       timestamptz NOT NULL,
    reason        text,
    created_by    integer REFERENCES users (id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at)
);
CREATE INDEX alert_mutes_ends_idx ON alert_mutes (ends_at);

CREATE TABLE alert_deliveries (
    delivery_id  text PRIMARY KEY,
    -- No foreign key: a test message belongs to no alert, and an update may come first.
    alert_id     uuid NOT NULL,
    transition   text NOT NULL,
    channel_id   uuid NOT NULL,
    channel_kind text NOT NULL,
    target       text NOT NULL,
    state        text NOT NULL,
    attempts     integer NOT NULL,
    error        text,
    updated_at   timestamptz NOT NULL
);
CREATE INDEX alert_deliveries_alert_idx ON alert_deliveries (alert_id);
