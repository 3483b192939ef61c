package notify

import (
	"fmt"
	"net/http"
	"reflect"
	"testing"

	"github.com/nines-sre/nines/config"
)

// Every notifier kind the configuration accepts builds a notifier of its
// own type from its block.
func TestEveryNotifierKindBuilds(t *testing.T) {
	want := map[string]string{"pagerduty": "*notify.PagerDuty", "webhook": "*notify.Webhook", "slack": "*notify.Slack", "email": "*notify.Email"}
	if kinds := config.NotifierKinds(); len(kinds) != len(want) {
		t.Fatalf("kinds %v: this test names %d", kinds, len(want))
	}
	yaml := `regions: [{id: r1}, {id: r2}]
probes:
  tokens: [{region: r1, token: a-long-enough-token-1}]
components:
  - id: api
    checks:
      - {id: a, kind: http, http: {url: "http://127.0.0.1:9/"}}
alerting:
  notifiers:
    - {id: pagerduty, pagerduty: {routing_key: R0UTINGKEYR0UTINGKEYR0UTINGKEY01}}
    - {id: webhook, webhook: {url: "http://127.0.0.1:9/hook", secret: s}}
    - {id: slack, slack: {url: "http://127.0.0.1:9/slack"}}
    - {id: email, email: {smtp: "127.0.0.1:25", from: a@example.com, to: [b@example.com]}}
`
	cfg, err := config.Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	built := Build(cfg.Alerting.Notifiers, &http.Client{})
	for _, kind := range config.NotifierKinds() {
		if _, ok := want[kind]; !ok {
			t.Errorf("kind %s: this test does not name it", kind)
			continue
		}
		if got := fmt.Sprint(reflect.TypeOf(built[kind])); got != want[kind] {
			t.Errorf("kind %s built %s, want %s", kind, got, want[kind])
		}
	}
	if wh := built["webhook"].(*Webhook); string(wh.Secret) != "s" || wh.URL != "http://127.0.0.1:9/hook" {
		t.Errorf("webhook built from its block: %+v", wh)
	}
}
