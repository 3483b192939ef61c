package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nines-sre/nines/dashboard"
	"github.com/nines-sre/nines/model"
)

const eventsKey = "renders-key-0123456789abcdef"

const eventsConfig = testConfig + `slos:
  - id: renders
    name: Renders served fresh or cached
    target: 99
    sli: events
    checks: [api-health]
    events:
      push: {key: ` + eventsKey + `}
`

// An events SLO counts what a system pushes per minute: good and valid
// events, each minute's replacing what it had, so that a retried push
// counts once; the budget and burn rates are over those events.
func TestEventsSLOFromPushedCounts(t *testing.T) {
	h := newHarnessWith(t, eventsConfig)
	now := h.clock.Now()
	var counts model.EventCounts
	// An hour of traffic: 1,000 renders a minute, 990 good, and the last
	// ten minutes 950 good.
	for i := 60; i >= 1; i-- {
		good := int64(990)
		if i <= 10 {
			good = 950
		}
		counts.Counts = append(counts.Counts, model.MinuteEvents{Minute: now.Truncate(time.Minute).Add(-time.Duration(i) * time.Minute), Good: good, Valid: 1000})
	}
	for range 2 { // the same push twice: a client's retry
		resp, body := h.do("POST", "/sli/renders/"+eventsKey, "", counts)
		if resp.StatusCode != http.StatusOK || string(body) != `{"stored":60}`+"\n" {
			t.Fatalf("push: %d %s", resp.StatusCode, body)
		}
	}
	var r struct {
		SLI         string   `json:"sli"`
		Value       *float64 `json:"sli_value"`
		Source      string   `json:"source"`
		Events      struct{ Good, Bad, Total int }
		ErrorBudget struct {
			Unit            string
			Total, Consumed float64
		} `json:"error_budget"`
		BurnRates map[string]float64 `json:"burn_rates"`
	}
	resp, body := h.do("GET", "/api/v1/slo/renders", "", nil)
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &r) != nil {
		t.Fatalf("slo: %d %s", resp.StatusCode, body)
	}
	good := 50*990 + 10*950
	if r.SLI != "events" || r.Source != "push" || r.Events.Total != 60000 || r.Events.Good != good || r.Events.Bad != 60000-good {
		t.Fatalf("counted twice or not at all: %s", body)
	}
	// The budget is 1 % of the window's events; the 30 days before the
	// first counts are taken at the rate counted since (1,000 a minute),
	// all good: a new SLO has a whole window's budget.
	if r.Value == nil || math.Abs(*r.Value-float64(good)/60000) > 1e-9 || r.ErrorBudget.Unit != "events" ||
		math.Abs(r.ErrorBudget.Total-0.01*1000*43200) > 1e-6 || r.ErrorBudget.Consumed != float64(60000-good) {
		t.Fatalf("value and budget: %s", body)
	}
	// 5m: 5 % bad against a 1 % budget is a burn of 5; 1h: 1,000 bad of
	// 60,000 (1.67 %) is 1.67; 6h: the same 1,000 bad of the hour counted
	// and five hours before it at 1,000 a minute, 0.28.
	if math.Abs(r.BurnRates["5m"]-5) > 1e-9 || math.Abs(r.BurnRates["1h"]-float64(60000-good)/60000/0.01) > 1e-9 ||
		math.Abs(r.BurnRates["6h"]-float64(60000-good)/360000/0.01) > 1e-9 {
		t.Fatalf("burn rates: %v", r.BurnRates)
	}
	// A minute pushed again with new counts replaces its own.
	last := counts.Counts[len(counts.Counts)-1]
	last.Good = 1000
	if resp, body := h.do("POST", "/sli/renders/"+eventsKey, "", model.EventCounts{Counts: []model.MinuteEvents{last}}); resp.StatusCode != http.StatusOK {
		t.Fatalf("push: %d %s", resp.StatusCode, body)
	}
	_, body = h.do("GET", "/api/v1/slo/renders", "", nil)
	if !strings.Contains(string(body), fmt.Sprintf(`"good":%d,"bad":%d,"total":60000`, good+50, 60000-good-50)) ||
		!strings.Contains(string(body), `"recent":{"good":4800,"bad":200,"total":5000}`) {
		t.Fatalf("a minute pushed again: %s", body)
	}
	// The SRE view shows real users' counts beside the checks of the
	// same service.
	sre, err := h.c.pages.SREPage(context.Background())
	if err != nil || len(sre.SLOs) != 1 || sre.SLOs[0].RealUsers == nil {
		t.Fatalf("SRE page: %+v %v", sre, err)
	}
	ru := sre.SLOs[0].RealUsers
	if ru.Source != "push" || ru.Good != good+50 || ru.Valid != 60000 || ru.Newest == nil || !ru.Newest.Equal(last.Minute) ||
		len(ru.Beside) != 1 || ru.Beside[0].ID != "api-health" || ru.Recent == nil || *ru.Recent != (dashboard.Counted{Good: 4800, Valid: 5000}) {
		t.Fatalf("real users on the SRE page: %+v", ru)
	}
	// The SLO's figures are on /metrics and in the SLA report.
	_, body = h.do("GET", "/metrics", "", nil)
	if !strings.Contains(string(body), `nines_slo_burn_rate{slo="renders",window="1h"}`) {
		t.Fatalf("metrics lack the events SLO's burn")
	}
	rep, err := h.c.ledger.Report(context.Background(), now.Add(-2*time.Hour), now)
	var table bytes.Buffer
	if err != nil || rep.Render(&table, "table") != nil || !strings.Contains(table.String(), "events (push)") || !strings.Contains(table.String(), "98.417%   false  1200.0 events  950") {
		t.Fatalf("SLA report: %v\n%s", err, table.String())
	}
}

// Pushed counts that cannot be right are refused, naming where; an
// unknown SLO, one that counts from elsewhere and a wrong key get one
// answer; nothing stored changes.
func TestEventsSLORefusesBadCounts(t *testing.T) {
	h := newHarnessWith(t, eventsConfig+`  - id: uptime
    target: 99.9
    checks: [api-health]
`)
	m := h.clock.Now().Truncate(time.Minute).Add(-time.Minute)
	ok := model.MinuteEvents{Minute: m, Good: 5, Valid: 10}
	if resp, body := h.do("POST", "/sli/renders/"+eventsKey, "", model.EventCounts{Counts: []model.MinuteEvents{ok}}); resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	for _, tc := range []struct {
		body any
		want string
	}{
		{model.EventCounts{}, "counts: none given"},
		{model.EventCounts{Counts: []model.MinuteEvents{{Minute: m, Good: 11, Valid: 10}}}, "counts[0].good: 11 is not between 0 and valid (10)"},
		{model.EventCounts{Counts: []model.MinuteEvents{ok, {Minute: m.Add(30 * time.Second), Valid: 1}}}, "counts[1].minute: " + m.Add(30*time.Second).Format(time.RFC3339) + " is not the start of a minute"},
		{model.EventCounts{Counts: []model.MinuteEvents{{Minute: m.Add(time.Hour), Valid: 1}}}, "is in the future"},
		{model.EventCounts{Counts: []model.MinuteEvents{{Minute: m.Add(-8 * 24 * time.Hour), Valid: 1}}}, "is more than 168h0m0s ago"},
		{model.EventCounts{Counts: []model.MinuteEvents{ok, ok}}, "counts[1].minute: " + m.Format(time.RFC3339) + " is given twice"},
		{model.EventCounts{Counts: []model.MinuteEvents{{Minute: m, Good: -1, Valid: 1}}}, "counts[0].good: -1"},
		{[]byte(`{"counts":[{"minute":"yesterday"}]}`), `parsing time \"yesterday\"`},
	} {
		resp, body := h.do("POST", "/sli/renders/"+eventsKey, "", tc.body)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), tc.want) {
			t.Errorf("want 400 %q: %d %s", tc.want, resp.StatusCode, body)
		}
	}
	for _, path := range []string{"/sli/renders/wrong-key-0123456789abc", "/sli/uptime/" + eventsKey, "/sli/nothing/" + eventsKey} {
		resp, body := h.do("POST", path, "", model.EventCounts{Counts: []model.MinuteEvents{ok}})
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "not found") {
			t.Errorf("%s: %d %s", path, resp.StatusCode, body)
		}
	}
	if _, body := h.do("GET", "/api/v1/slo/renders", "", nil); !strings.Contains(string(body), `"good":5,"bad":5,"total":10`) {
		t.Fatalf("stored counts changed: %s", body)
	}
}

// When real users fail while the probes say up, the disagreement rule's
// alert shows on the SRE view beside the real users' last five minutes.
func TestDisagreementOnTheSREView(t *testing.T) {
	h := newAlertHarnessOf(t, func(pd, hook string) string {
		return alertingConfig(pd, hook) + "    - {id: real-users, kind: disagreement, policy: notices, slos: [renders], for: 1m}\n" +
			strings.TrimPrefix(eventsConfig, testConfig)
	})
	for range 8 {
		h.minute(all(model.OutcomeUp))
	}
	now := h.clock.Now()
	var counts model.EventCounts
	for i := 10; i >= 1; i-- {
		counts.Counts = append(counts.Counts, model.MinuteEvents{Minute: now.Truncate(time.Minute).Add(-time.Duration(i) * time.Minute), Good: 900, Valid: 1000})
	}
	if resp, body := h.do("POST", "/sli/renders/"+eventsKey, "", counts); resp.StatusCode != http.StatusOK {
		t.Fatalf("push: %d %s", resp.StatusCode, body)
	}
	h.clock.Add(20 * time.Second) // past the burn rates' 15 s cache
	h.tick()
	if s := h.alertState("real-users:renders"); s != "pending" {
		t.Fatalf("disagreement alert: %q", s)
	}
	sre, err := h.c.pages.SREPage(context.Background())
	if err != nil || len(sre.SLOs) != 1 || sre.SLOs[0].RealUsers == nil {
		t.Fatalf("SRE page: %+v %v", sre, err)
	}
	ru := sre.SLOs[0].RealUsers
	if !strings.HasPrefix(ru.Disagreement, "pending: Renders served fresh or cached: the probes say up, but 10.0 % of real users' events failed over 5m (500 of 5000") ||
		ru.Recent == nil || ru.Recent.Share() != 90 || len(ru.Beside) != 1 || ru.Beside[0].Status != "up" {
		t.Fatalf("real users beside the probes: %+v", ru)
	}
}
