package controller

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nines-sre/nines/controller/store"
	"github.com/nines-sre/nines/model"
)

// The shapes of Statuspage's public API (v2) and subscriber webhooks, as
// shared/REFERENCE.md gives them: every field a client of Statuspage
// reads, with its type. A field is "s" (string), "s?" (string or null),
// "b", "n", "t" (a time with milliseconds), "t?", "e:<vocabulary>", or an
// object or array of objects of another shape.
type shape map[string]string

var (
	componentStatuses = "operational|degraded_performance|partial_outage|major_outage|under_maintenance"
	statuspageShapes  = map[string]shape{
		"page":      {"id": "s", "name": "s", "url": "s", "time_zone": "s", "updated_at": "t"},
		"status":    {"indicator": "e:none|minor|major|critical|maintenance", "description": "s"},
		"component": {"id": "s", "name": "s", "status": "e:" + componentStatuses, "created_at": "t", "updated_at": "t", "position": "n", "description": "s?", "showcase": "b", "start_date": "s?", "group_id": "s?", "page_id": "s", "group": "b", "only_show_if_degraded": "b"},
		"incident": {"id": "s", "name": "s", "status": "e:investigating|identified|monitoring|resolved|postmortem|scheduled|in_progress|verifying|completed",
			"impact": "e:none|minor|major|critical|maintenance", "shortlink": "s", "created_at": "t", "updated_at": "t", "monitoring_at": "t?",
			"resolved_at": "t?", "started_at": "t", "page_id": "s", "incident_updates": "[update", "components": "[component"},
		"maintenance": {"scheduled_for": "t", "scheduled_until": "t"},
		"update": {"id": "s", "status": "e:investigating|identified|monitoring|resolved|postmortem|scheduled|in_progress|verifying|completed", "body": "s",
			"incident_id": "s", "created_at": "t", "updated_at": "t", "display_at": "t", "affected_components": "[affected",
			"deliver_notifications": "b", "custom_tweet": "s?", "tweet_id": "s?"},
		"affected":         {"code": "s", "name": "s", "old_status": "e:" + componentStatuses, "new_status": "e:" + componentStatuses},
		"meta":             {"unsubscribe": "s", "documentation": "s"},
		"hook_page":        {"id": "s", "status_indicator": "e:none|minor|major|critical|maintenance", "status_description": "s"},
		"component_update": {"id": "s", "component_id": "s", "created_at": "t", "old_status": "e:" + componentStatuses, "new_status": "e:" + componentStatuses},
		"hook_component":   {"id": "s", "name": "s", "status": "e:" + componentStatuses, "created_at": "t"},
	}
	millis = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)
)

// contract checks v against the named shape; checked collects each
// shape.field seen.
type contract struct {
	t       *testing.T
	mu      sync.Mutex
	checked map[string]bool
}

func (c *contract) check(where, name string, v any) {
	c.t.Helper()
	obj, ok := v.(map[string]any)
	if !ok {
		c.t.Errorf("%s: a %s is %T, not an object", where, name, v)
		return
	}
	for field, kind := range statuspageShapes[name] {
		c.mu.Lock()
		c.checked[name+"."+field] = true
		c.mu.Unlock()
		val, present := obj[field]
		if !present {
			c.t.Errorf("%s: %s lacks %s", where, name, field)
			continue
		}
		c.value(where+"."+field, kind, val)
	}
}

func (c *contract) value(where, kind string, val any) {
	c.t.Helper()
	nullable := strings.HasSuffix(kind, "?")
	if val == nil {
		if !nullable {
			c.t.Errorf("%s: null", where)
		}
		return
	}
	kind = strings.TrimSuffix(kind, "?")
	switch {
	case kind == "s":
		if _, ok := val.(string); !ok {
			c.t.Errorf("%s: %T, want a string", where, val)
		}
	case kind == "b":
		if _, ok := val.(bool); !ok {
			c.t.Errorf("%s: %T, want a boolean", where, val)
		}
	case kind == "n":
		if _, ok := val.(float64); !ok {
			c.t.Errorf("%s: %T, want a number", where, val)
		}
	case kind == "t":
		if s, ok := val.(string); !ok || !millis.MatchString(s) {
			c.t.Errorf("%s: %v, want a UTC time with milliseconds", where, val)
		}
	case strings.HasPrefix(kind, "e:"):
		if s, ok := val.(string); !ok || !slices.Contains(strings.Split(kind[2:], "|"), s) {
			c.t.Errorf("%s: %v, not in %s", where, val, kind[2:])
		}
	case strings.HasPrefix(kind, "["):
		list, ok := val.([]any)
		if !ok {
			c.t.Errorf("%s: %T, want an array", where, val)
			return
		}
		for i, item := range list {
			c.check(fmt.Sprintf("%s[%d]", where, i), kind[1:], item)
		}
	}
}

// v2 checks a v2 document: the page, and whatever else it holds.
func (c *contract) v2(path string, doc map[string]any) {
	c.t.Helper()
	c.check(path, "page", doc["page"])
	if st, ok := doc["status"]; ok {
		c.check(path, "status", st)
	}
	for _, key := range []string{"components"} {
		if list, ok := doc[key]; ok {
			c.value(path+"."+key, "[component", list)
		}
	}
	for _, key := range []string{"incidents", "scheduled_maintenances"} {
		if list, ok := doc[key]; ok {
			c.value(path+"."+key, "[incident", list)
			if key == "scheduled_maintenances" {
				for i, m := range list.([]any) {
					c.check(fmt.Sprintf("%s.%s[%d]", path, key, i), "maintenance", m)
				}
			}
		}
	}
}

// hook checks a subscriber webhook's body.
func (c *contract) hook(i int, body map[string]any) {
	c.t.Helper()
	where := fmt.Sprintf("webhook %d", i)
	c.check(where, "meta", body["meta"])
	c.check(where, "hook_page", body["page"])
	switch {
	case body["incident"] != nil:
		c.check(where, "incident", body["incident"])
	case body["component_update"] != nil:
		c.check(where, "component_update", body["component_update"])
		c.check(where, "hook_component", body["component"])
	default:
		c.t.Errorf("%s: neither an incident nor a component update: %v", where, body)
	}
}

// Every v2 document and every subscriber webhook, through an outage, its
// recovery and an announced maintenance's lifecycle, has Statuspage's
// fields with Statuspage's types and words; each incident update says
// what its components were before and after it, in a chain; a
// maintenance was created when it was announced and has an update per
// change of status; times carry milliseconds.
func TestStatuspageContract(t *testing.T) {
	var mu sync.Mutex
	var hooks []map[string]any
	hookSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Errorf("a webhook body is not JSON: %s", b)
		}
		mu.Lock()
		hooks = append(hooks, m)
		mu.Unlock()
	}))
	defer hookSrv.Close()
	soon := time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC)
	h := newAlertHarnessOf(t, func(pd, hook string) string {
		return alertingConfig(pd, hook) + fmt.Sprintf("maintenance:\n  - {id: db, reason: Database upgrade, checks: [api-health], start: %s, end: %s, announce: true}\n",
			soon.Format(time.RFC3339), soon.Add(time.Hour).Format(time.RFC3339)) +
			"dashboard:\n  subscriptions: {smtp: 127.0.0.1:9, from: status@example.com, webhooks: true, private_webhooks: true}\n"
	})
	ctx := t.Context()
	if _, err := h.c.store.Subscribe(ctx, store.Subscriber{Kind: "webhook", Address: hookSrv.URL + "/statuspage", Token: "hook-token", CreatedAt: h.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.c.store.ConfirmSubscriber(ctx, "hook-token", h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	c := &contract{t: t, checked: map[string]bool{}}
	paths := []string{"summary.json", "status.json", "components.json", "incidents.json", "incidents/unresolved.json",
		"scheduled-maintenances.json", "scheduled-maintenances/upcoming.json", "scheduled-maintenances/active.json"}
	read := func() map[string]map[string]any {
		t.Helper()
		out := map[string]map[string]any{}
		for _, p := range paths {
			resp, body := h.do("GET", "/api/v2/"+p, "", nil)
			var doc map[string]any
			if err := json.Unmarshal(body, &doc); resp.StatusCode != 200 || err != nil {
				t.Fatalf("%s: %d %v", p, resp.StatusCode, err)
			}
			c.v2(p, doc)
			out[p] = doc
		}
		return out
	}
	announcedAt := h.clock.Now().Add(time.Minute)
	h.minute(all(model.OutcomeUp))
	read()
	h.minute(all(model.OutcomeDown))
	h.minute(all(model.OutcomeDown))
	h.tick()
	read()
	h.minute(all(model.OutcomeUp))
	h.clock.Add(3 * time.Minute)
	h.minute(all(model.OutcomeUp))
	h.tick()
	docs := read()

	// The incident's updates, newest first: resolved, then opened; each
	// says what it changed, and the opening's new is the resolution's old.
	in := docs["incidents.json"]["incidents"].([]any)[0].(map[string]any)
	ups := in["incident_updates"].([]any)
	if len(ups) != 2 {
		t.Fatalf("incident updates: %v", ups)
	}
	affected := func(u any) (string, string) {
		a := u.(map[string]any)["affected_components"].([]any)
		if len(a) != 1 {
			t.Fatalf("affected components of %v", u)
		}
		m := a[0].(map[string]any)
		return m["old_status"].(string), m["new_status"].(string)
	}
	openOld, openNew := affected(ups[1])
	resOld, resNew := affected(ups[0])
	if openOld != "operational" || (openNew != "major_outage" && openNew != "partial_outage") || resOld != openNew || resNew != "operational" {
		t.Fatalf("affected components: opened %s → %s, resolved %s → %s", openOld, openNew, resOld, resNew)
	}
	if in["updated_at"] != ups[0].(map[string]any)["created_at"] {
		t.Fatalf("the incident's updated_at %v is not its last update's time", in["updated_at"])
	}

	// The maintenance: created when announced, then in progress, then
	// completed, each an update; its shortlink is its own page.
	mw := docs["scheduled-maintenances/upcoming.json"]["scheduled_maintenances"].([]any)[0].(map[string]any)
	if mw["created_at"] != announcedAt.Format("2006-01-02T15:04:05.000Z") || !strings.HasSuffix(mw["shortlink"].(string), "/maintenance/"+mw["id"].(string)) {
		t.Fatalf("the announced maintenance: created %v (announced %v), shortlink %v", mw["created_at"], announcedAt, mw["shortlink"])
	}
	if resp, _ := h.do("GET", strings.TrimPrefix(mw["shortlink"].(string), "http://127.0.0.1:8080"), "", nil); resp.StatusCode != 200 {
		t.Fatalf("the maintenance's shortlink: %d", resp.StatusCode)
	}
	h.clock.Add(soon.Sub(h.clock.Now()))
	h.minute(all(model.OutcomeUp))
	h.tick()
	docs = read()
	active := docs["scheduled-maintenances/active.json"]["scheduled_maintenances"].([]any)
	if len(active) != 1 {
		t.Fatalf("active: %v", active)
	}
	mu2 := active[0].(map[string]any)
	var statuses []string
	for _, u := range mu2["incident_updates"].([]any) {
		statuses = append(statuses, u.(map[string]any)["status"].(string))
	}
	if strings.Join(statuses, ",") != "in_progress,scheduled" || mu2["created_at"] != mw["created_at"] {
		t.Fatalf("the maintenance in progress: updates %v, created %v", statuses, mu2["created_at"])
	}

	// The webhooks: the incident opened and resolved, its component's
	// changes, the maintenance announced and started.
	mu.Lock()
	defer mu.Unlock()
	kinds := map[string]int{}
	for i, b := range hooks {
		c.hook(i, b)
		switch {
		case b["component_update"] != nil:
			kinds["component_update"]++
		case b["incident"].(map[string]any)["impact"] == "maintenance":
			kinds["maintenance"]++
		default:
			kinds["incident"]++
		}
		if u, _ := b["meta"].(map[string]any)["unsubscribe"].(string); u != "http://127.0.0.1:8080/unsubscribe?token=hook-token" {
			t.Errorf("webhook %d: meta.unsubscribe %q", i, u)
		}
	}
	if kinds["incident"] != 2 || kinds["component_update"] != 2 || kinds["maintenance"] != 2 {
		t.Fatalf("webhooks: %v", kinds)
	}
	var fields []string
	for f := range c.checked {
		fields = append(fields, f)
	}
	sort.Strings(fields)
	t.Logf("checked %d fields: %s", len(fields), strings.Join(fields, " "))
}
