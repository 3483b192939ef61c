package config

import (
	"reflect"
	"strings"
	"testing"
)

const notifierHead = `regions: [{id: eu-london}, {id: eu-paris}]
probes:
  tokens: [{region: eu-london, token: a-long-enough-token-1}]
components:
  - id: api
    checks:
      - {id: a, kind: http, http: {url: "http://127.0.0.1:9/"}}
alerting:
  policies: [{id: page, levels: [{targets: [n]}]}]
  rules: [{id: down, kind: check_down, policy: page}]
  notifiers:
`

func TestNotifierBlocks(t *testing.T) {
	for name, tc := range map[string]struct {
		notifier string
		want     NotifierSpec
	}{
		"pagerduty": {`{id: n, pagerduty: {routing_key: R0UTINGKEYR0UTINGKEYR0UTINGKEY01}}`,
			&PagerDutyNotifier{RoutingKey: "R0UTINGKEYR0UTINGKEYR0UTINGKEY01", EventsURL: "https://events.pagerduty.com"}},
		"webhook": {`{id: n, webhook: {url: "https://ops.example.com/hook", secret: s3cret}}`,
			&WebhookNotifier{URL: "https://ops.example.com/hook", Secret: "s3cret"}},
		"slack": {`{id: n, slack: {url: "https://hooks.slack.com/services/T0/B0/X"}}`,
			&SlackNotifier{URL: "https://hooks.slack.com/services/T0/B0/X"}},
		"email": {`{id: n, email: {smtp: "smtp.example.com:587", from: a@example.com, to: [b@example.com]}}`,
			&EmailNotifier{SMTP: "smtp.example.com:587", From: "a@example.com", To: []string{"b@example.com"}}},
	} {
		t.Run(name, func(t *testing.T) {
			cfg, err := Parse("test.yaml", []byte(notifierHead+"    - "+tc.notifier+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			n := &cfg.Alerting.Notifiers[0]
			if n.Kind() != name || !reflect.DeepEqual(n.Spec(), tc.want) {
				t.Fatalf("kind %q spec %#v, want %q %#v", n.Kind(), n.Spec(), name, tc.want)
			}
			if len(cfg.Warnings) > 0 {
				t.Fatalf("warnings: %v", cfg.Warnings)
			}
		})
	}
}

// The flat form that predates the blocks loads into the same block, and
// says how to write it now.
func TestFlatNotifierLoadsWithADeprecationWarning(t *testing.T) {
	flat, err := Parse("test.yaml", []byte(notifierHead+
		"    - {id: n, type: pagerduty, routing_key: R0UTINGKEYR0UTINGKEYR0UTINGKEY01, events_url: \"https://events.eu.pagerduty.com\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	block, err := Parse("test.yaml", []byte(notifierHead+
		"    - {id: n, pagerduty: {routing_key: R0UTINGKEYR0UTINGKEYR0UTINGKEY01, events_url: \"https://events.eu.pagerduty.com\"}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(flat.Alerting.Notifiers, block.Alerting.Notifiers) {
		t.Fatalf("flat %#v\nblock %#v", flat.Alerting.Notifiers[0], block.Alerting.Notifiers[0])
	}
	want := "test.yaml:12: alerting.notifiers[0].type: type: pagerduty with its fields beside it is deprecated: write {id: n, pagerduty: {…}}"
	if len(flat.Warnings) != 1 || !strings.Contains(flat.Warnings.Error(), want) {
		t.Fatalf("warnings %v, want %q", flat.Warnings, want)
	}
}

func TestNotifierMistakesAreNamed(t *testing.T) {
	for name, tc := range map[string]struct{ notifier, want string }{
		"a field of another kind":   {`{id: n, type: slack, url: "https://hooks.slack.com/x", routing_key: R0UTINGKEYR0UTINGKEYR0UTINGKEY01}`, "alerting.notifiers[0].routing_key: a slack notifier has no routing_key"},
		"a field outside its block": {`{id: n, slack: {url: "https://hooks.slack.com/x"}, routing_key: R0UTINGKEYR0UTINGKEYR0UTINGKEY01}`, "alerting.notifiers[0]: fields of a kind belong in its block"},
		"a field the block lacks":   {`{id: n, slack: {url: "https://hooks.slack.com/x", routing_key: R0UTINGKEYR0UTINGKEYR0UTINGKEY01}}`, "test.yaml:12: unknown field \"routing_key\""},
		"two blocks":                {`{id: n, slack: {url: "https://hooks.slack.com/x"}, webhook: {url: "https://ops.example.com/"}}`, "alerting.notifiers[0]: a notifier takes one block, got 2"},
		"no block":                  {`{id: n}`, "alerting.notifiers[0]: a notifier needs one block: pagerduty, webhook, slack or email"},
		"type and block":            {`{id: n, type: slack, slack: {url: "https://hooks.slack.com/x"}}`, "alerting.notifiers[0].type: either type (deprecated) or a slack block, not both"},
		"unknown type":              {`{id: n, type: pager, url: "https://x.example.com/"}`, "alerting.notifiers[0].type: \"pager\" is not pagerduty, webhook, slack or email"},
		"bad field in a block":      {`{id: n, pagerduty: {routing_key: short}}`, "test.yaml:12: alerting.notifiers[0].pagerduty.routing_key: a PagerDuty routing key is 32 characters, got 5"},
		"bad recipient":             {`{id: n, email: {smtp: "smtp.example.com:587", from: a@example.com, to: [nobody]}}`, "alerting.notifiers[0].email.to[0]: \"nobody\" is not an email address"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse("test.yaml", []byte(notifierHead+"    - "+tc.notifier+"\n"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}
