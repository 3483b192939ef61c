package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/nines-sre/nines/alerting"
	"github.com/nines-sre/nines/config"
)

// Slack posts to an incoming webhook.
type Slack struct {
	URL    string
	Client *http.Client
}

var _ alerting.Notifier = (*Slack)(nil)

func init() {
	register("slack", func(s *config.SlackNotifier, c *http.Client) alerting.Notifier { return &Slack{URL: s.URL, Client: c} })
}

// Text renders a message as one line for chat and mail subjects.
func Text(m alerting.Message) string {
	verb := map[alerting.Action]string{alerting.ActionTrigger: "FIRING", alerting.ActionAcknowledge: "ACKNOWLEDGED", alerting.ActionResolve: "RESOLVED"}[m.Action]
	if m.Update {
		verb = "UPDATE" // alerts joined or recovered: the same incident
	}
	return fmt.Sprintf("[%s] %s (%s, %s urgency): %s", verb, m.AlertKey, m.Severity, m.Urgency, m.Summary)
}

// Notify posts m.
func (s *Slack) Notify(ctx context.Context, m alerting.Message) error {
	text := Text(m)
	if m.Link != "" {
		text += " <" + m.Link + "|open>"
	}
	body, err := json.Marshal(map[string]string{"text": text})
	if err != nil {
		return err
	}
	return post(ctx, s.Client, s.URL, body, nil)
}
