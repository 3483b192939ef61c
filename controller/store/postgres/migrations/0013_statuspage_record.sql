-- What Statuspage's record says of an incident: when it last changed
-- (updated_at, 0 for incidents from before: their newest update), and, per
-- update, the components it touched with their status before and after
-- (JSON, as they were at that update).
ALTER TABLE incidents ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE incident_updates ADD COLUMN affected TEXT NOT NULL DEFAULT '';
-- When each announced maintenance window was first shown to the public.
CREATE TABLE announcements (
  id           TEXT PRIMARY KEY,
  announced_at BIGINT NOT NULL
);
