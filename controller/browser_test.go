package controller

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

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
