-- The last time an installer asked for a speed test from the dashboard. The booth's agent
-- learns it by polling stats-ingest (`GET /api/agent/commands`, through the registry) and runs
-- one test; the result comes back in its next batch like a scheduled one.
ALTER TABLE photomatons ADD COLUMN speed_test_requested_at timestamptz;
