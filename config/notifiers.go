package config

import (
	"fmt"
	"maps"
	"net/mail"
	"net/url"
	"slices"

	"github.com/nines-sre/nines/model"
)

// Notifier is one destination: an id and the block of its kind, such as
// `{id: pd-sre, pagerduty: {routing_key: …}}`.
type Notifier struct {
	ID        string             `yaml:"id"`
	PagerDuty *PagerDutyNotifier `yaml:"pagerduty"`
	Webhook   *WebhookNotifier   `yaml:"webhook"`
	Slack     *SlackNotifier     `yaml:"slack"`
	Email     *EmailNotifier     `yaml:"email"`

	// The flat form that predates the blocks (`type: pagerduty` beside
	// every kind's fields) still loads, into the block of its type, with a
	// warning that shows the new form.
	legacyNotifier `yaml:",inline"`
}

// legacyNotifier is the deprecated flat form of a notifier.
type legacyNotifier struct {
	Type       string   `yaml:"type"`
	RoutingKey string   `yaml:"routing_key"`
	EventsURL  string   `yaml:"events_url"`
	URL        string   `yaml:"url"`
	Secret     string   `yaml:"secret"`
	SMTP       string   `yaml:"smtp"`
	From       string   `yaml:"from"`
	To         []string `yaml:"to"`
	Username   string   `yaml:"username"`
	Password   string   `yaml:"password"`
}

// NotifierSpec is the block of one notifier kind: its defaults and its
// validation. The notifier itself is built from it in alerting/notify.
// Adding a kind adds its type here, a line to notifierKinds, and its
// builder beside the notifier.
type NotifierSpec interface {
	defaults()
	validate(v *validator, path string)
}

// notifierKinds names every notifier kind and finds its block.
var notifierKinds = map[string]func(*Notifier) NotifierSpec{
	"pagerduty": func(n *Notifier) NotifierSpec { return nilOrSpec(n.PagerDuty) },
	"webhook":   func(n *Notifier) NotifierSpec { return nilOrSpec(n.Webhook) },
	"slack":     func(n *Notifier) NotifierSpec { return nilOrSpec(n.Slack) },
	"email":     func(n *Notifier) NotifierSpec { return nilOrSpec(n.Email) },
}

// NotifierKinds lists the notifier kinds, for a builder of each.
func NotifierKinds() []string { return slices.Sorted(maps.Keys(notifierKinds)) }

const notifierKindNames = "pagerduty, webhook, slack or email"

func nilOrSpec[T any, P interface {
	*T
	NotifierSpec
}](p P) NotifierSpec {
	if p == nil {
		return nil
	}
	return p
}

// Kind names the notifier's kind: the one block that is set. In a
// configuration that loaded there is exactly one.
func (n *Notifier) Kind() string {
	for name, get := range notifierKinds {
		if get(n) != nil {
			return name
		}
	}
	return ""
}

// Spec returns the notifier's block: a *PagerDutyNotifier, *WebhookNotifier,
// *SlackNotifier or *EmailNotifier.
func (n *Notifier) Spec() NotifierSpec {
	if k := n.Kind(); k != "" {
		return notifierKinds[k](n)
	}
	return nil
}

// PagerDutyNotifier sends PagerDuty Events API v2 events.
type PagerDutyNotifier struct {
	RoutingKey string `yaml:"routing_key"`
	// EventsURL defaults to https://events.pagerduty.com (EU accounts:
	// https://events.eu.pagerduty.com).
	EventsURL string `yaml:"events_url"`
}

func (p *PagerDutyNotifier) defaults() {
	if p.EventsURL == "" {
		p.EventsURL = "https://events.pagerduty.com"
	}
}

func (p *PagerDutyNotifier) validate(v *validator, path string) {
	if len(p.RoutingKey) != 32 {
		v.add(path+".routing_key", "a PagerDuty routing key is 32 characters, got %d", len(p.RoutingKey))
	}
	if !httpURL(p.EventsURL) {
		v.add(path+".events_url", "%q is not an http(s) base URL", model.RedactURL(p.EventsURL, false))
	}
}

// WebhookNotifier posts signed JSON: X-Nines-Signature carries
// sha256=HMAC-SHA256(secret, body).
type WebhookNotifier struct {
	URL    string `yaml:"url"`
	Secret string `yaml:"secret"`
}

func (w *WebhookNotifier) defaults() {}

func (w *WebhookNotifier) validate(v *validator, path string) {
	if !httpURL(w.URL) {
		v.add(path+".url", "%q is not an http(s) URL", model.RedactURL(w.URL, true))
	}
}

// SlackNotifier posts to a Slack incoming webhook.
type SlackNotifier struct {
	URL string `yaml:"url"`
}

func (s *SlackNotifier) defaults() {}

func (s *SlackNotifier) validate(v *validator, path string) {
	if !httpURL(s.URL) {
		v.add(path+".url", "%q is not an http(s) URL", model.RedactURL(s.URL, true))
	}
}

// EmailNotifier sends mail through an SMTP relay (STARTTLS when offered).
type EmailNotifier struct {
	SMTP     string   `yaml:"smtp"` // host:port
	From     string   `yaml:"from"`
	To       []string `yaml:"to"`
	Username string   `yaml:"username"`
	Password string   `yaml:"password"`
}

func (e *EmailNotifier) defaults() {}

func (e *EmailNotifier) validate(v *validator, path string) {
	validAddress(v, path+".smtp", e.SMTP)
	if _, err := mail.ParseAddress(e.From); err != nil {
		v.add(path+".from", "%q is not an email address", e.From)
	}
	if len(e.To) == 0 {
		v.add(path+".to", "at least one recipient is required")
	}
	for k, to := range e.To {
		if _, err := mail.ParseAddress(to); err != nil {
			v.add(fmt.Sprintf("%s.to[%d]", path, k), "%q is not an email address", to)
		}
	}
}

func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Host != "" && (u.Scheme == "https" || u.Scheme == "http")
}

// validateNotifier moves a flat notifier into its block, then checks that
// exactly one block is set, defaults it and validates it.
func (v *validator) validateNotifier(n *Notifier, p string, ids map[string]bool) {
	v.id(p+".id", "notifier", n.ID, ids)
	if !v.upgradeNotifier(n, p) {
		return
	}
	var set []string
	for name, get := range notifierKinds {
		if get(n) != nil {
			set = append(set, name)
		}
	}
	switch len(set) {
	case 0:
		v.add(p, "a notifier needs one block: %s", notifierKindNames)
		return
	case 1:
	default:
		v.add(p, "a notifier takes one block, got %d", len(set))
		return
	}
	spec := n.Spec()
	spec.defaults()
	spec.validate(v, p+"."+set[0])
}

// upgradeNotifier reads the flat form into the block of its type and
// warns; it reports false when the notifier is too broken to go on.
func (v *validator) upgradeNotifier(n *Notifier, p string) bool {
	l := n.legacyNotifier
	if l.Type == "" {
		if l.RoutingKey != "" || l.EventsURL != "" || l.URL != "" || l.Secret != "" || l.SMTP != "" || l.From != "" ||
			len(l.To) > 0 || l.Username != "" || l.Password != "" {
			v.add(p, "fields of a kind belong in its block, such as {id: %s, pagerduty: {routing_key: …}}", n.ID)
			return false
		}
		return true
	}
	if n.Kind() != "" {
		v.add(p+".type", "either type (deprecated) or a %s block, not both", n.Kind())
		return false
	}
	var foreign []string
	note := func(field string, set bool) {
		if set {
			foreign = append(foreign, field)
		}
	}
	switch l.Type {
	case "pagerduty":
		n.PagerDuty = &PagerDutyNotifier{RoutingKey: l.RoutingKey, EventsURL: l.EventsURL}
		note("url", l.URL != "")
		note("secret", l.Secret != "")
	case "webhook":
		n.Webhook = &WebhookNotifier{URL: l.URL, Secret: l.Secret}
		note("routing_key", l.RoutingKey != "")
		note("events_url", l.EventsURL != "")
	case "slack":
		n.Slack = &SlackNotifier{URL: l.URL}
		note("routing_key", l.RoutingKey != "")
		note("events_url", l.EventsURL != "")
		note("secret", l.Secret != "")
	case "email":
		n.Email = &EmailNotifier{SMTP: l.SMTP, From: l.From, To: l.To, Username: l.Username, Password: l.Password}
		note("routing_key", l.RoutingKey != "")
		note("events_url", l.EventsURL != "")
		note("url", l.URL != "")
		note("secret", l.Secret != "")
	default:
		v.add(p+".type", "%q is not %s", l.Type, notifierKindNames)
		return false
	}
	if l.Type != "email" {
		note("smtp", l.SMTP != "")
		note("from", l.From != "")
		note("to", len(l.To) > 0)
		note("username", l.Username != "")
		note("password", l.Password != "")
	}
	for _, f := range foreign {
		v.add(p+"."+f, "a %s notifier has no %s", l.Type, f)
	}
	if len(foreign) > 0 {
		return false
	}
	n.legacyNotifier = legacyNotifier{}
	v.warn(p+".type", "type: %s with its fields beside it is deprecated: write {id: %s, %s: {…}} with the same fields in the block",
		l.Type, n.ID, l.Type)
	return true
}
