-- Subscribers of the status page: an email address (double opt-in) or a
-- webhook URL (verified by a signed test call), to every component or to
-- those listed (a JSON array of ids). The token is the secret of their
-- confirmation and unsubscribe links; confirmed_at is NULL until then.
CREATE TABLE subscribers (
  id           bigserial PRIMARY KEY,
  kind         text   NOT NULL,
  address      text   NOT NULL,
  components   text   NOT NULL,
  token        text   NOT NULL UNIQUE,
  created_at   bigint NOT NULL,
  confirmed_at bigint,
  UNIQUE (kind, address)
);
