-- Alerts as the gateway records them: opened and resolved by boom-notifier (ALERTS stream),
-- acknowledged by a person on the dashboard. `seq` orders them for paging (newest first).
CREATE TABLE alerts (
    id                   uuid PRIMARY KEY,
    seq                  bigserial UNIQUE,
    kind                 text NOT NULL CHECK (kind IN ('paper_warning', 'paper_critical',
                             'booth_down', 'agent_silent', 'printer_error', 'power_on_failed',
                             'notion_sync_failing')),
    photomaton_id        integer REFERENCES photomatons (id) ON DELETE CASCADE,
    state                text NOT NULL CHECK (state IN ('open', 'acknowledged', 'resolved')),
    message              text NOT NULL,
    opened_at            timestamptz NOT NULL,
    acknowledged_at      timestamptz,
    acknowledged_by      integer REFERENCES users (id) ON DELETE SET NULL,
    acknowledged_by_name text,
    resolved_at          timestamptz,
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alerts_state_idx ON alerts (state, seq DESC);
CREATE INDEX alerts_booth_idx ON alerts (photomaton_id, seq DESC);
