package alerting

import (
	"strings"
	"testing"
	"time"

	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/model"
)

const disagreeConfig = `regions: [{id: r1}, {id: r2}, {id: r3}]
probes:
  tokens: [{region: r1, token: rules-test-token-0001}]
components:
  - id: content
    checks:
      - {id: content-flow, kind: http, http: {url: "http://127.0.0.1:9/flow"}}
      - {id: app-page, kind: http, http: {url: "http://127.0.0.1:9/app"}}
slos:
  - id: renders
    name: Renders
    sli: events
    target: 99
    checks: [content-flow, app-page]
    events: {push: {key: renders-key-0123456789}}
  - {id: avail, checks: [content-flow], target: 99.9}
alerting:
  notifiers: [{id: hook, webhook: {url: "http://127.0.0.1:9/hook"}}]
  policies:
    - {id: tickets, levels: [{targets: [hook]}]}
  rules:
    - {id: disagree, kind: disagreement, policy: tickets}
`

// Real users and the probes disagree: either side failing while the
// other is fine raises a ticket saying which and by how much; both
// failing, both fine, no traffic or maintenance raise nothing.
func TestDisagreement(t *testing.T) {
	cfg, err := config.Parse("rules.yaml", []byte(disagreeConfig))
	if err != nil {
		t.Fatal(err)
	}
	if r := cfg.Alerting.Rules[0]; r.For.D().Minutes() != 10 || r.Factor != 2 || r.Urgency != "low" || r.Severity != "warning" {
		t.Fatalf("defaults: %+v", r)
	}
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	// Up (or degraded) for an hour, and now.
	up := CheckState{Status: model.StatusUp, LastUp: now, LastNotUp: now.Add(-time.Hour)}
	degraded := CheckState{Status: model.StatusDegraded, LastNotUp: now, LastUp: now.Add(-time.Hour)}
	eval := func(flow, app CheckState, recent *RecentEvents) map[string]Condition {
		return Evaluate(Setup{Alerting: &cfg.Alerting, Topology: cfg}, Snapshot{Now: now, Regions: healthy(),
			Checks: map[string]CheckState{"content-flow": flow, "app-page": app},
			SLOs:   map[string]SLOState{"renders": {Recent: recent}, "avail": {}}})
	}
	// The probes say up; 5 % of real users' renders failed (the target
	// allows 1 %, the rule 2 %).
	c := eval(up, up, &RecentEvents{Good: 950, Valid: 1000})
	got := c["disagree:renders"]
	if len(c) != 1 || got.Details["side"] != "real_users_failing" || got.Policy != "tickets" || got.Component != "content" ||
		got.Summary != "Renders: the probes say up, but 5.0 % of real users' events failed over 5m (50 of 1000; the target allows 1 %)" {
		t.Fatalf("real users failing: %+v", c)
	}
	// The probes say degraded; real users are served within the target.
	got = eval(degraded, up, &RecentEvents{Good: 996, Valid: 1000})["disagree:renders"]
	if got.Details["side"] != "probes_failing" || !strings.Contains(got.Summary, "the probes say content-flow degraded, but real users are served: 99.60 % of their events good over 5m (996 of 1000)") {
		t.Fatalf("probes failing: %+v", got)
	}
	for name, tc := range map[string]struct {
		flow, app CheckState
		recent    *RecentEvents
	}{
		"both fine":                     {up, up, &RecentEvents{Good: 999, Valid: 1000}},
		"both failing":                  {degraded, up, &RecentEvents{Good: 800, Valid: 1000}},
		"within the factor":             {up, up, &RecentEvents{Good: 985, Valid: 1000}},
		"no traffic":                    {degraded, up, &RecentEvents{}},
		"no counts":                     {degraded, up, nil},
		"a check under maintenance":     {CheckState{Status: model.StatusUp, Maintenance: true}, up, &RecentEvents{Good: 900, Valid: 1000}},
		"a check without a verdict yet": {CheckState{Status: model.StatusUnknown}, up, &RecentEvents{Good: 900, Valid: 1000}},
		// Real users' counts lag the probes: right after an outage ends
		// (or begins) they still hold the other side's minutes.
		"recovered 3 minutes ago":    {CheckState{Status: model.StatusUp, LastUp: now, LastNotUp: now.Add(-3 * time.Minute)}, up, &RecentEvents{Good: 900, Valid: 1000}},
		"failing for only 2 minutes": {CheckState{Status: model.StatusDown, LastNotUp: now, LastUp: now.Add(-2 * time.Minute)}, up, &RecentEvents{Good: 1000, Valid: 1000}},
	} {
		if c := eval(tc.flow, tc.app, tc.recent); len(c) != 0 {
			t.Errorf("%s: %+v", name, c)
		}
	}
	// Only events SLOs with checks can be compared.
	bad := strings.Replace(disagreeConfig, "policy: tickets}\n", "policy: tickets, slos: [avail], factor: 0.5}\n", 1)
	if _, err := config.Parse("rules.yaml", []byte(bad)); err == nil || !strings.Contains(err.Error(), `slos[0]: "avail" is not an events SLO with checks`) ||
		!strings.Contains(err.Error(), "factor: 0.5") {
		t.Fatalf("validation: %v", err)
	}
}
