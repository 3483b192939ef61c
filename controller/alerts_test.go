package controller

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nines-sre/nines/alerting"
	"github.com/nines-sre/nines/alerting/notify"
	"github.com/nines-sre/nines/alerting/pagerdutytest"
	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/model"
)

const (
	primaryKey   = "PRIMARYPRIMARYPRIMARYPRIMARY0001"
	secondaryKey = "SECONDARYSECONDARYSECONDARY00002"
	apiToken     = "ack-token-0123456789abcdef"
)

// hook collects what a webhook notifier posts.
type hook struct {
	*httptest.Server
	mu   sync.Mutex
	msgs []alerting.Message
}

func newHook(t *testing.T) *hook {
	h := &hook{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if got, want := r.Header.Get("X-Nines-Signature"), notify.Sign([]byte("hook-secret"), body); got != want {
			t.Errorf("webhook signature %q, want %q", got, want)
		}
		var m alerting.Message
		json.Unmarshal(body, &m)
		h.mu.Lock()
		h.msgs = append(h.msgs, m)
		h.mu.Unlock()
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hook) messages() []alerting.Message {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]alerting.Message(nil), h.msgs...)
}

func alertingConfig(pd, hookURL string) string {
	return testConfig + fmt.Sprintf(`alerting:
  group_wait: 0s
  dashboard_url: http://127.0.0.1:8080
  api_tokens: [%s]
  pagerduty_webhook_secret: pd-webhook-secret
  notifiers:
    - {id: pd-primary, pagerduty: {routing_key: %s, events_url: %q}}
    - {id: pd-secondary, pagerduty: {routing_key: %s, events_url: %q}}
    - {id: ops-hook, webhook: {url: %q, secret: hook-secret}}
  policies:
    - id: page
      levels:
        - {delay: 0s, targets: [pd-primary]}
        - {delay: 5m, targets: [pd-secondary]}
    - id: notices
      levels: [{delay: 0s, targets: [ops-hook]}]
  rules:
    - {id: down, kind: check_down, policy: page, resolve_after: 2m}
    - {id: regional, kind: regional_degraded, policy: notices}
    - {id: silent, kind: probe_silent, policy: notices}
`, apiToken, primaryKey, pd, secondaryKey, pd, hookURL)
}

type alertHarness struct {
	*harness
	pd   *pagerdutytest.Server
	hook *hook
}

func newAlertHarness(t *testing.T) *alertHarness {
	t.Helper()
	return newAlertHarnessOf(t, alertingConfig)
}

// newAlertHarnessOf runs the configuration that yaml makes of the
// PagerDuty stand-in's and the webhook's URLs.
func newAlertHarnessOf(t *testing.T, yaml func(pd, hook string) string) *alertHarness {
	t.Helper()
	pd := pagerdutytest.New()
	t.Cleanup(pd.Close)
	hk := newHook(t)
	h := newHarnessWith(t, yaml(pd.URL, hk.URL))
	t.Cleanup(func() {
		if v := pd.Violations(); len(v) > 0 {
			t.Errorf("PagerDuty contract violations: %v", v)
		}
	})
	return &alertHarness{harness: h, pd: pd, hook: hk}
}

// minute moves the clock on by a minute with every region heartbeating and
// reporting outcome per region, then runs the rules and the outbox.
func (h *alertHarness) minute(outcomes map[string]model.Outcome) {
	h.t.Helper()
	h.clock.Add(time.Minute)
	for region := range tokens {
		h.heartbeat(region)
		if o, ok := outcomes[region]; ok {
			h.ship(region, h.result("api-health", region, 0, o))
		}
	}
	h.tick()
}

func (h *alertHarness) alertState(key string) string {
	h.t.Helper()
	a, err := h.c.store.Alert(context.Background(), key)
	if err != nil || a == nil {
		return ""
	}
	return string(a.State)
}

func (h *alertHarness) tick() {
	h.t.Helper()
	ctx := context.Background()
	if err := h.c.EvaluateAlerts(ctx); err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.c.Dispatcher().DeliverDue(ctx); err != nil {
		h.t.Fatal(err)
	}
}

// memberKeys are the alerts a group's notification tells of as failing.
func memberKeys(m alerting.Message) []string {
	var out []string
	failing, _ := m.Details["failing"].([]any)
	for _, f := range failing {
		if d, ok := f.(map[string]any); ok {
			k, _ := d["alert"].(string)
			out = append(out, k)
		}
	}
	return out
}

func all(o model.Outcome) map[string]model.Outcome {
	return map[string]model.Outcome{"eu-london": o, "eu-frankfurt": o, "ap-tokyo": o}
}

func (h *alertHarness) ack(key string) {
	h.t.Helper()
	resp, body := h.do("POST", "/api/v1/alerts/"+key+"/ack", "", map[string]string{"by": "alice"}, "Authorization", "Bearer "+apiToken)
	if resp.StatusCode != 200 {
		h.t.Fatalf("ack: %d %s", resp.StatusCode, body)
	}
	if _, err := h.c.Dispatcher().DeliverDue(context.Background()); err != nil {
		h.t.Fatal(err)
	}
}

func TestGlobalOutagePagesOnceEscalatesAndResolves(t *testing.T) {
	h := newAlertHarness(t)
	h.clock.Add(time.Minute) // past the start-up grace of probe silence
	h.minute(all(model.OutcomeUp))
	h.minute(all(model.OutcomeDown))
	inc := h.pd.IncidentsFor(primaryKey)
	if len(inc) != 1 || inc[0].Status != "triggered" || inc[0].DedupKey != "group:page" || inc[0].Severity != "critical" {
		t.Fatalf("primary incidents after the outage began: %+v", inc)
	}
	for range 4 {
		h.minute(all(model.OutcomeDown))
	}
	if n := len(h.pd.Events()); n != 1 {
		t.Fatalf("%d events in the first 5 minutes, want the one trigger", n)
	}
	h.minute(all(model.OutcomeDown)) // 5 minutes unacknowledged: level 2
	if inc := h.pd.IncidentsFor(secondaryKey); len(inc) != 1 || inc[0].Status != "triggered" {
		t.Fatalf("secondary incidents after 5 unacknowledged minutes: %+v", inc)
	}
	h.ack("down:api-health")
	for _, rk := range []string{primaryKey, secondaryKey} {
		if inc := h.pd.IncidentsFor(rk); len(inc) != 1 || inc[0].Status != "acknowledged" {
			t.Fatalf("after the ack, %s: %+v", rk, inc)
		}
	}
	before := len(h.pd.Events())
	for range 15 {
		h.minute(all(model.OutcomeDown))
	}
	if n := len(h.pd.Events()); n != before {
		t.Fatalf("%d events after the acknowledgement, want none", n-before)
	}
	h.minute(all(model.OutcomeUp)) // good, but not yet for resolve_after
	if inc := h.pd.IncidentsFor(primaryKey); inc[0].Status != "acknowledged" {
		t.Fatalf("resolved before resolve_after: %+v", inc)
	}
	h.minute(all(model.OutcomeUp))
	h.minute(all(model.OutcomeUp))
	for _, rk := range []string{primaryKey, secondaryKey} {
		if inc := h.pd.IncidentsFor(rk); len(inc) != 1 || inc[0].Status != "resolved" {
			t.Fatalf("after recovery, %s: %+v", rk, inc)
		}
	}
	// The group's notification history is in the API.
	resp, body := h.do("GET", "/api/v1/alerts/group:page", "", nil)
	if resp.StatusCode != 200 || strings.Count(string(body), `"outcome":"delivered"`) != 6 {
		t.Fatalf("history: %d %s", resp.StatusCode, body)
	}
	// A new outage after the resolve is a new incident with the same key.
	h.minute(all(model.OutcomeDown))
	if inc := h.pd.IncidentsFor(primaryKey); len(inc) != 2 || inc[1].Status != "triggered" {
		t.Fatalf("second outage: %+v", inc)
	}
}

func TestSingleRegionFaultNeverPages(t *testing.T) {
	h := newAlertHarness(t)
	h.clock.Add(time.Minute)
	for range 15 {
		h.minute(map[string]model.Outcome{"eu-london": model.OutcomeUp, "eu-frankfurt": model.OutcomeDown, "ap-tokyo": model.OutcomeUp})
	}
	if ev := h.pd.Events(); len(ev) != 0 {
		t.Fatalf("a fault in one region paged: %+v", ev)
	}
	msgs := h.hook.messages()
	if len(msgs) != 1 || msgs[0].AlertKey != "group:notices" || fmt.Sprint(memberKeys(msgs[0])) != "[regional:eu-frankfurt]" || msgs[0].Urgency != "low" {
		t.Fatalf("regional notice after 15 minutes: %+v", msgs)
	}
}

// A regional ticket says "fails from this region only": when its check
// goes down by quorum the ticket leaves (the page says it all), and the
// region that recovers last from that outage raises none.
func TestRegionalTicketLeavesWhenItsCheckGoesDown(t *testing.T) {
	h := newAlertHarness(t)
	h.clock.Add(time.Minute)
	onlyFrankfurt := map[string]model.Outcome{"eu-london": model.OutcomeUp, "eu-frankfurt": model.OutcomeDown, "ap-tokyo": model.OutcomeUp}
	for range 11 { // past the rule's default `for` of 10 minutes
		h.minute(onlyFrankfurt)
	}
	if st := h.alertState("regional:eu-frankfurt"); st != "firing" {
		t.Fatalf("the regional ticket is %q after 11 minutes", st)
	}
	for range 3 {
		h.minute(all(model.OutcomeDown))
	}
	if st := h.alertState("regional:eu-frankfurt"); st != "resolved" {
		t.Fatalf("the regional ticket is %q while its check is down everywhere", st)
	}
	// Recovery: eu-frankfurt's newest result is still the outage's failure.
	h.clock.Add(time.Minute)
	for region := range tokens {
		h.heartbeat(region)
		if region != "eu-frankfurt" {
			h.ship(region, h.result("api-health", region, 0, model.OutcomeUp))
		}
	}
	for range 12 {
		h.clock.Add(time.Minute)
		for region := range tokens {
			h.heartbeat(region)
		}
		h.tick()
		if st := h.alertState("regional:eu-frankfurt"); st == "pending" || st == "firing" {
			t.Fatalf("the last region to recover is ticketed (%s)", st)
		}
	}
	var actions []string
	for _, m := range h.hook.messages() {
		actions = append(actions, string(m.Action))
	}
	if strings.Join(actions, ",") != "trigger,resolve" {
		t.Fatalf("ticket notifications: %v", actions)
	}
}

// The incident's title follows the outage as it spreads: it never stays
// frozen on the first regions that failed.
func TestIncidentTitleFollowsTheOutage(t *testing.T) {
	h := newAlertHarness(t)
	h.clock.Add(time.Minute)
	h.minute(map[string]model.Outcome{"eu-london": model.OutcomeDown, "eu-frankfurt": model.OutcomeDown, "ap-tokyo": model.OutcomeUp})
	h.minute(all(model.OutcomeDown))
	incs, err := h.c.store.Incidents(context.Background(), time.Time{}, 100)
	if err != nil || len(incs) != 1 {
		t.Fatalf("incidents: %v %+v", err, incs)
	}
	if !strings.Contains(incs[0].Title, "3 of 3 regions") {
		t.Fatalf("incident title %q while every region fails", incs[0].Title)
	}
}

// Level 2 is never paged before level 1 was reached: while PagerDuty
// refuses level 1's trigger, level 2 waits, and its delay counts from
// level 1's delivery.
func TestLevelTwoWaitsForLevelOne(t *testing.T) {
	h := newAlertHarness(t)
	var fails []pagerdutytest.Failure
	for range 14 { // 7 minutes of refusals at Retry-After: 30
		fails = append(fails, pagerdutytest.Failure{Status: 503, RetryAfter: "30"})
	}
	h.pd.FailNext(fails...)
	h.clock.Add(time.Minute)
	var delivered time.Time
	for step := 0; step < 20*6; step++ {
		if step%6 == 0 {
			h.minute(all(model.OutcomeDown))
		} else {
			h.clock.Add(10 * time.Second)
			h.tick()
		}
		primary, secondary := h.pd.IncidentsFor(primaryKey), h.pd.IncidentsFor(secondaryKey)
		if len(primary) > 0 && delivered.IsZero() {
			delivered = h.clock.Now()
		}
		if len(secondary) > 0 {
			if delivered.IsZero() {
				t.Fatalf("%s: level 2 paged while level 1 was never delivered", h.clock.Now().Format(time.TimeOnly))
			}
			if wait := h.clock.Now().Sub(delivered); wait < 5*time.Minute {
				t.Fatalf("level 2 paged %s after level 1 was delivered, want 5m", wait)
			}
			return
		}
	}
	t.Fatalf("level 2 never paged (level 1 delivered at %s)", delivered.Format(time.TimeOnly))
}

// Every alert can be acknowledged, keys with a slash too (burn:slo/page),
// and the link in its notifications opens its page.
func TestBurnAlertCanBeAcknowledgedAndItsLinkOpens(t *testing.T) {
	h := newAlertHarness(t)
	ctx := context.Background()
	now := h.clock.Now()
	a := &alerting.Alert{Key: "burn:avail/page", Rule: "burn", Subject: "avail/page", State: alerting.StateFiring, Incident: 1,
		Severity: "critical", Urgency: "high", Summary: "avail burns", FiredAt: &now, PendingSince: now}
	if err := h.c.store.SaveAlert(ctx, a, nil, h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/api/v1/alerts/burn:avail/page", "/api/v1/alerts/burn:avail%2Fpage"} {
		if resp, body := h.do("GET", path, "", nil); resp.StatusCode != 200 || !strings.Contains(string(body), `"key":"burn:avail/page"`) {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
		}
	}
	resp, body := h.do("POST", "/api/v1/alerts/burn:avail/page/ack", "", map[string]string{"by": "alice"}, "Authorization", "Bearer "+apiToken)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"state":"acknowledged"`) {
		t.Fatalf("ack: %d %s", resp.StatusCode, body)
	}
	if resp, _ := h.do("POST", "/api/v1/alerts/burn:avail/page/snooze", "", nil, "Authorization", "Bearer "+apiToken); resp.StatusCode != 404 {
		t.Fatalf("an unknown action: %d", resp.StatusCode)
	}
	// The link a notification carries is a page of the SRE view.
	h.minute(all(model.OutcomeDown))
	msgs := h.pd.Events()
	if len(msgs) == 0 {
		t.Fatal("no page for the outage")
	}
	if ev := msgs[0]; len(ev.Links) != 1 || ev.Links[0].Href != "http://127.0.0.1:8080/sre/alerts/group:page" || ev.ClientURL != ev.Links[0].Href {
		t.Fatalf("links %+v, client_url %q", ev.Links, ev.ClientURL)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	r, err := client.Get(h.srv.URL + "/sre/alerts/group:page")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/sre/login?next=") {
		t.Fatalf("the alert's page: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
}

func TestSilentRegionIsALowUrgencyNotice(t *testing.T) {
	h := newAlertHarness(t)
	h.clock.Add(time.Minute)
	h.minute(all(model.OutcomeUp))
	for range 3 { // ap-tokyo's probes stop heartbeating
		h.clock.Add(time.Minute)
		h.heartbeat("eu-london")
		h.heartbeat("eu-frankfurt")
		h.tick()
	}
	if ev := h.pd.Events(); len(ev) != 0 {
		t.Fatalf("a silent region paged: %+v", ev)
	}
	msgs := h.hook.messages()
	if len(msgs) != 1 || fmt.Sprint(memberKeys(msgs[0])) != "[silent:ap-tokyo]" || msgs[0].Urgency != "low" || msgs[0].Severity != "warning" {
		t.Fatalf("silence notices: %+v", msgs)
	}
}

func TestPagerDutyOutageDelaysAndLosesNothing(t *testing.T) {
	h := newAlertHarness(t)
	h.pd.FailNext(pagerdutytest.Failure{Status: 500}, pagerdutytest.Failure{Status: 500},
		pagerdutytest.Failure{Status: 429, RetryAfter: "120"})
	h.clock.Add(time.Minute)
	h.minute(all(model.OutcomeDown)) // attempt 1: 500
	ctx := context.Background()
	for i := range 2 { // attempt 2 after the backoff: 500; attempt 3: 429, Retry-After 120 s
		h.clock.Add(time.Duration(1<<i) * time.Second * 12 / 10) // the backoff, jitter included
		if _, err := h.c.Dispatcher().DeliverDue(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if len(h.pd.Incidents()) != 0 {
		t.Fatal("delivered during the outage?")
	}
	h.clock.Add(100 * time.Second) // still inside Retry-After
	h.c.Dispatcher().DeliverDue(ctx)
	if len(h.pd.Incidents()) != 0 {
		t.Fatal("Retry-After was not honoured")
	}
	h.clock.Add(30 * time.Second)
	h.c.Dispatcher().DeliverDue(ctx)
	if inc := h.pd.Incidents(); len(inc) != 1 || inc[0].Events != 1 {
		t.Fatalf("after the outage: %+v", inc)
	}
	_, body := h.do("GET", "/api/v1/alerts/group:page", "", nil)
	for _, want := range []string{`"outcome":"retry","error":"PagerDuty answered HTTP 500: HTTP response failed with status code 500`, `status code 429`, `"outcome":"delivered"`, `"attempts":4`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("history lacks %s:\n%s", want, body)
		}
	}
}

// A crash between committing an alert and delivering it, or between
// delivering and recording the delivery, still makes one incident, and
// the resolve arrives.
func TestCrashBeforeOrAfterDeliveryMakesOneIncident(t *testing.T) {
	pd := pagerdutytest.New()
	defer pd.Close()
	hk := newHook(t)
	dir := t.TempDir()
	cfgYAML := alertingConfig(pd.URL, hk.URL)
	clk := &clock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	h := newHarnessAt(t, cfgYAML, dir, clk)
	ah := &alertHarness{harness: h, pd: pd, hook: hk}
	ah.clock.Add(time.Minute)
	ah.minute(all(model.OutcomeUp))
	ah.clock.Add(time.Minute)
	for region := range tokens {
		h.heartbeat(region)
		h.ship(region, h.result("api-health", region, 0, model.OutcomeDown))
	}
	if err := h.c.EvaluateAlerts(context.Background()); err != nil { // committed, not delivered
		t.Fatal(err)
	}
	due, _ := h.c.store.DueNotifications(context.Background(), clk.Now(), 10, 10)
	if len(due) != 1 {
		t.Fatalf("%d notifications queued", len(due))
	}
	// It reached PagerDuty just before the crash, unrecorded.
	if err := notify.NewPagerDuty(primaryKey, pd.URL, http.DefaultClient).Notify(context.Background(), due[0].Message); err != nil {
		t.Fatal(err)
	}
	h.srv.Close()
	h.c.Close()

	h2 := newHarnessAt(t, cfgYAML, dir, clk)
	if _, err := h2.c.Dispatcher().DeliverDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	if inc := pd.Incidents(); len(inc) != 1 || inc[0].Events != 2 || inc[0].Status != "triggered" {
		t.Fatalf("after the restart: %+v", inc)
	}
	ah2 := &alertHarness{harness: h2, pd: pd, hook: hk}
	for range 3 {
		ah2.minute(all(model.OutcomeUp))
	}
	if inc := pd.Incidents(); len(inc) != 1 || inc[0].Status != "resolved" {
		t.Fatalf("resolve after the restart: %+v", inc)
	}
	if v := pd.Violations(); len(v) > 0 {
		t.Fatal(v)
	}
}

func TestAckNeedsAToken(t *testing.T) {
	h := newAlertHarness(t)
	resp, body := h.do("POST", "/api/v1/alerts/down:api-health/ack", "", nil)
	if resp.StatusCode != 401 || !strings.Contains(string(body), "api_tokens") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	resp, _ = h.do("POST", "/api/v1/alerts/nope/ack", "", nil, "Authorization", "Bearer "+apiToken)
	if resp.StatusCode != 404 {
		t.Fatalf("unknown alert: %d", resp.StatusCode)
	}
}

func TestPagerDutyWebhookAcknowledges(t *testing.T) {
	h := newAlertHarness(t)
	h.clock.Add(time.Minute)
	h.minute(all(model.OutcomeDown))
	body := []byte(`{"event":{"event_type":"incident.acknowledged","agent":{"summary":"Alice"},"data":{"incident_key":"group:page","status":"acknowledged"}}}`)
	sign := func(secret string) string {
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		return "v1=" + hex.EncodeToString(mac.Sum(nil))
	}
	resp, _ := h.do("POST", "/api/v1/webhooks/pagerduty", "", body, "X-PagerDuty-Signature", sign("wrong-secret"))
	if resp.StatusCode != 401 {
		t.Fatalf("bad signature: %d", resp.StatusCode)
	}
	resp, _ = h.do("POST", "/api/v1/webhooks/pagerduty", "", body, "X-PagerDuty-Signature", "v1=00, "+sign("pd-webhook-secret"))
	if resp.StatusCode != 204 {
		t.Fatalf("good signature: %d", resp.StatusCode)
	}
	a, _ := h.c.store.Alert(context.Background(), "group:page")
	if a.State != alerting.StateAcknowledged || a.AckedBy != "pagerduty: Alice" {
		t.Fatalf("alert %+v", a)
	}
	for range 10 {
		h.minute(all(model.OutcomeDown))
	}
	if inc := h.pd.IncidentsFor(secondaryKey); len(inc) != 0 {
		t.Fatalf("escalated after the PagerDuty acknowledgement: %+v", inc)
	}
}

func TestPolicyRepeats(t *testing.T) {
	pd := pagerdutytest.New()
	defer pd.Close()
	hk := newHook(t)
	yaml := strings.Replace(alertingConfig(pd.URL, hk.URL), "        - {delay: 5m, targets: [pd-secondary]}\n",
		"        - {delay: 5m, targets: [pd-secondary]}\n      repeat: 1\n", 1)
	h := &alertHarness{harness: newHarnessWith(t, yaml), pd: pd, hook: hk}
	h.clock.Add(time.Minute)
	for range 14 {
		h.minute(all(model.OutcomeDown))
	}
	// level 1 at 0, level 2 at 5 min, level 1 again at 10 min (repeat), then level 2 at 15 would be beyond the repeat.
	var triggers []string
	for _, ev := range pd.Events() {
		if ev.Action == "trigger" {
			triggers = append(triggers, ev.RoutingKey[:3])
		}
	}
	if strings.Join(triggers, ",") != "PRI,SEC,PRI" {
		t.Fatalf("triggers %v", triggers)
	}
	for range 10 {
		h.minute(all(model.OutcomeDown))
	}
	if n := len(pd.Events()); n != 4 {
		t.Fatalf("%d events: the policy should have stopped after one repeat", n)
	}
}

func TestHostileSecretsStayOutOfOutputs(t *testing.T) {
	h := newAlertHarness(t)
	h.clock.Add(time.Minute)
	h.minute(all(model.OutcomeDown))
	secrets := []string{primaryKey, secondaryKey, apiToken, "hook-secret", "pd-webhook-secret"}
	for _, tk := range tokens {
		secrets = append(secrets, tk)
	}
	for _, path := range []string{"/api/v1/status", "/metrics", "/api/v1/alerts", "/api/v1/alerts/down:api-health", "/api/v1/slo", "/"} {
		_, body := h.do("GET", path, "", nil)
		for _, s := range secrets {
			if strings.Contains(string(body), s) {
				t.Errorf("%s shows the secret %q", path, s)
			}
		}
	}
}

func TestPrivateAPINeedsAToken(t *testing.T) {
	pd := pagerdutytest.New()
	defer pd.Close()
	h := newHarnessWith(t, alertingConfig(pd.URL, "http://127.0.0.1:9/hook")+"api: {private: true}\n")
	for _, path := range []string{"/api/v1/status", "/api/v1/results?check=api-health", "/api/v1/slo", "/api/v1/alerts", "/api/v1/leader"} {
		if resp, body := h.do("GET", path, "", nil); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without a token: %d %s", path, resp.StatusCode, body)
		}
		if resp, body := h.do("GET", path, "", nil, "Authorization", "Bearer "+apiToken); resp.StatusCode == http.StatusUnauthorized {
			t.Errorf("GET %s with a token: %d %s", path, resp.StatusCode, body)
		}
	}
	// The status page stays public.
	if resp, _ := h.do("GET", "/", "", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("status page of a private API: %d", resp.StatusCode)
	}
	if _, err := config.Parse("x.yaml", []byte(testConfig+"api: {private: true}\n")); err == nil || !strings.Contains(err.Error(), "api.private") {
		t.Errorf("a private API without tokens: %v", err)
	}
}

func TestFencedDispatcherSendsNothing(t *testing.T) {
	h := newAlertHarness(t)
	h.clock.Add(time.Minute)
	h.minute(all(model.OutcomeUp))
	allowed := false
	h.c.Dispatcher().Fence = func() bool { return allowed }
	h.clock.Add(time.Minute)
	for region := range tokens {
		h.heartbeat(region)
		h.ship(region, h.result("api-health", region, 0, model.OutcomeDown))
	}
	if err := h.c.EvaluateAlerts(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n, err := h.c.Dispatcher().DeliverDue(context.Background()); !errors.Is(err, alerting.ErrFenced) || n != 0 {
		t.Fatalf("fenced pass: delivered %d, %v", n, err)
	}
	if ev := h.pd.Events(); len(ev) != 0 {
		t.Fatalf("a fenced controller paged: %+v", ev)
	}
	// Leading again, it delivers what waited in the outbox.
	allowed = true
	if _, err := h.c.Dispatcher().DeliverDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	if inc := h.pd.IncidentsFor(primaryKey); len(inc) != 1 {
		t.Fatalf("after the fence lifts: %+v", inc)
	}
}

// One outage of two components is one public incident that names both,
// titled by the most regions that failed at once: the title never shrinks
// as the regions recover one by one, and a component that joins is an
// update of its own. An SRE's wording is kept.
func TestOneOutageIsOnePublicIncident(t *testing.T) {
	h := newAlertHarnessOf(t, func(pd, hk string) string {
		return strings.Replace(alertingConfig(pd, hk), "defaults: {interval: 1m, timeout: 5s}\ncomponents:\n",
			"defaults: {interval: 1m, timeout: 5s}\ncomponents:\n  - id: cdn\n    name: Content CDN\n    checks:\n      - {id: cdn-edge, kind: http, http: {url: \"http://127.0.0.1:9/edge\"}}\n", 1)
	})
	ctx := context.Background()
	h.clock.Add(time.Minute)
	step := func(failing map[string][]string) {
		h.clock.Add(20 * time.Second)
		for region := range tokens {
			h.heartbeat(region)
			for _, check := range []string{"api-health", "cdn-edge"} {
				o := model.OutcomeUp
				if slices.Contains(failing[check], region) {
					o = model.OutcomeDown
				}
				h.ship(region, h.result(check, region, 0, o))
			}
		}
		h.tick()
	}
	all3 := []string{"eu-london", "eu-frankfurt", "ap-tokyo"}
	step(map[string][]string{"api-health": {"eu-london", "eu-frankfurt"}})
	step(map[string][]string{"api-health": all3})
	step(map[string][]string{"api-health": all3, "cdn-edge": all3})
	incs, _ := h.c.store.Incidents(ctx, time.Time{}, 10)
	if len(incs) != 1 || incs[0].Title != "api and Content CDN down in 3 of 3 regions" || fmt.Sprint(incs[0].Components) != "[api cdn]" ||
		incs[0].Updates[0].Body != "Content CDN is affected too." {
		t.Fatalf("one outage of two components: %+v", incs)
	}
	// Regions recover one by one: the title stays.
	step(map[string][]string{"api-health": {"eu-london", "eu-frankfurt"}, "cdn-edge": {"eu-london", "eu-frankfurt"}})
	step(map[string][]string{"api-health": {"eu-london"}})
	if incs, _ := h.c.store.Incidents(ctx, time.Time{}, 10); incs[0].Title != "api and Content CDN down in 3 of 3 regions" {
		t.Fatalf("the title while recovering: %q", incs[0].Title)
	}
	if len(h.pd.Incidents()) != 1 {
		t.Fatalf("PagerDuty incidents: %+v", h.pd.Incidents())
	}
	// An SRE words it; nines keeps the wording.
	if err := h.c.pages.EditIncident(ctx, incs[0].ID, "Content delivery disrupted", "major", "alice"); err != nil {
		t.Fatal(err)
	}
	step(map[string][]string{"api-health": all3, "cdn-edge": all3})
	if incs, _ := h.c.store.Incidents(ctx, time.Time{}, 10); incs[0].Title != "Content delivery disrupted" || incs[0].Impact != "major" {
		t.Fatalf("nines rewrote the SRE's wording: %+v", incs[0])
	}
	for range 12 {
		step(nil)
	}
	incs, _ = h.c.store.Incidents(ctx, time.Time{}, 10)
	if len(incs) != 1 || incs[0].Status != "resolved" {
		t.Fatalf("after the recovery: %+v", incs)
	}
}

// Updates of an open incident (a check joining) do not hold back its
// escalation: level 2 is paged five minutes after level 1 was reached.
func TestUpdatesDoNotHoldBackEscalation(t *testing.T) {
	h := newAlertHarness(t)
	h.clock.Add(time.Minute)
	first := time.Time{}
	for i := range 7 {
		h.clock.Add(time.Minute)
		for region := range tokens {
			h.heartbeat(region)
			h.ship(region, h.result("api-health", region, 0, model.OutcomeDown))
			if i >= 2 && region != "eu-frankfurt" { // api-docs runs in two regions; it joins two minutes in
				h.ship(region, h.result("api-docs", region, 0, model.OutcomeDown))
			}
		}
		h.tick()
		if first.IsZero() && len(h.pd.IncidentsFor(primaryKey)) > 0 {
			first = h.clock.Now()
		}
	}
	var updates int
	for _, ev := range h.pd.Events() {
		if ev.RoutingKey == primaryKey && ev.Action == "trigger" {
			updates++
		}
	}
	if updates < 2 {
		t.Fatalf("%d triggers on level 1: api-docs joining sent no update", updates)
	}
	sec := h.pd.IncidentsFor(secondaryKey)
	if len(sec) != 1 {
		t.Fatalf("level 2 after %s unacknowledged with an update on the way: %+v", h.clock.Now().Sub(first), sec)
	}
}
