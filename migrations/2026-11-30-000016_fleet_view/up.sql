-- How each person likes the fleet: one card per booth, or one line per booth (large fleets,
-- phones). Kept on the account, so it follows them from the laptop to the phone.
ALTER TABLE users
    ADD COLUMN fleet_view text NOT NULL DEFAULT 'cards' CHECK (fleet_view IN ('cards', 'list'));
