-- An incident is a group's outage: it may touch several components and
-- checks (comma-separated ids; empty on incidents opened before), and an
-- SRE may set its title and impact (edited_by), which nines then keeps.
ALTER TABLE incidents ADD COLUMN components TEXT NOT NULL DEFAULT '';
ALTER TABLE incidents ADD COLUMN checks TEXT NOT NULL DEFAULT '';
ALTER TABLE incidents ADD COLUMN edited_by TEXT NOT NULL DEFAULT '';
