package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nines-sre/nines/dashboard"
	"github.com/nines-sre/nines/model"
)

const browserConfig = testConfig + `  - id: web
    checks:
      - id: home-page
        kind: browser
        timeout: 30s
        regions: [eu-london, ap-tokyo]
        browser:
          steps:
            - goto: "http://127.0.0.1:9/app"
            - wait_for: "#in-app-content[data-content-level]"
            - read: "#in-app-content"
              name: level
              attribute: data-content-level
        assert: ["browser.value.level == \"fresh\"", "browser.js_errors == 0"]
`

// Browser checks go only to probes that registered with a browser; in a
// region with none, no probe runs them.
func TestBrowserChecksGoToProbesWithABrowser(t *testing.T) {
	h := newHarnessWith(t, browserConfig)
	beat := func(region, id string, caps ...string) (int, string) {
		hb := model.Heartbeat{Probe: id, Region: region, StartedAt: h.clock.Now(), SentAt: h.clock.Now(), Capabilities: caps}
		resp, body := h.do("POST", "/api/v1/probes/heartbeat", region, hb)
		return resp.StatusCode, string(body)
	}
	checks := func(region, id string) []string {
		var a model.Assignment
		_, body := h.do("GET", "/api/v1/assignment?probe="+id, region, nil)
		if err := json.Unmarshal(body, &a); err != nil {
			t.Fatalf("assignment of %s: %v %s", id, err, body)
		}
		var ids []string
		for _, c := range a.Checks {
			ids = append(ids, c.ID)
		}
		return ids
	}
	if code, body := beat("eu-london", "london-plain"); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	h.clock.Add(1)
	if code, body := beat("eu-london", "london-chromium", model.CapabilityBrowser); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	if code, body := beat("ap-tokyo", "tokyo-plain"); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	// london-plain is senior and runs the network checks; the browser
	// check goes to the one probe that has a browser.
	if got := checks("eu-london", "london-plain"); slices.Contains(got, "home-page") || len(got) != 2 {
		t.Fatalf("london-plain runs %v", got)
	}
	if got := checks("eu-london", "london-chromium"); !slices.Equal(got, []string{"home-page"}) {
		t.Fatalf("london-chromium runs %v, want the browser check alone", got)
	}
	if got := checks("ap-tokyo", "tokyo-plain"); slices.Contains(got, "home-page") {
		t.Fatalf("tokyo-plain, without a browser, runs %v", got)
	}
	var a model.Assignment
	_, body := h.do("GET", "/api/v1/assignment?probe=london-chromium", "eu-london", nil)
	_ = json.Unmarshal(body, &a)
	if a.Checks[0].Browser == nil || len(a.Checks[0].Browser.Steps) != 3 || a.Checks[0].Browser.Steps[2].Attribute != "data-content-level" {
		t.Fatalf("the browser check as assigned: %+v", a.Checks[0])
	}
	if code, body := beat("eu-london", "london-odd", "teleport"); code != http.StatusBadRequest || !strings.Contains(body, `"capabilities[0]"`) {
		t.Fatalf("an unknown capability: %d %s", code, body)
	}
}

// A failed browser run's screenshot is kept apart from its result (never
// in the results API), listed on the check page and served from the
// store; one where it does not belong is refused by name.
func TestBrowserScreenshotsAreKeptApart(t *testing.T) {
	h := newHarnessWith(t, browserConfig)
	h.heartbeat("eu-london")
	at := h.clock.Now().Add(-time.Minute).Truncate(time.Second)
	jpeg := append([]byte{0xff, 0xd8, 0xff, 0xe0}, bytes.Repeat([]byte{7}, 1000)...)
	failed := model.Result{Check: "home-page", Region: "eu-london", Scheduled: at, Started: at, DurationUS: 900000, Outcome: model.OutcomeDown,
		ErrorClass: model.ErrAssertion, Message: `step 2 (wait_for): no #in-app-content[data-content-level] (timed out)`,
		Browser: &model.BrowserFacts{TTFBMS: 12, JSErrors: []string{"boom"}}, Screenshot: jpeg}
	resp, body := h.do("POST", "/api/v1/results", "eu-london", model.ResultBatch{Probe: "p-eu-london", Results: []model.Result{failed}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"stored":1`) {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	_, body = h.do("GET", "/api/v1/results?check=home-page", "", nil)
	if strings.Contains(string(body), "screenshot") || !strings.Contains(string(body), `"js_errors":["boom"]`) {
		t.Fatalf("the results API: %s", body)
	}
	page, err := h.c.pages.CheckPage(context.Background(), "home-page", dashboard.CheckQuery{})
	if err != nil || len(page.Screenshots) != 1 || !page.Screenshots[0].At.Equal(at) || page.Screenshots[0].Message != failed.Message {
		t.Fatalf("check page: %+v %v", page, err)
	}
	if img, err := h.c.pages.Screenshot(context.Background(), "home-page", "eu-london", at); err != nil || !bytes.Equal(img, jpeg) {
		t.Fatalf("image: %d bytes, %v", len(img), err)
	}
	for _, tc := range []struct {
		mutate func(*model.Result)
		want   string
	}{
		{func(r *model.Result) { r.Screenshot = []byte("<svg onload=alert(1)>") }, "screenshot: not a JPEG"},
		{func(r *model.Result) { r.Outcome, r.ErrorClass = model.OutcomeUp, "" }, "only a failed browser check's result carries one"},
		{func(r *model.Result) { r.Screenshot = append(jpeg, make([]byte, model.MaxScreenshot)...) }, "more than 204800"},
	} {
		r := failed
		r.Scheduled = r.Scheduled.Add(-time.Minute)
		tc.mutate(&r)
		_, body := h.do("POST", "/api/v1/results", "eu-london", model.ResultBatch{Probe: "p-eu-london", Results: []model.Result{r}})
		if !strings.Contains(string(body), "results[0].screenshot: ") || !strings.Contains(string(body), tc.want) {
			t.Errorf("want %q: %s", tc.want, body)
		}
	}
}

// The check page of a browser check rates each region's page figures at
// their 75th percentile, over the runs that loaded the page.
func TestBrowserVitalsOnTheCheckPage(t *testing.T) {
	h := newHarnessWith(t, browserConfig)
	h.heartbeat("eu-london")
	h.heartbeat("ap-tokyo")
	base := h.clock.Now().Add(-10 * time.Minute).Truncate(time.Minute)
	var london, tokyo []model.Result
	for i, lcp := range []float64{1000, 5000, 2000, 3000} {
		at := base.Add(time.Duration(i) * time.Minute)
		london = append(london, model.Result{Check: "home-page", Region: "eu-london", Scheduled: at, Started: at, DurationUS: 800000, Outcome: model.OutcomeUp,
			Browser: &model.BrowserFacts{TTFBMS: 40 + float64(i), LCPMS: lcp, CLS: 0.01, INPMS: 80 * float64(i+1), Values: map[string]string{"level": "fresh"}}})
	}
	for i, cls := range []float64{0.3, 0.2} {
		at := base.Add(time.Duration(i) * time.Minute)
		tokyo = append(tokyo, model.Result{Check: "home-page", Region: "ap-tokyo", Scheduled: at, Started: at, DurationUS: 900000, Outcome: model.OutcomeUp,
			Browser: &model.BrowserFacts{TTFBMS: 900, LCPMS: 1500, CLS: cls, Values: map[string]string{"level": "fresh"}}})
	}
	// A run that never loaded the page measures nothing.
	at := base.Add(5 * time.Minute)
	tokyo = append(tokyo, model.Result{Check: "home-page", Region: "ap-tokyo", Scheduled: at, Started: at, DurationUS: 30e6, Outcome: model.OutcomeDown,
		ErrorClass: model.ErrTimeout, Message: "step 1 (goto): timed out", Browser: &model.BrowserFacts{}})
	for region, rs := range map[string][]model.Result{"eu-london": london, "ap-tokyo": tokyo} {
		if resp, body := h.do("POST", "/api/v1/results", region, model.ResultBatch{Probe: "p-" + region, Results: rs}); resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", region, resp.StatusCode, body)
		}
	}
	page, err := h.c.pages.CheckPage(context.Background(), "home-page", dashboard.CheckQuery{Range: "1h"})
	if err != nil || page.Vitals == nil {
		t.Fatalf("check page: %+v %v", page, err)
	}
	figures := map[string]map[string]any{}
	for _, rv := range page.Vitals.Regions {
		figures[rv.Region] = map[string]any{"runs": rv.Runs}
		for i, v := range rv.P75 {
			if v != nil {
				figures[rv.Region][dashboard.VitalFigures[i].Name] = *v
			}
		}
	}
	want := map[string]map[string]any{
		"eu-london": {"runs": 4, "lcp": 3000.0, "cls": 0.01, "inp": 240.0, "ttfb": 42.0},
		"ap-tokyo":  {"runs": 2, "lcp": 1500.0, "cls": 0.3, "ttfb": 900.0}, // no interaction: no INP
	}
	if !reflect.DeepEqual(figures, want) {
		t.Fatalf("p75 by region:\n got %v\nwant %v", figures, want)
	}
	// The regions come in the check's order; each chart has a line per
	// region that measured its figure, a point per minute.
	if page.Vitals.Regions[0].Region != "eu-london" {
		t.Errorf("regions out of the check's order: %+v", page.Vitals.Regions)
	}
	for _, c := range page.Vitals.Charts {
		lines := map[string]int{}
		for _, s := range c.Series {
			lines[s.Region] = len(s.Points)
		}
		want := map[string]int{"eu-london": 4, "ap-tokyo": 2}
		if c.Name == "inp" {
			delete(want, "ap-tokyo")
		}
		if !reflect.DeepEqual(lines, want) {
			t.Errorf("%s chart: %v, want %v", c.Name, lines, want)
		}
	}
	// A check of another kind has no page figures.
	if page, err := h.c.pages.CheckPage(context.Background(), "api-health", dashboard.CheckQuery{}); err != nil || page.Vitals != nil {
		t.Fatalf("an http check's page: %+v %v", page.Vitals, err)
	}
}
