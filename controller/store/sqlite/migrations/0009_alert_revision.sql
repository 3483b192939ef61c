-- Each save of an alert bumps its revision; a save based on an older one is
-- refused, so concurrent writers never overwrite each other.
ALTER TABLE alerts ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;
