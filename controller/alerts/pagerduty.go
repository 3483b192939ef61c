package alerts

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/PagerDuty/go-pagerduty/webhookv3"

	"github.com/nines-sre/nines/controller/ingest"
)

// PagerDutyAck reads a PagerDuty webhook (v3) whose body was read whole:
// every v1= signature in X-PagerDuty-Signature is an HMAC-SHA256 of the
// body, and one must match secret (ErrSignature otherwise). An
// incident.acknowledged event names the alert (its incident key) and who
// acknowledged it; any other event is of no concern (ok false).
func PagerDutyAck(r *http.Request, body []byte, secret string) (key, by string, ok bool, err error) {
	r.Body = io.NopCloser(bytes.NewReader(body))
	// Signatures listed with spaces after the commas are accepted too.
	r.Header.Set("X-PagerDuty-Signature", strings.ReplaceAll(r.Header.Get("X-PagerDuty-Signature"), " ", ""))
	if err := webhookv3.VerifySignature(r, secret); err != nil {
		return "", "", false, fmt.Errorf("%w: %v", ErrSignature, err)
	}
	var ev struct {
		Event struct {
			EventType string `json:"event_type"`
			Agent     struct {
				Summary string `json:"summary"`
			} `json:"agent"`
			Data struct {
				IncidentKey string `json:"incident_key"`
			} `json:"data"`
		} `json:"event"`
	}
	if err := ingest.Unmarshal(body, &ev); err != nil {
		return "", "", false, err
	}
	if ev.Event.EventType != "incident.acknowledged" || ev.Event.Data.IncidentKey == "" {
		return "", "", false, nil
	}
	by = "pagerduty"
	if ev.Event.Agent.Summary != "" {
		by = "pagerduty: " + ev.Event.Agent.Summary
	}
	return ev.Event.Data.IncidentKey, by, true, nil
}

// ErrSignature is a webhook whose signature does not match the secret.
var ErrSignature = fmt.Errorf("signature does not match the configured secret")
