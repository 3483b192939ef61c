package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nines-sre/nines/dashboard"
	"github.com/nines-sre/nines/model"
)

// round ships one result per check and region at the current minute, with
// every region heartbeating, and brings the slices up to date.
func (h *harness) round(outcome func(check, region string) model.Outcome) {
	h.t.Helper()
	for region := range tokens {
		h.heartbeat(region)
	}
	for _, ch := range h.c.Config().AllChecks() {
		for _, region := range h.c.Config().CheckRegions(ch) {
			r := h.result(ch.ID, region, 0, outcome(ch.ID, region))
			if r.Outcome == model.OutcomeDegraded {
				r.HTTPStatus = 200
			}
			h.ship(region, r)
		}
	}
	if err := h.c.ledger.EvaluateSlices(context.Background()); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) page() *dashboard.StatusPage {
	h.t.Helper()
	p, err := h.c.pages.StatusPage(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	return p
}

// A component minute is down once, however many of its checks were down
// in it; degraded minutes show in its day bar; the region matrix says what
// the status API says.
func TestComponentDayBarAndMatrixFollowTheVerdicts(t *testing.T) {
	h := newHarness(t)
	h.clock.Add(30 * time.Second)
	for m := 0; m < 8; m++ {
		h.clock.Add(time.Minute)
		h.round(func(check, region string) model.Outcome {
			if m >= 1 && m < 6 {
				return model.OutcomeDown // both checks, every region, 5 minutes
			}
			return model.OutcomeUp
		})
	}
	day := h.page().Components[0].Days[89]
	if day.Down != 5 {
		t.Fatalf("today's bar says %d min down for two checks down together for 5 minutes", day.Down)
	}
	// eu-frankfurt serves api-health worse than it should: degraded.
	for m := 0; m < 3; m++ {
		h.clock.Add(time.Minute)
		h.round(func(check, region string) model.Outcome {
			if check == "api-health" && region == "eu-frankfurt" {
				return model.OutcomeDegraded
			}
			return model.OutcomeUp
		})
	}
	st := h.c.Status()
	if got := st.Components[0].Checks[0].Regions["eu-frankfurt"].Status; got != model.StatusDegraded {
		t.Fatalf("status API says %s for eu-frankfurt", got)
	}
	p := h.page()
	if p.Components[0].Status != dashboard.DegradedPerformance {
		t.Fatalf("component %s", p.Components[0].Status)
	}
	for _, cell := range p.Components[0].Cells {
		if cell.Region == "eu-frankfurt" && cell.Status != string(model.StatusDegraded) {
			t.Fatalf("the page's matrix says %s where the API says degraded", cell.Status)
		}
	}
	if d := p.Components[0].Days[89]; d.Degraded < 2 {
		t.Fatalf("today's bar shows %d degraded minutes", d.Degraded)
	}
}

// An active maintenance window is maintenance on every surface, and a real
// outage of a check outside it still shows.
func TestMaintenanceIsMaintenanceEverywhere(t *testing.T) {
	start := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	yaml := testConfig + fmt.Sprintf("maintenance:\n  - {id: upgrade, reason: upgrade, checks: [api-health], start: %s, end: %s}\n",
		start.Format(time.RFC3339), start.Add(time.Hour).Format(time.RFC3339))
	h := newHarnessWith(t, yaml)
	for m := 0; m < 3; m++ {
		h.clock.Add(time.Minute)
		h.round(func(check, region string) model.Outcome {
			if check == "api-health" {
				return model.OutcomeDown
			}
			return model.OutcomeUp
		})
	}
	st := h.c.Status()
	if got := st.Components[0].Checks[0].Status; got != model.StatusMaintenance {
		t.Fatalf("status API: api-health %s", got)
	}
	if got := h.page().Components[0].Status; got != dashboard.UnderMaintenance {
		t.Fatalf("status page: %s", got)
	}
	if _, status, _ := h.c.pages.Badge(context.Background(), "api-health"); status != "maintenance" {
		t.Fatalf("badge status %q", status)
	}
	body := gather(t, h, `nines_check_status{check="api-health",status="maintenance"}`)
	if !strings.HasSuffix(body, " 1") {
		t.Fatalf("nines_check_status for maintenance: %q", body)
	}
	// api-docs goes down outside the window: a real outage shows.
	for m := 0; m < 2; m++ {
		h.clock.Add(time.Minute)
		h.round(func(check, region string) model.Outcome { return model.OutcomeDown })
	}
	if got := h.page().Components[0].Status; got != dashboard.MajorOutage {
		t.Fatalf("status page with api-docs down outside the window: %s", got)
	}
}

// gather returns the exposition line of one series from /metrics.
func gather(t *testing.T, h *harness, series string) string {
	t.Helper()
	_, body := h.do("GET", "/metrics", "", nil)
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, series+" ") {
			return line
		}
	}
	t.Fatalf("no %s in /metrics", series)
	return ""
}

// GET /api/v1/results: newest first, limit=1 is the newest, next_cursor
// pages through every result once; each result carries its kind's facts.
func TestResultsAPIPagesNewestFirstWithFacts(t *testing.T) {
	h := newHarness(t)
	for region := range tokens {
		h.heartbeat(region)
	}
	var want []string
	for k := 0; k < 7; k++ {
		h.clock.Add(10 * time.Second)
		for _, region := range []string{"eu-london", "ap-tokyo"} {
			r := h.result("api-health", region, 0, model.OutcomeUp)
			exp := r.Started.Add(10*24*time.Hour + time.Hour)
			r.CertExpiry = &exp
			r.DNS = &model.DNSFacts{RCode: "NOERROR", Answers: []string{"192.0.2.1"}}
			h.ship(region, r)
			want = append(want, r.Key())
		}
	}
	type page struct {
		Results []struct {
			model.Result
			Days *int `json:"cert_days_left"`
		} `json:"results"`
		Next string `json:"next_cursor"`
	}
	get := func(query string) page {
		t.Helper()
		resp, body := h.do("GET", "/api/v1/results?check=api-health"+query, "", nil)
		var p page
		if resp.StatusCode != 200 || json.Unmarshal(body, &p) != nil {
			t.Fatalf("GET %s: %d %s", query, resp.StatusCode, body)
		}
		return p
	}
	newest := get("&limit=1")
	if len(newest.Results) != 1 || newest.Results[0].Scheduled != h.clock.Now().Truncate(time.Second).UTC() || newest.Next == "" {
		t.Fatalf("limit=1: %+v", newest)
	}
	if r := newest.Results[0]; r.DNS == nil || r.DNS.RCode != "NOERROR" || r.Days == nil || *r.Days != 10 {
		t.Fatalf("facts of the newest: dns %+v, cert_days_left %v", r.DNS, r.Days)
	}
	seen := map[string]bool{}
	var last time.Time
	cursor := ""
	for pages := 0; pages < 10; pages++ {
		p := get("&limit=3" + cursor)
		for _, r := range p.Results {
			if seen[r.Key()] || (!last.IsZero() && r.Scheduled.After(last)) {
				t.Fatalf("page %d: %s again or out of order", pages, r.Key())
			}
			seen[r.Key()], last = true, r.Scheduled
		}
		if p.Next == "" {
			break
		}
		cursor = "&cursor=" + url.QueryEscape(p.Next)
	}
	if len(seen) != len(want) {
		t.Fatalf("paged through %d of %d results", len(seen), len(want))
	}
	if resp, _ := h.do("GET", "/api/v1/results?check=api-health&cursor=nonsense", "", nil); resp.StatusCode != 400 {
		t.Fatalf("a bad cursor: %d", resp.StatusCode)
	}
}
