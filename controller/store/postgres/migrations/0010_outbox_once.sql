-- A status page notification (alert_key status:…) is queued once per
-- subscriber, however often its event is offered (a crash between the
-- event and the queueing offers it again).
CREATE UNIQUE INDEX outbox_status_once ON outbox (alert_key, notifier) WHERE alert_key LIKE 'status:%';
