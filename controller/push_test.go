package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nines-sre/nines/dashboard"
	"github.com/nines-sre/nines/model"
)

const pushKey = "nightly-key-0123456789"

func heartbeatConfig(pd, _ string) string {
	return testConfig + fmt.Sprintf(`  - id: jobs
    checks:
      - {id: nightly, name: Nightly rebuild, kind: heartbeat, heartbeat: {period: 1m, grace: 30s, key: %s}}
slos:
  - {id: nightly-slo, checks: [nightly], target: 99, window: 1h}
alerting:
  group_wait: 0s
  notifiers: [{id: pd, pagerduty: {routing_key: PUSHPUSHPUSHPUSHPUSHPUSHPUSHPU01, events_url: %q}}]
  policies: [{id: page, levels: [{delay: 0s, targets: [pd]}]}]
  rules: [{id: down, kind: check_down, policy: page, resolve_after: 0s}]
`, pushKey, pd)
}

// A heartbeat check's life: pings keep it up, a missed period makes it
// down and pages, a ping brings it back, /start and the next ping measure
// the run, /fail is down with the job's words, and a wrong key, an unknown
// check or another kind's check are one and the same 404.
func TestHeartbeatCheckLife(t *testing.T) {
	h := newAlertHarnessOf(t, heartbeatConfig)
	ctx := context.Background()
	ping := func(path, body string) (int, string) {
		t.Helper()
		resp, out := h.do("POST", path, "", []byte(body))
		return resp.StatusCode, string(out)
	}
	status := func() (model.Status, string) {
		t.Helper()
		if err := h.c.push.Misses(ctx); err != nil {
			t.Fatal(err)
		}
		c := findCheck(statusOf(t, h.harness), "nightly")
		return c.Status, c.Reason
	}
	if code, body := ping("/ping/nightly/"+pushKey, "built 1,204 segments"); code != 200 || body != "OK\n" {
		t.Fatalf("ping: %d %q", code, body)
	}
	if st, _ := status(); st != model.StatusUp {
		t.Fatalf("after a ping: %s", st)
	}
	if resp, _ := h.do("HEAD", "/ping/nightly/"+pushKey, "", nil); resp.StatusCode != 200 {
		t.Fatalf("a HEAD ping: %d", resp.StatusCode)
	}
	_, notFound := ping("/ping/nightly/wrong-key-0123456789", "")
	for _, path := range []string{"/ping/nightly/wrong-key-0123456789", "/ping/nope/" + pushKey, "/ping/api-health/" + pushKey,
		"/ping/nightly/" + pushKey + "/restart"} {
		if code, body := ping(path, ""); code != 404 || body != notFound {
			t.Errorf("%s: %d %q, want the one 404 %q", path, code, body, notFound)
		}
	}

	// A period and its grace pass: down, and paged.
	h.clock.Add(89 * time.Second)
	if st, _ := status(); st != model.StatusUp {
		t.Fatalf("within the grace: %s", st)
	}
	h.clock.Add(2 * time.Second)
	if st, _ := status(); st != model.StatusDown {
		t.Fatalf("past period and grace: %s", st)
	}
	h.tick()
	if st := h.alertState("down:nightly"); st != "firing" {
		t.Fatalf("down:nightly is %q", st)
	}
	if inc := h.pd.Incidents(); len(inc) != 1 || !strings.Contains(inc[0].Summary, "Nightly rebuild is down: no ping came by") {
		t.Fatalf("incidents %+v", inc)
	}
	// The public incident says what the schedule expected.
	deadline := h.clock.Now().Add(-time.Second).UTC()
	public, _ := h.c.store.Incidents(ctx, time.Time{}, 10)
	if len(public) != 1 || public[0].Title != fmt.Sprintf("Nightly rebuild: no ping by %s (due %s)", deadline.Format("15:04 UTC"),
		deadline.Add(-30*time.Second).Format("15:04")) || public[0].Updates[0].Body != public[0].Title {
		t.Fatalf("the public incident of a missed ping: %+v", public)
	}

	// The job runs again: /start, ten seconds, a ping. Up, and resolved.
	ping("/ping/nightly/"+pushKey+"/start", "")
	h.clock.Add(10 * time.Second)
	ping("/ping/nightly/"+pushKey, "")
	if st, _ := status(); st != model.StatusUp {
		t.Fatalf("after the next ping: %s", st)
	}
	h.tick()
	if inc := h.pd.Incidents(); len(inc) != 1 || inc[0].Status != "resolved" {
		t.Fatalf("after the next ping: %+v", inc)
	}
	_, body := h.do("GET", "/api/v1/results?check=nightly&limit=1", "", nil)
	var res struct{ Results []model.Result }
	json.Unmarshal(body, &res)
	if len(res.Results) != 1 || res.Results[0].DurationUS != 10_000_000 || res.Results[0].Region != model.PushRegion {
		t.Fatalf("the run /start to ping: %s", body)
	}

	// /fail: down, saying what the job said.
	h.clock.Add(time.Second)
	ping("/ping/nightly/"+pushKey+"/fail", "exit status 3: disk full")
	if st, reason := status(); st != model.StatusDown {
		t.Fatalf("after /fail: %s (%s)", st, reason)
	}
	h.tick()
	if a, _ := h.c.store.Alert(ctx, "down:nightly"); a == nil || !strings.Contains(a.Summary, "exit status 3: disk full") {
		t.Fatalf("the alert after /fail: %+v", a)
	}
	// The public record never carries the job's own words.
	public, _ = h.c.store.Incidents(ctx, time.Time{}, 10)
	if len(public) != 2 || !strings.HasPrefix(public[0].Title, "Nightly rebuild: its run failed at ") || strings.Contains(fmt.Sprint(public), "disk full") {
		t.Fatalf("the public incident of a failed run: %+v", public)
	}

	// Its minutes count like any check's: the missed period and the
	// failure spent budget.
	if err := h.c.ledger.EvaluateSlices(ctx); err != nil {
		t.Fatal(err)
	}
	if r, err := h.c.ledger.SLOReport(ctx, h.c.Config().SLO("nightly-slo"), h.clock.Now().Add(time.Minute)); err != nil || r.Minutes.Bad < 1 || r.Minutes.Good < 1 {
		t.Fatalf("the SLO of a heartbeat check: %+v %v", r.Minutes, err)
	}

	// Pings are bounded per check.
	codes := map[int]int{}
	for range 12 {
		code, _ := ping("/ping/nightly/"+pushKey, "")
		codes[code]++
	}
	if codes[429] == 0 {
		t.Fatalf("12 pings at once: %v, want some 429", codes)
	}
	// Probes cannot speak for a heartbeat check.
	r := h.result("nightly", "eu-london", 0, model.OutcomeUp)
	if ack := h.ship("eu-london", r); len(ack.Rejected) != 1 || !strings.Contains(ack.Rejected[0].Error, "heartbeat check") {
		t.Fatalf("a probe's result for a heartbeat check: %+v", ack)
	}
}

// A job's own words (the body of /fail) are for SREs only: the incident
// its failure opens is worded from the configuration, and no public page,
// document or feed carries the job's text; the SRE check page does.
func TestHostileJobTextStaysOffPublicSurfaces(t *testing.T) {
	h := newAlertHarnessOf(t, heartbeatConfig)
	ctx := context.Background()
	const lure = "Your account is locked: sign in at http://evil.example/login <b>now</b>"
	h.minute(all(model.OutcomeUp))
	h.clock.Add(time.Second)
	if resp, _ := h.do("POST", "/ping/nightly/"+pushKey+"/fail", "", []byte(lure)); resp.StatusCode != 200 {
		t.Fatalf("/fail: %d", resp.StatusCode)
	}
	h.tick()
	if c := findCheck(h.c.Status(), "nightly"); c.Status != model.StatusDown {
		t.Fatalf("the job is %s after /fail", c.Status)
	}
	if _, body := h.do("GET", "/api/v2/incidents/unresolved.json", "", nil); !strings.Contains(string(body), "Nightly rebuild: its run failed at") {
		t.Fatalf("no public incident worded from the configuration: %s", body)
	}
	for _, path := range []string{"/", "/api/v1/status", "/api/v1/status?check=nightly", "/api/v2/summary.json", "/api/v2/incidents.json",
		"/history", "/history.atom", "/history.rss", "/incidents/1"} {
		if _, body := h.do("GET", path, "", nil); strings.Contains(string(body), "evil.example") {
			t.Errorf("%s carries the job's text", path)
		}
	}
	p, err := h.c.pages.CheckPage(ctx, "nightly", dashboard.CheckQuery{Range: "1h"})
	if err != nil || len(p.Results) == 0 || !strings.Contains(p.Results[0].Message, "evil.example") {
		t.Fatalf("the SRE check page does not show the job's words: %+v %v", p, err)
	}
}
