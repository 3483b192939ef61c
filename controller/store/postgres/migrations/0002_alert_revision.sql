-- Each save of an alert bumps its revision; a save based on an older one is
-- refused, so replicas never overwrite each other's alert state.
ALTER TABLE alerts ADD COLUMN rev bigint NOT NULL DEFAULT 0;
