package notify

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"

	"github.com/nines-sre/nines/alerting"
)

// StatusHook posts a status page event to a subscriber's webhook as
// Statuspage does: the payload the page built (page plus incident, or
// page plus component_update and component) with meta.unsubscribe, the
// subscriber's own link, so that consumers written for Statuspage's
// webhooks read it unchanged. The body is signed as Webhook signs.
type StatusHook struct {
	URL         string
	Secret      []byte
	Client      *http.Client
	Unsubscribe string // the subscriber's unsubscribe URL
}

// webhookDocs documents the payloads (meta.documentation).
const webhookDocs = "https://support.atlassian.com/statuspage/docs/enable-webhook-notifications/"

var _ alerting.Notifier = (*StatusHook)(nil)

// PayloadKey is the detail of a status page message that holds its
// Statuspage webhook payload.
const PayloadKey = "statuspage"

// Notify posts m's payload; a message without one is posted as Webhook
// posts it.
func (h *StatusHook) Notify(ctx context.Context, m alerting.Message) error {
	payload, ok := m.Details[PayloadKey].(map[string]any)
	if !ok {
		return (&Webhook{URL: h.URL, Secret: h.Secret, Client: h.Client}).Notify(ctx, m)
	}
	out := maps.Clone(payload)
	out["meta"] = map[string]any{"unsubscribe": h.Unsubscribe, "documentation": webhookDocs}
	body, err := json.Marshal(out)
	if err != nil {
		return err
	}
	hdr := http.Header{"X-Nines-Event": {m.Class}}
	if len(h.Secret) > 0 {
		hdr.Set("X-Nines-Signature", Sign(h.Secret, body))
	}
	return post(ctx, h.Client, h.URL, body, hdr)
}
