package scenario

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nines-sre/nines/alerting/pagerdutytest"
	"github.com/nines-sre/nines/e2e/internal/harness"
)

// What on-call and customers hear of a demo scenario, counted on the
// strict PagerDuty stand-in (three integrations: on-call, level 2 and
// tickets) and the public record.
const (
	pdOnCall  = "ONCALLONCALLONCALLONCALLONCALL01"
	pdLevel2  = "LEVELTWOLEVELTWOLEVELTWOLEVELT02"
	pdTickets = "TICKETSTICKETSTICKETSTICKETSTI03"
)

// payingDemo is configs/demo.yaml with its notifications sent to the
// PagerDuty stand-in at pd: the page policy to on-call, then after
// escalate to level 2; tickets to their own integration. With fast, its
// scenarios play out in seconds: checks every 3 s, heartbeats every
// second, resolve_after 3 s and the regional ticket's `for` 5 s.
func payingDemo(t *testing.T, dir, pd string, fast bool, escalate time.Duration) string {
	t.Helper()
	b, err := os.ReadFile("../../configs/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if fast {
		s = strings.NewReplacer("interval: 30s", "interval: 3s", "timeout: 5s", "timeout: 2s", "heartbeat_interval: 10s", "heartbeat_interval: 1s",
			"resolve_after: 1m", "resolve_after: 3s", "for: 5m}", "for: 5s}").Replace(s)
	}
	hook := `    - {id: demo-hook, webhook: {url: "${NINES_CONTENTSVC_URL:-http://127.0.0.1:8081}/admin/notifications", secret: demo-webhook-secret}}`
	notifiers := fmt.Sprintf(`    - {id: oncall, pagerduty: {routing_key: %s, events_url: %q}}
    - {id: lead, pagerduty: {routing_key: %s, events_url: %q}}
    - {id: desk, pagerduty: {routing_key: %s, events_url: %q}}`, pdOnCall, pd, pdLevel2, pd, pdTickets, pd)
	for old, repl := range map[string]string{
		hook: notifiers,
		"        - {delay: 0s, targets: [demo-hook]}\n        - {delay: 2m, targets: [demo-hook]}": fmt.Sprintf("        - {delay: 0s, targets: [oncall]}\n        - {delay: %s, targets: [lead]}", escalate),
		"    - id: tickets\n      levels:\n        - {delay: 0s, targets: [demo-hook]}":            "    - id: tickets\n      levels:\n        - {delay: 0s, targets: [desk]}",
	} {
		if !strings.Contains(s, old) {
			t.Fatalf("configs/demo.yaml has no %q to replace", old)
		}
		s = strings.Replace(s, old, repl, 1)
	}
	path := filepath.Join(dir, "paging-demo.yaml")
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// heard is what a scenario sent people: PagerDuty incidents opened (on
// call's, level 2's, tickets'), trigger events, public incidents opened.
type heard struct {
	pages, triggers, level2, tickets, public int
	// level2While says every level-2 page came while the outage went on.
	level2While bool
}

// heardSince counts what reached people from since on; recovered is when
// the scenario was cleared.
func heardSince(t *testing.T, pd *pagerdutytest.Server, ctl string, since, recovered time.Time) heard {
	t.Helper()
	h := heard{level2While: true}
	opened := map[string]bool{}
	for _, ev := range pd.Events() {
		if ev.At.Before(since) || ev.Action != "trigger" {
			continue
		}
		h.triggers++
		id := ev.RoutingKey + "/" + ev.DedupKey
		if opened[id] {
			continue
		}
		opened[id] = true
		switch ev.RoutingKey {
		case pdOnCall:
			h.pages++
		case pdLevel2:
			h.level2++
			if !recovered.IsZero() && ev.At.After(recovered) {
				h.level2While = false
			}
		case pdTickets:
			h.tickets++
		}
	}
	var inc struct {
		Incidents []struct {
			CreatedAt time.Time `json:"created_at"`
		} `json:"incidents"`
	}
	if err := harness.GetJSON("http://"+ctl+"/api/v2/incidents.json", &inc); err != nil {
		t.Fatal(err)
	}
	for _, in := range inc.Incidents {
		if !in.CreatedAt.Before(since.Truncate(time.Millisecond)) {
			h.public++
		}
	}
	return h
}

// stillOpen lists the alerts open (pending, firing or acknowledged) and
// the PagerDuty incidents not resolved.
func stillOpen(t *testing.T, pd *pagerdutytest.Server, ctl string) []string {
	t.Helper()
	var al harness.AlertsDoc
	if err := harness.GetJSON("http://"+ctl+"/api/v1/alerts", &al); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range al.Alerts {
		if a.State != "resolved" {
			out = append(out, a.Key+" "+a.State)
		}
	}
	for _, in := range pd.Incidents() {
		if in.Status != "resolved" {
			out = append(out, "PagerDuty "+in.DedupKey+" "+in.Status)
		}
	}
	return out
}
