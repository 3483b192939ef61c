package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nines-sre/nines/alerting"
	"github.com/nines-sre/nines/model"
)

const errorsKey = "new-errors-key-0123456789"

func eventRuleConfig(pd, hookURL string) string {
	return alertingConfig(pd, hookURL) + `    - {id: new-errors, kind: event, policy: notices, key: ` + errorsKey + `, hold: 30m, components: [api]}
`
}

// An event rule's alerts are what a system tells nines: a trigger opens
// the alert of its key (one per key, sent again or not), which holds for
// the rule's hold after the last trigger, or until a resolve; on-call
// hears of it through the rule's policy; nothing reaches the public
// surfaces.
func TestEventRuleAlerts(t *testing.T) {
	h := newAlertHarnessOf(t, eventRuleConfig)
	post := func(key string, e any) (int, string) {
		t.Helper()
		resp, body := h.do("POST", "/events/new-errors/"+key, "", e)
		return resp.StatusCode, string(body)
	}
	trigger := model.AlertEvent{Key: "fp-3f2a", Summary: "New error in the browser: Unknown block type \"carousel\" (component promo)",
		Link: "http://127.0.0.1:8081/admin/errors/review", Details: map[string]string{"sdk": "contentsvc-js/1.1.0", "count": "1"}}
	// A wrong key, an unknown rule and a rule of another kind: one answer.
	if code, body := post("wrong-key-0123456789abc", trigger); code != http.StatusNotFound {
		t.Fatalf("wrong key: %d %s", code, body)
	}
	if resp, body := h.do("POST", "/events/down/"+errorsKey, "", trigger); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("a check_down rule: %d %s", resp.StatusCode, body)
	}
	for _, bad := range []struct {
		body any
		says string
	}{
		{map[string]any{"key": "fp 1", "summary": "x"}, `key: "fp 1" has characters`},
		{map[string]any{"key": "fp-1"}, "summary: missing"},
		{map[string]any{"key": "fp-1", "summary": "x", "action": "ack"}, `action: "ack" is not trigger or resolve`},
		{map[string]any{"key": "fp-1", "summary": "x", "link": "javascript:alert(1)"}, "link: not an http(s) URL"},
		{map[string]any{"key": "fp-1", "summary": "x", "details": map[string]string{"a b": "1"}}, `details: "a b" is not a name`},
		{map[string]any{"key": "fp-1", "summary": "x\x1b[31m"}, "summary: has control characters"},
		{map[string]any{"key": "fp-1", "summary": strings.Repeat("x", model.MaxEventSummary+1)}, "summary: 1025 bytes"},
	} {
		code, body := post(errorsKey, bad.body)
		var answer struct{ Error string }
		if code != http.StatusBadRequest || json.Unmarshal([]byte(body), &answer) != nil || !strings.Contains(answer.Error, bad.says) {
			t.Fatalf("%v: %d %s, want 400 saying %q", bad.body, code, body, bad.says)
		}
	}
	h.tick()
	if open, _ := h.c.store.OpenAlerts(context.Background()); len(open) != 0 {
		t.Fatalf("refused events opened alerts: %+v", open)
	}

	if code, body := post(errorsKey, trigger); code != http.StatusOK || body != `{"action":"trigger","changed":true,"key":"fp-3f2a"}`+"\n" {
		t.Fatalf("trigger: %d %s", code, body)
	}
	h.tick()
	const key = "new-errors:fp-3f2a"
	a, err := h.c.store.Alert(context.Background(), key)
	if err != nil || a == nil || a.State != alerting.StateFiring || a.Summary != trigger.Summary || a.Component != "api" || a.Urgency != "low" {
		t.Fatalf("alert after the trigger: %+v %v", a, err)
	}
	msgs := h.hook.messages()
	if len(msgs) != 1 || msgs[0].Action != alerting.ActionTrigger || !slices.Contains(memberKeys(msgs[0]), key) ||
		!strings.Contains(msgs[0].Summary, "Unknown block type") {
		t.Fatalf("notices: %+v", msgs)
	}
	if len(h.pd.Events()) != 0 {
		t.Fatalf("an event rule on the notices policy paged: %+v", h.pd.Events())
	}
	// Sent again 20 minutes later, it is the same alert, counted; 31
	// minutes after that (past the 30m hold) it resolves.
	h.clock.Add(20 * time.Minute)
	trigger.Summary += " (again)"
	if code, body := post(errorsKey, trigger); code != http.StatusOK {
		t.Fatalf("trigger again: %d %s", code, body)
	}
	h.tick()
	a, _ = h.c.store.Alert(context.Background(), key)
	if a.State != alerting.StateFiring || a.Details["count"] != float64(2) {
		t.Fatalf("after a second trigger: %s %+v", a.State, a.Details)
	}
	h.clock.Add(29 * time.Minute)
	h.tick()
	if s := h.alertState(key); s != string(alerting.StateFiring) {
		t.Fatalf("29 minutes after the last trigger: %s", s)
	}
	h.clock.Add(2 * time.Minute)
	h.tick()
	if s := h.alertState(key); s != string(alerting.StateResolved) {
		t.Fatalf("31 minutes after the last trigger: %s", s)
	}
	// A resolve ends another key's alert at once; a second resolve
	// changes nothing.
	if code, _ := post(errorsKey, model.AlertEvent{Key: "deploy-42", Summary: "Deploy 42 failed its smoke test"}); code != http.StatusOK {
		t.Fatal("trigger deploy-42")
	}
	h.tick()
	if s := h.alertState("new-errors:deploy-42"); s != string(alerting.StateFiring) {
		t.Fatalf("deploy-42 after its trigger: %s", s)
	}
	for i, want := range []string{`"changed":true`, `"changed":false`} {
		if code, body := post(errorsKey, model.AlertEvent{Key: "deploy-42", Action: "resolve"}); code != http.StatusOK || !strings.Contains(body, want) {
			t.Fatalf("resolve %d: %d %s", i, code, body)
		}
	}
	h.tick()
	if s := h.alertState("new-errors:deploy-42"); s != string(alerting.StateResolved) {
		t.Fatalf("deploy-42 after its resolve: %s", s)
	}
	// Nothing of it is public.
	resp, body := h.do("GET", "/api/v2/incidents.json", "", nil)
	var inc struct{ Incidents []json.RawMessage }
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &inc) != nil || len(inc.Incidents) != 0 {
		t.Fatalf("public incidents: %d %s", resp.StatusCode, body)
	}
}

// The events door bounds what a stranger, or a sender gone wrong, can do:
// wrong keys cost guesses like every key in a path, and the good key's
// events past the rule's rate (a burst of ten, then one a second) are
// refused, so a flood of made-up event keys opens ten alerts, not
// hundreds.
func TestHostileEventsDoor(t *testing.T) {
	h := newAlertHarnessOf(t, eventRuleConfig)
	answers := map[int]int{}
	for i := range 300 {
		resp, _ := h.do("POST", fmt.Sprintf("/events/new-errors/guess-%04d-0123456789", i), "", model.AlertEvent{Key: "x", Summary: "x"})
		answers[resp.StatusCode]++
	}
	if answers[http.StatusNotFound] > guessLimit.burst+5 || answers[http.StatusTooManyRequests] < 250 {
		t.Fatalf("300 guessed keys: %v, want at most a burst (%d) looked at", answers, guessLimit.burst)
	}
	h.waitOutGuesses()
	answers = map[int]int{}
	for i := range 200 { // the clock stands still: no token comes back
		resp, _ := h.do("POST", "/events/new-errors/"+errorsKey, "", model.AlertEvent{Key: fmt.Sprintf("made-up-%d", i), Summary: "flood"})
		answers[resp.StatusCode]++
		if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}
	}
	if answers[http.StatusOK] != 10 || answers[http.StatusTooManyRequests] != 190 {
		t.Fatalf("200 events at once: %v", answers)
	}
	h.tick()
	open, err := h.c.store.OpenAlerts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, a := range open {
		if a.Rule == "new-errors" {
			n++
		}
	}
	if n != 10 {
		t.Fatalf("%d event alerts open after the flood", n)
	}
}
