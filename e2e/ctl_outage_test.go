package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/nines-sre/nines/alerting/pagerdutytest"
	"github.com/nines-sre/nines/internal/testwait"
)

// slaReport is what the test reads of `nines sla --format json`.
type slaReport struct {
	SLOs []struct {
		ID        string
		Minutes   struct{ Good, Bad, Unknown int }
		Incidents []struct {
			Start, End time.Time
			Minutes    int
		}
	}
	Checks []struct {
		ID      string
		Minutes struct{ Good, Bad, Unknown int }
	}
}

func slaOf(cfgPath, data string, from, to time.Time) (*slaReport, error) {
	out, err := exec.Command(binary, "sla", "--config", cfgPath, "--data", data, "--format", "json",
		"--from", from.UTC().Format(time.RFC3339), "--to", to.UTC().Format(time.RFC3339)).Output()
	if err != nil {
		var stderr []byte
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			stderr = ee.Stderr
		}
		return nil, fmt.Errorf("nines sla: %w: %s", err, stderr)
	}
	var r slaReport
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, fmt.Errorf("nines sla: %w: %s", err, out)
	}
	return &r, nil
}

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
	csAddr, ctl := freeAddr(t), freeAddr(t)
	pd := pagerdutytest.New()
	defer pd.Close()
	cfgPath := standardConfig(t, dir, csAddr, pd.URL)
	start(t, dir, "contentsvc", "contentsvc", "--listen", csAddr, "--data", filepath.Join(dir, "cs"))
	data := filepath.Join(dir, "ctl")
	ctlArgs := []string{"controller", "--config", cfgPath, "--data", data, "--listen", ctl}
	controller := start(t, dir, "controller", ctlArgs...)
	for _, r := range regions {
		start(t, dir, "probe-"+r, "probe", "--region", r, "--controller", "http://"+ctl, "--token-file", filepath.Join(dir, "tokens", r),
			"--probe-id", "e2e-"+r, "--spool", filepath.Join(dir, r+".db"), "--listen", "", "--max-backoff", "2s")
	}
	checks := []string{"segments-api", "cdn-manifest"}
	defer func() {
		if t.Failed() {
			controller.tail(t)
		}
	}()
	waitFor(t, ctl, "every check up in seven regions", 30*time.Second, func(s *status) bool { return allUp(s, checks, regions) })

	// The outage: segments drops every connection, in every region.
	post(t, "http://"+csAddr+"/admin/faults", `{"target":"segments","outage":true}`)
	began := time.Now()
	time.Sleep(3 * time.Second)
	controller.stop(syscall.SIGKILL)
	killed := time.Now()
	time.Sleep(90 * time.Second)
	controller = start(t, dir, "controller", ctlArgs...)
	back := time.Now()
	time.Sleep(time.Until(began.Add(3 * time.Minute)))
	post(t, "http://"+csAddr+"/admin/faults", "")
	ended := time.Now()
	waitFor(t, ctl, "every check up again", 60*time.Second, func(s *status) bool { return allUp(s, checks, regions) })

	// Every minute the outage touched is charged once the backfill is
	// sliced; nothing of the controller's absence is unknown.
	// The report covers the minutes the outage touched, once the last
	// of them is over and sliced.
	from, to := began.Truncate(time.Minute), ended.Truncate(time.Minute).Add(time.Minute)
	touched := int(to.Sub(from) / time.Minute)
	var r *slaReport
	testwait.Eventually(t, 2*time.Minute, "the outage's minutes charged", func() error {
		if time.Now().Before(to.Add(5 * time.Second)) {
			return fmt.Errorf("the outage's last minute ends at %s", to.Format(time.TimeOnly))
		}
		var err error
		if r, err = slaOf(cfgPath, data, from, to); err != nil {
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
