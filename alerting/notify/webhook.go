package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"

	"github.com/nines-sre/nines/alerting"
	"github.com/nines-sre/nines/config"
)

// Webhook posts the message as JSON; with a secret, the body is signed in
// X-Nines-Signature: sha256=HEX(HMAC-SHA256(secret, body)).
type Webhook struct {
	URL    string
	Secret []byte
	Client *http.Client
}

var _ alerting.Notifier = (*Webhook)(nil)

func init() {
	register("webhook", func(s *config.WebhookNotifier, c *http.Client) alerting.Notifier {
		return &Webhook{URL: s.URL, Secret: []byte(s.Secret), Client: c}
	})
}

// Sign returns the X-Nines-Signature value of body.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Notify posts m.
func (w *Webhook) Notify(ctx context.Context, m alerting.Message) error {
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	h := http.Header{"X-Nines-Event": {string(m.Action)}}
	if len(w.Secret) > 0 {
		h.Set("X-Nines-Signature", Sign(w.Secret, body))
	}
	return post(ctx, w.Client, w.URL, body, h)
}
