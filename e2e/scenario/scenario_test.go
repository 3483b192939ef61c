package scenario

import (
	"fmt"
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

// alertBecomes waits until the alert key is in state.
func alertBecomes(t *testing.T, ctl, key, state string, limit time.Duration) {
	t.Helper()
	testwait.Eventually(t, limit, key+" "+state, func() error {
		if st := alertState(t, ctl, key); st != state {
			return fmt.Errorf("%s is %q", key, st)
		}
		return nil
	})
}

func alertState(t *testing.T, ctl, key string) string {
	t.Helper()
	var a harness.AlertsDoc
	if err := harness.GetJSON("http://"+ctl+"/api/v1/alerts", &a); err != nil {
		t.Fatal(err)
	}
	for _, x := range a.Alerts {
		if x.Key == key {
			return x.State
		}
	}
	return ""
}

// demoTiming is how long TestDemoScenarios holds each scenario and
// watches what follows.
type demoTiming struct {
	fast      bool
	outage    time.Duration // a paging scenario lasts at least this long
	frankfurt time.Duration // the one-region fault lasts this long
	escalate  time.Duration // level 2 of the page policy
	settle    time.Duration // after the clear, every alert must resolve within this
	quiet     time.Duration // and nothing may fire again for this long
}

// timing is the demo's own (NINES_E2E_REAL_DEMO=1: 30 s checks, level 2
// after 2 minutes, 3-minute outages, 10 minutes of one region's fault, 5
// minutes watched after each recovery), or fastDemo's.
func timing() demoTiming {
	if os.Getenv("NINES_E2E_REAL_DEMO") != "" {
		return demoTiming{outage: 3 * time.Minute, frankfurt: 10 * time.Minute, escalate: 2 * time.Minute, settle: 3 * time.Minute, quiet: 5 * time.Minute}
	}
	return demoTiming{fast: true, escalate: 20 * time.Second, settle: time.Minute, quiet: 10 * time.Second}
}

// TestDemoScenarios stages each scenario of `nines demo --scenario` on a
// running demo and checks the verdicts, the alerts and the SLA figures that
// follow, and what reached people: one page per outage on the strict
// PagerDuty stand-in, level 2 only while it went on unacknowledged, one
// public incident, the one ticket of a one-region fault, and nothing still
// open or firing again after the recovery. The table it logs is the
// closing figure of the on-call issue with NINES_E2E_REAL_DEMO=1.
func TestDemoScenarios(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	t.Parallel()
	tm := timing()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	ctl := harness.FreeAddr(t)
	pd := pagerdutytest.New()
	t.Cleanup(pd.Close)
	demo := harness.Start(t, dir, "demo", "demo", "--listen", ctl, "--data", data, "--config", payingDemo(t, dir, pd.URL, tm.fast, tm.escalate), "--browser", "none")
	defer func() {
		if t.Failed() {
			demo.Tail(t)
		}
		if v := pd.Violations(); len(v) > 0 {
			t.Errorf("PagerDuty contract violations: %v", v)
		}
	}()
	checks := []string{"segments-api", "cdn-manifest", "cdn-welcome-v1", "content-flow"}
	parents := map[string]string{"content-flow": "segments-api"}
	harness.WaitFor(t, ctl, "every check up", 60*time.Second, func(s *harness.Status) bool { return harness.AllUp(s, checks, harness.Regions) })
	steady := time.Now()
	harness.SurfacesAgree(t, ctl, "steady", parents)
	var matrix []string
	defer func() { t.Logf("scenario matrix:\n%s", strings.Join(matrix, "\n")) }()
	record := func(name string, since time.Time) {
		t.Helper()
		harness.SurfacesAgree(t, ctl, name, parents)
		var s harness.Status
		harness.GetJSON("http://"+ctl+"/api/v1/status", &s)
		var states []string
		for _, id := range checks {
			states = append(states, id+"="+s.Check(id).Status)
		}
		matrix = append(matrix, fmt.Sprintf("%-18s %s; surfaces agree; pages %d", name, strings.Join(states, " "), harness.PagesSince(t, ctl, since)))
	}
	record("steady", steady)
	stage := func(name string) {
		t.Helper()
		out, err := exec.Command(harness.Binary, "demo", "--scenario", name, "--data", data, "--for", "0").CombinedOutput()
		if err != nil {
			t.Fatalf("--scenario %s: %v\n%s", name, err, out)
		}
		if name != "clear" && !strings.Contains(string(out), "watch:") {
			t.Fatalf("--scenario %s says nothing to watch:\n%s", name, out)
		}
	}
	recover := func() {
		t.Helper()
		stage("clear")
		harness.WaitFor(t, ctl, "every check up again", 60*time.Second, func(s *harness.Status) bool { return harness.AllUp(s, checks, harness.Regions) })
	}
	var heardTable []string
	defer func() {
		t.Logf("what reached people:\n| scenario | PagerDuty incidents | triggers | level-2 incidents | public incidents | tickets | open %s after the recovery |\n|---|---:|---:|---:|---:|---:|---|\n%s",
			tm.quiet, strings.Join(heardTable, "\n"))
	}()
	// account holds a scenario for at least hold, clears it, and checks
	// what reached people: everything resolves, nothing fires again.
	account := func(t *testing.T, name string, began time.Time, hold time.Duration, paging bool) {
		t.Helper()
		if rest := hold - time.Since(began); rest > 0 {
			time.Sleep(rest) // the scenario's length
		}
		cleared := time.Now()
		recover()
		testwait.Eventually(t, tm.settle, name+": every alert and page resolved", func() error {
			if open := stillOpen(t, pd, ctl); len(open) > 0 {
				return fmt.Errorf("open: %v", open)
			}
			return nil
		})
		testwait.Throughout(t, tm.quiet, name+": nothing firing after the recovery", func() error {
			if open := stillOpen(t, pd, ctl); len(open) > 0 {
				return fmt.Errorf("open: %v", open)
			}
			return nil
		})
		h := heardSince(t, pd, ctl, began, cleared)
		heardTable = append(heardTable, fmt.Sprintf("| %s | %d | %d | %d | %d | %d | %d |", name, h.pages, h.triggers, h.level2, h.public, h.tickets, len(stillOpen(t, pd, ctl))))
		switch {
		case paging && (h.pages != 1 || h.public != 1 || h.level2 > 1 || !h.level2While || h.tickets != 0):
			t.Fatalf("%s reached people as %+v: want one page, one public incident, no ticket, level 2 at most once and only while failing", name, h)
		case !paging && (h.pages != 0 || h.level2 != 0 || h.public != 0 || h.tickets != 1):
			t.Fatalf("%s reached people as %+v: want no page, no public incident and one ticket", name, h)
		}
	}

	t.Run("frankfurt-outage", func(t *testing.T) {
		began := time.Now()
		stage("frankfurt-outage")
		harness.WaitFor(t, ctl, "degraded with eu-frankfurt failing", 30*time.Second, func(s *harness.Status) bool {
			c := s.Check("segments-api")
			return c.Status == "degraded" && c.Regions["eu-frankfurt"].Status == "down"
		})
		testwait.Throughout(t, 10*time.Second, "one region cut off making no check down", func() error {
			var s harness.Status
			if err := harness.GetJSON("http://"+ctl+"/api/v1/status", &s); err != nil {
				return nil // read again at the next poll
			}
			for _, id := range checks {
				if s.Check(id).Status == "down" {
					return fmt.Errorf("%s is down", id)
				}
			}
			return nil
		})
		alertBecomes(t, ctl, "regional:eu-frankfurt", "firing", map[bool]time.Duration{true: 20 * time.Second, false: 6 * time.Minute}[tm.fast])
		var a harness.AlertsDoc
		harness.GetJSON("http://"+ctl+"/api/v1/alerts", &a)
		tickets := 0
		for _, x := range a.Alerts {
			if strings.HasPrefix(x.Key, "down:") || (strings.HasPrefix(x.Key, "burn:") && strings.HasSuffix(x.Key, "/page")) {
				t.Fatalf("one region cut off raised %s", x.Key)
			}
			if strings.HasPrefix(x.Key, "regional:") {
				tickets++
			}
		}
		if st := alertState(t, ctl, "regional:eu-frankfurt"); st != "firing" || tickets != 1 {
			t.Fatalf("regional ticket %q, %d regional alerts in all: %+v", st, tickets, a.Alerts)
		}
		record("frankfurt-outage", began)
		if n := harness.PagesSince(t, ctl, began); n != 0 {
			t.Fatalf("one region's fault sent %d pages", n)
		}
		account(t, "frankfurt-outage", began, tm.frankfurt, false)
	})

	t.Run("cdn-outage", func(t *testing.T) {
		began := time.Now()
		stage("cdn-outage")
		harness.WaitFor(t, ctl, "CDN checks down, the flow served from the SDK's cache", 30*time.Second, func(s *harness.Status) bool {
			return s.Check("cdn-manifest").Status == "down" && s.Check("cdn-welcome-v1").Status == "down" && s.Check("content-flow").Status == "degraded"
		})
		alertBecomes(t, ctl, "down:cdn-manifest", "firing", 10*time.Second)
		alertBecomes(t, ctl, "down:cdn-welcome-v1", "firing", 10*time.Second)
		record("cdn-outage", began)
		account(t, "cdn-outage", began, tm.outage, true)
		record("cdn recovered", began)
	})

	t.Run("segments-slow", func(t *testing.T) {
		began := time.Now()
		stage("segments-slow")
		harness.WaitFor(t, ctl, "segments-api down, the flow degraded", 30*time.Second, func(s *harness.Status) bool {
			return s.Check("segments-api").Status == "down" && s.Check("content-flow").Status == "degraded"
		})
		var s harness.Status
		harness.GetJSON("http://"+ctl+"/api/v1/status", &s)
		if cls := s.Check("segments-api"); cls.Status != "down" {
			t.Fatalf("segments-api %+v", cls)
		}
		record("segments-slow", began)
		account(t, "segments-slow", began, tm.outage, true)
	})

	t.Run("global-outage", func(t *testing.T) {
		began := time.Now()
		var slo struct {
			Minutes struct{ Bad int } `json:"minutes"`
		}
		// Settle the minutes of the earlier scenarios first: minutes are
		// the wall clock's, so this waits for the next one to begin.
		time.Sleep(time.Until(began.Truncate(time.Minute).Add(time.Minute + 3*time.Second)))
		if err := harness.GetJSON("http://"+ctl+"/api/v1/slo/segments-availability", &slo); err != nil {
			t.Fatal(err)
		}
		before := slo.Minutes.Bad
		began = time.Now()
		stage("global-outage")
		harness.WaitFor(t, ctl, "every contentsvc check down", 30*time.Second, func(s *harness.Status) bool {
			return s.Check("segments-api").Status == "down" && s.Check("cdn-manifest").Status == "down"
		})
		alertBecomes(t, ctl, "down:segments-api", "firing", 10*time.Second)
		// The SLO sees the bad minute once it has closed.
		testwait.Eventually(t, time.Until(began.Add(2*time.Minute)), "the global outage spending error budget", func() error {
			if err := harness.GetJSON("http://"+ctl+"/api/v1/slo/segments-availability", &slo); err != nil {
				return err
			}
			if slo.Minutes.Bad <= before {
				return fmt.Errorf("%d bad minutes before, %d now", before, slo.Minutes.Bad)
			}
			return nil
		})
		record("global-outage", began)
		account(t, "global-outage", began, tm.outage, true)
		// The child recovers with its parent: no incident of its own.
		record("global recovered", began)
		if st := alertState(t, ctl, "down:content-flow"); st == "firing" || st == "acknowledged" {
			t.Fatalf("content-flow opened its own incident as its parent recovered (%s)", st)
		}
		alertBecomes(t, ctl, "down:segments-api", "resolved", 20*time.Second)
		var hist struct {
			Notifications []struct {
				Message   struct{ Action string } `json:"message"`
				Delivered *time.Time              `json:"delivered_at"`
			} `json:"notifications"`
		}
		if err := harness.GetJSON("http://"+ctl+"/api/v1/alerts/group:page", &hist); err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, n := range hist.Notifications {
			if n.Delivered != nil {
				actions = append(actions, n.Message.Action)
			}
		}
		if len(actions) < 2 || actions[0] != "trigger" || actions[len(actions)-1] != "resolve" {
			t.Fatalf("notifications of the outage's group: %v", actions)
		}
	})
}
