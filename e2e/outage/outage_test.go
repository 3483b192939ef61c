// Package outage runs the real nines binary through a controller outage
// during a target's outage: apart from the other end-to-end tests, as it
// takes four minutes.
package outage

import (
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

// The controller dies 3 s into a global outage and comes back 90 s later,
// while the outage goes on for three minutes. Its probes keep checking,
// keep what they saw, and vouch for their regions' health meanwhile: every
// minute of the outage is charged (the controller's absence erases none),
// the SLA report has one incident, and a check that stayed healthy has no
// unknown minute.
func TestControllerOutageDuringAnOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: runs the real binary for about four minutes")
	}
	t.Parallel()
	dir := t.TempDir()
	csAddr, ctl := harness.FreeAddr(t), harness.FreeAddr(t)
	pd := pagerdutytest.New()
	defer pd.Close()
	cfgPath := harness.StandardConfig(t, dir, csAddr, pd.URL)
	harness.Start(t, dir, "contentsvc", "contentsvc", "--listen", csAddr, "--data", filepath.Join(dir, "cs"))
	data := filepath.Join(dir, "ctl")
	ctlArgs := []string{"controller", "--config", cfgPath, "--data", data, "--listen", ctl}
	controller := harness.Start(t, dir, "controller", ctlArgs...)
	for _, r := range harness.Regions {
		harness.Start(t, dir, "probe-"+r, "probe", "--region", r, "--controller", "http://"+ctl, "--token-file", filepath.Join(dir, "tokens", r),
			"--probe-id", "e2e-"+r, "--spool", filepath.Join(dir, r+".db"), "--listen", "", "--max-backoff", "2s")
	}
	checks := []string{"segments-api", "cdn-manifest"}
	defer func() {
		if t.Failed() {
			controller.Tail(t)
		}
	}()
	harness.WaitFor(t, ctl, "every check up in seven regions", 30*time.Second, func(s *harness.Status) bool { return harness.AllUp(s, checks, harness.Regions) })

	// The outage: segments drops every connection, in every region.
	harness.Post(t, "http://"+csAddr+"/admin/faults", `{"target":"segments","outage":true}`)
	began := time.Now()
	time.Sleep(3 * time.Second)
	controller.Stop(syscall.SIGKILL)
	killed := time.Now()
	time.Sleep(90 * time.Second)
	controller = harness.Start(t, dir, "controller", ctlArgs...)
	back := time.Now()
	time.Sleep(time.Until(began.Add(3 * time.Minute)))
	harness.Post(t, "http://"+csAddr+"/admin/faults", "")
	ended := time.Now()
	harness.WaitFor(t, ctl, "every check up again", 60*time.Second, func(s *harness.Status) bool { return harness.AllUp(s, checks, harness.Regions) })

	// Every minute the outage touched is charged once the backfill is
	// sliced; nothing of the controller's absence is unknown.
	// The report covers the minutes the outage touched, once the last
	// of them is over and sliced.
	from, to := began.Truncate(time.Minute), ended.Truncate(time.Minute).Add(time.Minute)
	touched := int(to.Sub(from) / time.Minute)
	var r *harness.SLAReport
	testwait.Eventually(t, 2*time.Minute, "the outage's minutes charged", func() error {
		if time.Now().Before(to.Add(5 * time.Second)) {
			return fmt.Errorf("the outage's last minute ends at %s", to.Format(time.TimeOnly))
		}
		var err error
		if r, err = harness.SLAOf(cfgPath, data, from, to); err != nil {
			return err
		}
		if len(r.SLOs) != 1 {
			return fmt.Errorf("%d SLOs", len(r.SLOs))
		}
		m := r.SLOs[0].Minutes
		if m.Bad < touched-1 || m.Bad > touched || m.Good+m.Bad+m.Unknown != touched {
			return fmt.Errorf("minutes %+v, the outage touched %d", m, touched)
		}
		return nil
	})
	t.Logf("outage %s to %s (touched %d minutes), controller away %s to %s", began.Format(time.TimeOnly), ended.Format(time.TimeOnly), touched,
		killed.Format(time.TimeOnly), back.Format(time.TimeOnly))
	t.Logf("segments SLO: minutes %+v, incidents %+v", r.SLOs[0].Minutes, r.SLOs[0].Incidents)
	if n := len(r.SLOs[0].Incidents); n != 1 {
		t.Errorf("the one outage is %d incidents in the SLA report: %+v", n, r.SLOs[0].Incidents)
	}
	for _, c := range r.Checks {
		t.Logf("check %s: minutes %+v", c.ID, c.Minutes)
		if c.Minutes.Unknown != 0 {
			t.Errorf("%s has %d unknown minutes across the controller's absence", c.ID, c.Minutes.Unknown)
		}
	}
}

func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }
