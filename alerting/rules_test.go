package alerting

import (
	"testing"
	"time"

	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/model"
)

const rulesConfig = `regions: [{id: r1}, {id: r2}, {id: r3}]
probes:
  tokens: [{region: r1, token: rules-test-token-0001}]
components:
  - id: cdn
    checks:
      - {id: cdn-edge, kind: http, http: {url: "http://127.0.0.1:9/edge"}}
  - id: content
    checks:
      - {id: content-api, kind: http, depends_on: [cdn-edge], http: {url: "http://127.0.0.1:9/api"}}
      - {id: content-cert, kind: http, http: {url: "https://127.0.0.1:9/"}}
slos:
  - {id: avail, checks: [content-api], target: 99.9}
alerting:
  notifiers: [{id: hook, webhook: {url: "http://127.0.0.1:9/hook"}}]
  policies:
    - {id: page, levels: [{targets: [hook]}]}
    - {id: tickets, levels: [{targets: [hook]}]}
  rules:
    - {id: down, kind: check_down, policy: page}
    - {id: burn, kind: slo_burn, policy: page, ticket_policy: tickets}
    - {id: cert, kind: cert_expiry, policy: tickets, checks: [content-cert]}
    - {id: silent, kind: probe_silent, policy: tickets}
`

func rulesCfg(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.Parse("rules.yaml", []byte(rulesConfig))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func healthy() map[string]RegionState {
	return map[string]RegionState{"r1": {Healthy: true}, "r2": {Healthy: true}, "r3": {Healthy: true}}
}

func TestChildOfADownCheckFoldsIntoItsIncident(t *testing.T) {
	cfg := rulesCfg(t)
	down := CheckState{Status: model.StatusDown, Failing: []string{"r1", "r2"}}
	conds := Evaluate(Setup{Alerting: &cfg.Alerting, Topology: cfg}, Snapshot{Now: time.Now(), Regions: healthy(), Checks: map[string]CheckState{"cdn-edge": down, "content-api": down}})
	if _, paged := conds["down:content-api"]; paged {
		t.Fatal("the child pages on its own while its parent is down")
	}
	parent, ok := conds["down:cdn-edge"]
	if !ok || parent.Details["also_down"] == nil || parent.Summary != "cdn-edge is down: failing in 2 of 3 regions (r1, r2); also down: content-api" {
		t.Fatalf("parent condition %+v", parent)
	}
	// With the parent up, the child pages itself.
	conds = Evaluate(Setup{Alerting: &cfg.Alerting, Topology: cfg}, Snapshot{Regions: healthy(), Checks: map[string]CheckState{"cdn-edge": {Status: model.StatusUp}, "content-api": down}})
	if _, ok := conds["down:content-api"]; !ok {
		t.Fatal("child alone is not paged")
	}
	// The parent recovered seconds ago; the child's failures are from its
	// outage: it stays folded until it has fresh results of its own.
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	recovered := CheckState{Status: model.StatusUp, LastDown: t0}
	stale := down
	stale.LastFailure = t0.Add(-20 * time.Second)
	conds = Evaluate(Setup{Alerting: &cfg.Alerting, Topology: cfg}, Snapshot{Regions: healthy(), Checks: map[string]CheckState{"cdn-edge": recovered, "content-api": stale}})
	if _, ok := conds["down:content-api"]; ok {
		t.Fatal("the child opened its own incident on failures from its parent's outage")
	}
	fresh := down
	fresh.LastFailure = t0.Add(5 * time.Second)
	conds = Evaluate(Setup{Alerting: &cfg.Alerting, Topology: cfg}, Snapshot{Regions: healthy(), Checks: map[string]CheckState{"cdn-edge": recovered, "content-api": fresh}})
	if _, ok := conds["down:content-api"]; !ok {
		t.Fatal("the child failing after its parent recovered is not paged")
	}
	// Under maintenance nothing is raised.
	down.Maintenance = true
	if conds := Evaluate(Setup{Alerting: &cfg.Alerting, Topology: cfg}, Snapshot{Regions: healthy(), Checks: map[string]CheckState{"cdn-edge": down}}); len(conds) != 0 {
		t.Fatalf("maintenance did not silence: %v", conds)
	}
}

func TestSLOBurnTiersAndPageMutesTicket(t *testing.T) {
	cfg := rulesCfg(t)
	burn := func(rates map[string]float64) map[string]Condition {
		return Evaluate(Setup{Alerting: &cfg.Alerting, Topology: cfg}, Snapshot{Regions: healthy(), SLOs: map[string]SLOState{"avail": {Burn: rates}}})
	}
	if c := burn(map[string]float64{"1h": 15, "5m": 20, "1d": 4, "2h": 4}); len(c) != 1 || c["burn:avail/page"].Urgency != "high" || c["burn:avail/page"].Policy != "page" {
		t.Fatalf("fast burn with the ticket tier also met: %+v", c)
	}
	if c := burn(map[string]float64{"1h": 15, "5m": 2}); len(c) != 0 {
		t.Fatalf("the short window has recovered, yet %+v", c)
	}
	if c := burn(map[string]float64{"6h": 7, "30m": 8}); c["burn:avail/page"].Summary == "" {
		t.Fatalf("6h/30m tier: %+v", c)
	}
	c := burn(map[string]float64{"1d": 3.5, "2h": 4})
	if tk := c["burn:avail/ticket"]; tk.Urgency != "low" || tk.Policy != "tickets" || tk.Severity != "warning" {
		t.Fatalf("ticket tier: %+v", c)
	}
	if c := burn(map[string]float64{"3d": 1.2, "6h": 1.1}); len(c) != 1 {
		t.Fatalf("3d/6h tier: %+v", c)
	}
}

func TestCertExpiryAndSilence(t *testing.T) {
	cfg := rulesCfg(t)
	days := 9
	regions := healthy()
	regions["r3"] = RegionState{}
	c := Evaluate(Setup{Alerting: &cfg.Alerting, Topology: cfg}, Snapshot{Regions: regions, Checks: map[string]CheckState{"content-cert": {Status: model.StatusUp, CertDays: &days}}})
	if c["cert:content-cert"].Summary != "certificate of content-cert expires in 9 days" {
		t.Fatalf("cert: %+v", c)
	}
	if s := c["silent:r3"]; s.Urgency != "low" || s.Severity != "warning" {
		t.Fatalf("one silent region: %+v", s)
	}
	if _, blind := c["silent:"+BlindSubject]; blind {
		t.Fatal("one silent region of three is called blind")
	}
	// Most regions silent: the monitoring is blind, an urgent alert of its
	// own; each region's notice stays what it is.
	regions["r2"] = RegionState{}
	c = Evaluate(Setup{Alerting: &cfg.Alerting, Topology: cfg}, Snapshot{Regions: regions})
	if s := c["silent:"+BlindSubject]; s.Urgency != "high" || s.Severity != "critical" || s.Summary != "2 of 3 regions are silent: monitoring is blind" {
		t.Fatalf("most regions silent: %+v", s)
	}
	for _, r := range []string{"r2", "r3"} {
		if s := c["silent:"+r]; s.Urgency != "low" || s.Severity != "warning" || s.Class != "probe_silent" {
			t.Fatalf("%s's notice while most regions are silent: %+v", r, s)
		}
	}
}

// A regional ticket says a check fails from one region only: it holds
// only while that is what the others see.
func TestRegionalTicketIsTrueWhenItFires(t *testing.T) {
	cfg, err := config.Parse("rules.yaml", []byte(rulesConfig+"    - {id: regional, kind: regional_degraded, policy: tickets}\n"))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 4, 3, 0, 0, 0, time.UTC)
	eval := func(cs CheckState) map[string]Condition {
		return Evaluate(Setup{Alerting: &cfg.Alerting, Topology: cfg}, Snapshot{Now: t0, Regions: healthy(), Checks: map[string]CheckState{"cdn-edge": cs}})
	}
	lone := CheckState{Status: model.StatusDegraded, Failing: []string{"r1"}, FailedAt: map[string]time.Time{"r1": t0.Add(-time.Second)}, Passing: 2, Quorum: 2}
	if c := eval(lone); c["regional:r1"].Summary != "r1: 1 check(s) fail from this region only: cdn-edge" || c["regional:r1"].Region != "r1" {
		t.Fatalf("one region failing while two pass: %+v", c)
	}
	down := lone
	down.Status, down.Failing, down.Passing = model.StatusDown, []string{"r1", "r2"}, 1
	if c := eval(down); len(c) != 1 || c["down:cdn-edge"].Summary == "" {
		t.Fatalf("a check down by quorum raised %v, want its page alone", c)
	}
	unknown := lone
	unknown.Passing = 1 // r3 not heard from since a restart, say
	if c := eval(unknown); len(c) != 0 {
		t.Fatalf("one region failing while the others' views are unknown raised %v", c)
	}
	recovering := lone
	recovering.LastDown = t0.Add(-10 * time.Second) // r1's failure is from the outage
	recovering.FailedAt = map[string]time.Time{"r1": t0.Add(-20 * time.Second)}
	if c := eval(recovering); len(c) != 0 {
		t.Fatalf("the last region to recover from an outage raised %v", c)
	}
	recovering.FailedAt = map[string]time.Time{"r1": t0.Add(-5 * time.Second)} // failed again after it
	if c := eval(recovering); len(c) != 1 {
		t.Fatalf("a region failing after the outage ended raised %v", c)
	}
}
