package scenario

import (
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
	since := time.Now()
	if out, err := exec.Command(harness.Binary, "demo", "--scenario", "region-users-failing", "--data", data, "--for", "0").CombinedOutput(); err != nil {
		t.Fatalf("--scenario: %v\n%s", err, out)
	}
	var alerts struct {
		Alerts []struct{ Key, State, Summary string } `json:"alerts"`
	}
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
