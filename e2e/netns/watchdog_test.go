//go:build linux

package netns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/nines-sre/nines/alerting/pagerdutytest"
	"github.com/nines-sre/nines/e2e/internal/harness"
	"github.com/nines-sre/nines/internal/testwait"
)

const watchdogKey = "E2EWATCHDOGE2EWATCHDOGE2EWATCH01"

// TestWatchdogPagesOnceWhenTheControllerDies runs seven probes with the
// watchdog armed, one of them in a network namespace of its own. Cut off
// from everything, that probe pages nothing, then or after the heal. When
// the controller dies, the probes page once for the installation (one
// incident, every region's trigger folded into it), no sooner than the
// watchdog delay, and the incident resolves once the controller is back.
// NINES_E2E_WATCHDOG_AFTER and NINES_E2E_WATCHDOG_OUTAGE (default 5s and
// 20s) lengthen it to the real thing; NINES_E2E_WATCHDOG_CUT (default
// three delays) is how long the one probe is cut off.
func TestWatchdogPagesOnceWhenTheControllerDies(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	after, outage := envDuration(t, "NINES_E2E_WATCHDOG_AFTER", 5*time.Second), envDuration(t, "NINES_E2E_WATCHDOG_OUTAGE", 20*time.Second)
	cut := envDuration(t, "NINES_E2E_WATCHDOG_CUT", 3*after)
	lab := newNetLab(t, "eu-london")
	dir := t.TempDir()
	ctl := hubAddr + ":18180"
	cfgPath, pd := lab.installation(dir, 18181)
	keyFile := filepath.Join(dir, "watchdog.key")
	if err := os.WriteFile(keyFile, []byte(watchdogKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctlArgs := []string{"controller", "--config", cfgPath, "--data", filepath.Join(dir, "ctl"), "--listen", ctl}
	controller := lab.start(dir, lab.hub, "controller", ctlArgs...)
	probes := map[string]*harness.Proc{}
	for _, r := range harness.Regions {
		probes[r] = lab.start(dir, lab.nsOf(r), "probe-"+r, "probe", "--region", r, "--controller", "http://"+ctl,
			"--token-file", filepath.Join(dir, "tokens", r), "--probe-id", "e2e-"+r, "--spool", filepath.Join(dir, r+".db"),
			"--listen", "", "--max-backoff", "1s",
			"--watchdog-after", after.String(), "--watchdog-pagerduty-key-file", keyFile, "--watchdog-pagerduty-url", pd.URL)
	}
	defer func() {
		if t.Failed() {
			controller.Tail(t)
			probes["eu-london"].Tail(t)
			probes["ap-tokyo"].Tail(t)
		}
	}()
	client := clientIn(lab.hub)
	checks := []string{"segments-api", "cdn-manifest"}
	harness.WaitWith(t, func(v any) error { return harness.GetJSONWith(client, "http://"+ctl+"/api/v1/status", v) },
		"every check up in every region", 60*time.Second, func(s *harness.Status) bool { return harness.AllUp(s, checks, harness.Regions) })
	watchdogEvents := func() []pagerdutytest.Event {
		var out []pagerdutytest.Event
		for _, ev := range pd.Events() {
			if ev.RoutingKey == watchdogKey {
				out = append(out, ev)
			}
		}
		return out
	}
	noPage := func() error {
		if ev := watchdogEvents(); len(ev) > 0 {
			return fmt.Errorf("the watchdog paged: %+v", ev)
		}
		return nil
	}

	// A probe cut off from everything pages nothing, then or after.
	lab.setLink("eu-london", false)
	testwait.Throughout(t, cut, "no watchdog page while eu-london's probe is cut off", noPage)
	lab.setLink("eu-london", true)
	testwait.Throughout(t, min(2*after, cut), "no watchdog page after eu-london's heal", noPage)

	// The controller dies: one incident, no sooner than the delay.
	killed := time.Now()
	controller.Stop(syscall.SIGKILL)
	var opened time.Time
	testwait.Eventually(t, after+time.Minute, "the watchdog's incident opened", func() error {
		if inc := pd.IncidentsFor(watchdogKey); len(inc) == 0 {
			return errors.New("no incident")
		}
		opened = time.Now()
		return nil
	})
	// The probes last reached it up to a heartbeat (1s) before it died.
	if early := opened.Sub(killed); early < after-time.Second {
		t.Errorf("paged %s after the controller died, before the watchdog delay of %s", early.Round(time.Millisecond), after)
	}
	testwait.Eventually(t, after+time.Minute, "every region's trigger folded into the one incident", func() error {
		from := map[string]bool{}
		for _, ev := range watchdogEvents() {
			if ev.Action == "trigger" {
				from[fmt.Sprint(ev.Payload["group"])] = true
			}
		}
		if inc := pd.IncidentsFor(watchdogKey); len(inc) != 1 || inc[0].Status != "triggered" || len(from) != len(harness.Regions) {
			return fmt.Errorf("incidents %+v; triggers from %d regions %v", inc, len(from), from)
		}
		return nil
	})
	t.Logf("controller killed; the watchdog opened one incident %s later, with triggers from all %d regions",
		opened.Sub(killed).Round(time.Second), len(harness.Regions))
	time.Sleep(time.Until(killed.Add(outage))) // the rest of the outage
	controller = lab.start(dir, lab.hub, "controller", ctlArgs...)
	restarted := time.Now()
	testwait.Eventually(t, time.Minute, "the watchdog's incident resolved", func() error {
		if inc := pd.IncidentsFor(watchdogKey); len(inc) != 1 || inc[0].Status != "resolved" {
			return fmt.Errorf("incidents %+v", inc)
		}
		return nil
	})
	t.Logf("controller back after %s; the incident resolved %s later", restarted.Sub(killed).Round(time.Second),
		time.Since(restarted).Round(time.Second))
	if v := pd.Violations(); len(v) > 0 {
		t.Fatal(v)
	}
}

// envDuration reads a duration from the environment, def when unset.
func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return d
}
