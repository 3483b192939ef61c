-- Undelivered notifications by stream (alert and notifier): the outbox
-- holds a notification back while an older one of its stream waits, a
-- lookup that must not scan every subscriber of an event.
CREATE INDEX outbox_stream ON outbox (alert_key, notifier, id) WHERE delivered_at IS NULL AND failed_at IS NULL;
