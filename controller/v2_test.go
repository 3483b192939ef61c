package controller

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nines-sre/nines/model"
)

// The Statuspage-compatible API: every document carries the page, the
// rollup and the components in Statuspage's words; an outage is an
// unresolved incident with its timeline; an announced maintenance is
// scheduled ahead of time. Field names and values are Statuspage's.
func TestStatuspageV2API(t *testing.T) {
	soon := time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC)
	h := newAlertHarnessOf(t, func(pd, hook string) string {
		return alertingConfig(pd, hook) + fmt.Sprintf("maintenance:\n  - {id: db, reason: Database upgrade, checks: [api-docs], start: %s, end: %s, announce: true}\n  - {id: quiet, checks: [api-docs], start: %s, end: %s}\n",
			soon.Format(time.RFC3339), soon.Add(time.Hour).Format(time.RFC3339), soon.Format(time.RFC3339), soon.Add(time.Hour).Format(time.RFC3339))
	})
	get := func(path string) map[string]any {
		t.Helper()
		resp, body := h.do("GET", path, "", nil)
		if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		page := m["page"].(map[string]any)
		for _, k := range []string{"id", "name", "url", "time_zone", "updated_at"} {
			if _, ok := page[k]; !ok {
				t.Errorf("%s: page lacks %s", path, k)
			}
		}
		return m
	}
	components := []string{"operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance"}
	checkComponents := func(path string, cs []any) {
		t.Helper()
		for _, c := range cs {
			cm := c.(map[string]any)
			for _, k := range []string{"id", "name", "status", "created_at", "updated_at", "position", "description", "showcase", "start_date",
				"group_id", "page_id", "group", "only_show_if_degraded"} {
				if _, ok := cm[k]; !ok {
					t.Errorf("%s: component lacks %s", path, k)
				}
			}
			if !slices.Contains(components, cm["status"].(string)) {
				t.Errorf("%s: component status %q", path, cm["status"])
			}
		}
	}

	h.minute(all(model.OutcomeUp))
	st := get("/api/v2/status.json")["status"].(map[string]any)
	if st["indicator"] != "none" || st["description"] != "All Systems Operational" {
		t.Fatalf("all up: %v", st)
	}
	checkComponents("components.json", get("/api/v2/components.json")["components"].([]any))
	mw := get("/api/v2/scheduled-maintenances/upcoming.json")["scheduled_maintenances"].([]any)
	if len(mw) != 1 {
		t.Fatalf("announced maintenance ahead: %v", mw)
	}
	m := mw[0].(map[string]any)
	if m["name"] != "Database upgrade" || m["status"] != "scheduled" || m["impact"] != "maintenance" || m["scheduled_for"] != soon.Format("2006-01-02T15:04:05.000Z") ||
		len(m["components"].([]any)) != 1 {
		t.Fatalf("the maintenance: %v", m)
	}
	if active := get("/api/v2/scheduled-maintenances/active.json")["scheduled_maintenances"].([]any); len(active) != 0 {
		t.Fatalf("active before it starts: %v", active)
	}
	// The status page announces it too; the unannounced window it does not.
	if _, page := h.do("GET", "/", "", nil); !strings.Contains(string(page), "Scheduled maintenance") ||
		!strings.Contains(string(page), "Database upgrade") || strings.Count(string(page), `class="maintenance"`) != 1 {
		t.Fatalf("the status page does not announce the maintenance")
	}

	// A confirmed outage: an unresolved incident, a critical rollup.
	h.minute(all(model.OutcomeDown))
	h.minute(all(model.OutcomeDown))
	sum := get("/api/v2/summary.json")
	if st := sum["status"].(map[string]any); st["indicator"] != "critical" && st["indicator"] != "major" {
		t.Fatalf("during the outage: %v", st)
	}
	checkComponents("summary.json", sum["components"].([]any))
	incs := sum["incidents"].([]any)
	if len(incs) != 1 {
		t.Fatalf("unresolved incidents: %v", incs)
	}
	in := incs[0].(map[string]any)
	for _, k := range []string{"id", "name", "status", "impact", "shortlink", "created_at", "updated_at", "monitoring_at", "resolved_at",
		"started_at", "page_id", "incident_updates", "components"} {
		if _, ok := in[k]; !ok {
			t.Errorf("incident lacks %s", k)
		}
	}
	if in["status"] != "investigating" || !slices.Contains([]string{"none", "minor", "major", "critical"}, in["impact"].(string)) ||
		in["shortlink"] != "http://127.0.0.1:8080/incidents/"+in["id"].(string) {
		t.Fatalf("the incident: %v", in)
	}
	upd := in["incident_updates"].([]any)[0].(map[string]any)
	if upd["incident_id"] != in["id"] || upd["status"] != "investigating" || len(upd["affected_components"].([]any)) != 1 {
		t.Fatalf("its first update: %v", upd)
	}

	// Recovered: resolved, out of unresolved, still listed.
	h.minute(all(model.OutcomeUp))
	h.clock.Add(3 * time.Minute)
	h.minute(all(model.OutcomeUp))
	if un := get("/api/v2/incidents/unresolved.json")["incidents"].([]any); len(un) != 0 {
		t.Fatalf("unresolved after recovery: %v", un)
	}
	// The incident's own page, which the shortlink names, and the history.
	if resp, page := h.do("GET", "/incidents/"+in["id"].(string), "", nil); resp.StatusCode != 200 || !strings.Contains(string(page), "resolved") {
		t.Fatalf("incident page: %d %s", resp.StatusCode, page)
	}
	if _, page := h.do("GET", "/history", "", nil); !strings.Contains(string(page), `href="/incidents/`+in["id"].(string)+`"`) {
		t.Fatalf("history lacks the incident:\n%s", page)
	}
	recent := get("/api/v2/incidents.json")["incidents"].([]any)
	if len(recent) != 1 || recent[0].(map[string]any)["status"] != "resolved" || recent[0].(map[string]any)["resolved_at"] == nil {
		t.Fatalf("incidents after recovery: %v", recent)
	}

	// The maintenance begins: active, and its component under maintenance.
	h.clock.Add(soon.Sub(h.clock.Now()))
	h.minute(all(model.OutcomeUp))
	if active := get("/api/v2/scheduled-maintenances/active.json")["scheduled_maintenances"].([]any); len(active) != 1 ||
		active[0].(map[string]any)["status"] != "in_progress" {
		t.Fatalf("active maintenance: %v", active)
	}
}
