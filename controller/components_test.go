package controller

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nines-sre/nines/model"
)

// componentsConfig is testConfig with components of every kind of
// public reach.
var componentsConfig = testConfig[:strings.Index(testConfig, "components:")] + `components:
  - id: api
    name: API
    group: Backend services
    checks:
      - {id: api-health, kind: http, http: {url: "http://127.0.0.1:9/healthz"}}
  - id: docs
    name: Docs
    group: Backend services
    checks:
      - {id: docs-home, kind: http, http: {url: "http://127.0.0.1:9/docs"}}
  - id: ops
    name: Operations console
    public: false
    checks:
      - {id: ops-console, kind: http, http: {url: "http://127.0.0.1:9/ops"}}
  - id: job
    name: Nightly export
    banner: degraded
    checks:
      - {id: export-job, kind: http, http: {url: "http://127.0.0.1:9/export"}}
alerting:
  api_tokens: [reader-token-0123456789]
  dashboard_url: http://127.0.0.1:8080
  group_wait: 0s
  notifiers:
    - {id: hook, webhook: {url: "http://127.0.0.1:9/hook"}}
  policies:
    - {id: page, levels: [{targets: [hook]}]}
  rules:
    - {id: down, kind: check_down, policy: page}
dashboard:
  subscriptions: {smtp: 127.0.0.1:9, from: status@example.com}
`

// Components as customers see them: one the public does not see is on no
// public surface (and its outage opens no public incident), though the
// API shows it to a caller with a token; components of a group are shown
// together under the group's status, and in v2 as Statuspage's groups; a
// background job's outage makes the banner degraded at worst.
func TestComponentsAsCustomersSeeThem(t *testing.T) {
	h := newHarnessWith(t, componentsConfig)
	h.clock.Add(30 * time.Second)
	down := map[string]bool{}
	minute := func() {
		h.clock.Add(time.Minute)
		h.round(func(check, _ string) model.Outcome {
			if down[check] {
				return model.OutcomeDown
			}
			return model.OutcomeUp
		})
		if err := h.c.EvaluateAlerts(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	minute()
	v2 := func() map[string]any {
		t.Helper()
		_, body := h.do("GET", "/api/v2/summary.json", "", nil)
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}

	// The internal component and its check are nowhere public.
	public := map[string]string{}
	for _, path := range []string{"/", "/api/v1/status", "/api/v1/status?view=compact", "/api/v2/summary.json", "/api/v2/components.json", "/history", "/history.atom"} {
		_, body := h.do("GET", path, "", nil)
		public[path] = string(body)
		if strings.Contains(string(body), "ops-console") || strings.Contains(string(body), "Operations console") {
			t.Errorf("%s shows the internal component", path)
		}
	}
	if resp, _ := h.do("GET", "/badge/ops-console.svg", "", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("the internal check's badge: %d", resp.StatusCode)
	}
	if resp, _ := h.do("GET", "/api/v1/status?check=ops-console", "", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("the internal check by name: %d", resp.StatusCode)
	}
	if _, body := h.do("GET", "/api/v1/status", "", nil, "Authorization", "Bearer reader-token-0123456789"); !strings.Contains(string(body), "ops-console") {
		t.Errorf("a caller with an API token does not see the internal component")
	}

	// The group: together on the page under its status, and in v2.
	page := public["/"]
	if !strings.Contains(page, `<div class="group" id="group-backend-services"><h3><span>Backend services</span>`) ||
		strings.Index(page, `id="component-api"`) > strings.Index(page, `id="component-docs"`) {
		t.Errorf("the status page does not show the group with its components")
	}
	groups := 0
	for _, c := range v2()["components"].([]any) {
		cm := c.(map[string]any)
		switch cm["id"] {
		case "group-backend-services":
			groups++
			if cm["group"] != true || len(cm["components"].([]any)) != 2 {
				t.Errorf("the group in v2: %v", cm)
			}
		case "api", "docs":
			if cm["group_id"] != "group-backend-services" {
				t.Errorf("%s in v2 has group_id %v", cm["id"], cm["group_id"])
			}
		}
	}
	if groups != 1 {
		t.Errorf("%d groups in v2", groups)
	}

	// The internal console fails everywhere: on-call hears, the public
	// does not.
	down["ops-console"] = true
	minute()
	minute()
	if st := h.c.Status(); findCheck(st, "ops-console").Status != model.StatusDown {
		t.Fatalf("ops-console is not down: %+v", findCheck(st, "ops-console"))
	}
	if _, body := h.do("GET", "/api/v2/incidents/unresolved.json", "", nil); !strings.Contains(string(body), `"incidents":[]`) {
		t.Errorf("an internal outage opened a public incident: %s", body)
	}
	if _, body := h.do("GET", "/", "", nil); !strings.Contains(string(body), `id="overall" role="status">All systems operational`) &&
		!strings.Contains(string(body), `class="banner s-operational"`) {
		t.Errorf("an internal outage changed the banner")
	}
	down["ops-console"] = false

	// The nightly export fails everywhere: its component is a major
	// outage, the banner degraded at worst.
	down["export-job"] = true
	minute()
	minute()
	_, page = h.doString("/")
	if !strings.Contains(page, `class="banner s-degraded_performance" id="overall"`) || !strings.Contains(page, `data-status="major_outage"`) {
		t.Errorf("a background job's outage: the banner is not degraded, or the job's own status is not shown")
	}
	if _, body := h.do("GET", "/api/v2/incidents/unresolved.json", "", nil); !strings.Contains(string(body), `"name":"Nightly export down in 3 of 3 regions","status":"investigating","impact":"minor"`) {
		t.Errorf("the public job's outage opened no public incident: %s", body)
	}
	if ind := v2()["status"].(map[string]any)["indicator"]; ind != "minor" {
		t.Errorf("v2 indicator %v with a background job down, want minor", ind)
	}
	var v1 struct{ Status string }
	_, body := h.do("GET", "/api/v1/status", "", nil)
	if err := json.Unmarshal(body, &v1); err != nil || v1.Status != "degraded" {
		t.Errorf("v1 overall %q with a background job down, want degraded", v1.Status)
	}
}

func (h *harness) doString(path string) (*http.Response, string) {
	resp, body := h.do("GET", path, "", nil)
	return resp, string(body)
}
