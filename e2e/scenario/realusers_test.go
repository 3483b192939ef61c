package scenario

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nines-sre/nines/alerting/pagerdutytest"
	"github.com/nines-sre/nines/e2e/internal/harness"
	"github.com/nines-sre/nines/internal/testwait"
)

// Real users in one country fail while the probes pass: every check stays
// up and nothing pages, but the renders SLO counts the failures and the
// disagreement rule raises a ticket saying the probes say up while real
// users fail, by how much.
func TestRealUsersFailingAlone(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	ctl := harness.FreeAddr(t)
	pd := pagerdutytest.New()
	t.Cleanup(pd.Close)
	path := payingDemo(t, dir, pd.URL, true, 20*time.Second)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rule := "{id: real-users, kind: disagreement, policy: tickets, slos: [renders]}"
	if !strings.Contains(string(b), rule) {
		t.Fatalf("configs/demo.yaml has no %s", rule)
	}
	// The rule waits a minute here, not ten.
	if err := os.WriteFile(path, []byte(strings.Replace(string(b), rule, strings.TrimSuffix(rule, "}")+", for: 1m}", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	demo := harness.Start(t, dir, "demo", "demo", "--listen", ctl, "--data", data, "--config", path, "--browser", "none", "--renders-per-second", "20")
	defer func() {
		if t.Failed() {
			demo.Tail(t)
		}
	}()
	checks := []string{"segments-api", "cdn-manifest", "cdn-welcome-v1", "content-flow"}
	harness.WaitFor(t, ctl, "every check up", 60*time.Second, func(s *harness.Status) bool { return harness.AllUp(s, checks, harness.Regions) })
	type slo struct {
		Recent *struct{ Good, Bad, Total int } `json:"recent"`
	}
	testwait.Eventually(t, 3*time.Minute, "real users' renders counted", func() error {
		var s slo
		if err := harness.GetJSON("http://"+ctl+"/api/v1/slo/renders", &s); err != nil {
			return err
		}
		if s.Recent == nil || s.Recent.Total == 0 {
			return os.ErrNotExist
		}
		return nil
	})
	newErrorTicket(t, ctl, data, pd)
	since := time.Now()
	if out, err := exec.Command(harness.Binary, "demo", "--scenario", "region-users-failing", "--data", data, "--for", "0").CombinedOutput(); err != nil {
		t.Fatalf("--scenario: %v\n%s", err, out)
	}
	var alerts harness.AlertsDoc
	testwait.Eventually(t, 8*time.Minute, "the disagreement ticket firing", func() error {
		if err := harness.GetJSON("http://"+ctl+"/api/v1/alerts", &alerts); err != nil {
			return err
		}
		for _, a := range alerts.Alerts {
			if a.Key == "real-users:renders" && a.State == "firing" {
				return nil
			}
		}
		return os.ErrNotExist
	})
	for _, a := range alerts.Alerts {
		if a.Key == "real-users:renders" && !strings.Contains(a.Summary, "the probes say up, but") {
			t.Errorf("the ticket says %q", a.Summary)
		}
	}
	var st harness.Status
	if err := harness.GetJSON("http://"+ctl+"/api/v1/status", &st); err != nil {
		t.Fatal(err)
	}
	if !harness.AllUp(&st, checks, harness.Regions) {
		t.Errorf("a check failed while only real users did: %+v", st)
	}
	if n := harness.PagesSince(t, ctl, since); n != 0 {
		t.Errorf("real users failing alone paged %d times", n)
	}
	var s slo
	if err := harness.GetJSON("http://"+ctl+"/api/v1/slo/renders", &s); err != nil || s.Recent == nil || s.Recent.Bad == 0 {
		t.Errorf("the renders SLO counted no failure: %+v %v", s.Recent, err)
	}
	if out, err := exec.Command(harness.Binary, "demo", "--scenario", "clear", "--data", data).CombinedOutput(); err != nil {
		t.Fatalf("clear: %v\n%s", err, out)
	}
}

// newErrorTicket sends contentsvc two errors of one fingerprint, as the
// browser SDK reports what its boundaries catch: contentsvc tells nines
// of the new fingerprint once, and the demo's new-errors rule raises a
// ticket for review through the tickets policy; nothing pages.
func newErrorTicket(t *testing.T, ctl, data string, pd *pagerdutytest.Server) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(data, "contentsvc.url"))
	if err != nil {
		t.Fatal(err)
	}
	cs := strings.TrimSpace(string(raw))
	since := time.Now()
	at := time.Now().UTC().Format(time.RFC3339Nano)
	for i, item := range []string{"3", "17"} {
		batch := fmt.Sprintf(`{"key":"acme-notes","events":[{"id":"ev-e2e-err-%d","type":"error","at":%q,"sdk":"contentsvc-js/1.1.0",`+
			`"error":{"message":"Unknown block type \"countdown\" in item %s","stack":"Error: x\n    at renderBlock (https://cdn.example/sdk.js:10:5)",`+
			`"component":"promo","browser":"Chrome/131"}}]}`, i, at, item)
		resp, err := http.Post(cs+"/v1/events", "application/json", strings.NewReader(batch))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("POST /v1/events: %s", resp.Status)
		}
	}
	var alerts harness.AlertsDoc
	testwait.Eventually(t, 2*time.Minute, "the new-errors ticket firing", func() error {
		if err := harness.GetJSON("http://"+ctl+"/api/v1/alerts", &alerts); err != nil {
			return err
		}
		for _, a := range alerts.Alerts {
			if a.Rule == "new-errors" && a.State == "firing" {
				return nil
			}
		}
		return os.ErrNotExist
	})
	var found int
	for _, a := range alerts.Alerts {
		if a.Rule != "new-errors" {
			continue
		}
		found++
		if !strings.HasPrefix(a.Key, "new-errors:error-") || a.Summary != `New error in real users' pages: Unknown block type "countdown" in item 3 (component promo)` ||
			a.Details["count"] != float64(1) {
			t.Errorf("new-errors alert: %+v", a)
		}
	}
	if found != 1 {
		t.Errorf("%d new-errors alerts for one fingerprint", found)
	}
	testwait.Eventually(t, time.Minute, "the ticket at the desk", func() error {
		for _, ev := range pd.Events() {
			if s, _ := ev.Payload["summary"].(string); ev.RoutingKey == pdTickets && ev.Action == "trigger" && strings.Contains(s, "New error in real users' pages") {
				return nil
			}
		}
		return os.ErrNotExist
	})
	if n := harness.PagesSince(t, ctl, since); n != 0 {
		t.Errorf("a new error fingerprint paged %d times", n)
	}
}
