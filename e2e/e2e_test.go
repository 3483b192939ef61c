// Package e2e runs the real nines binary: contentsvc, a controller and seven
// regional probes as separate processes on loopback, and stages the
// incidents an SRE cares about.
package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nines-sre/nines/alerting/pagerdutytest"
	"github.com/nines-sre/nines/e2e/internal/harness"
	"github.com/nines-sre/nines/internal/testwait"
)

// The harness's helpers, under the names these tests use.
var (
	freeAddr       = harness.FreeAddr
	start          = harness.Start
	startWith      = harness.StartWith
	getJSON        = harness.GetJSON
	answering      = harness.Answering
	metric         = harness.Metric
	waitFor        = harness.WaitFor
	allUp          = harness.AllUp
	post           = harness.Post
	token          = harness.Token
	layOutRegions  = harness.LayOutRegions
	standardConfig = harness.StandardConfig
	slaOf          = harness.SLAOf
	regions        = harness.Regions
	getText        = harness.GetText
	surfacesAgree  = harness.SurfacesAgree
)

type (
	proc      = harness.Proc
	status    = harness.Status
	alertsDoc = harness.AlertsDoc
)

const (
	interval   = harness.Interval
	configHead = harness.ConfigHead
	configTmpl = harness.ConfigTmpl
)

func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }

// TestMultiRegionIncidents runs the whole system and stages, in order: a
// regional fault, a global fault, a lost probe, and a controller outage.
func TestMultiRegionIncidents(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: runs the real binary for a few minutes")
	}
	t.Parallel()
	outage := time.Minute
	if v := os.Getenv("NINES_E2E_OUTAGE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("NINES_E2E_OUTAGE: %v", err)
		}
		outage = d
	}
	dir := t.TempDir()
	began := time.Now()
	csAddr, ctl := freeAddr(t), freeAddr(t)
	pd := pagerdutytest.New()
	defer pd.Close()
	cfgPath := standardConfig(t, dir, csAddr, pd.URL)
	out, err := exec.Command(harness.Binary, "validate", cfgPath).CombinedOutput()
	if err != nil {
		t.Fatalf("validate: %v\n%s", err, out)
	}

	start(t, dir, "contentsvc", "contentsvc", "--listen", csAddr, "--data", filepath.Join(dir, "cs"))
	ctlArgs := []string{"controller", "--config", cfgPath, "--data", filepath.Join(dir, "ctl"), "--listen", ctl}
	controller := start(t, dir, "controller", ctlArgs...)
	probes := map[string]*proc{}
	for _, r := range regions {
		probes[r] = start(t, dir, "probe-"+r, "probe", "--region", r, "--controller", "http://"+ctl,
			"--token-file", filepath.Join(dir, "tokens", r), "--probe-id", "e2e-"+r, "--spool", filepath.Join(dir, r+".db"),
			"--listen", "", "--max-backoff", "2s")
	}
	checks := []string{"segments-api", "cdn-manifest"}
	defer func() {
		if t.Failed() {
			controller.Tail(t)
			probes["eu-frankfurt"].Tail(t)
		}
	}()

	waitFor(t, ctl, "every check up in seven regions", 30*time.Second, func(s *status) bool { return allUp(s, checks, regions) })

	t.Run("FrankfurtFaultIsDegradedNeverDown", func(t *testing.T) {
		post(t, "http://"+csAddr+"/admin/faults", `{"target":"segments","region":"eu-frankfurt","error_status":503}`)
		waitFor(t, ctl, "segments-api degraded", 15*time.Second, func(s *status) bool {
			c := s.Check("segments-api")
			return c.Status == "degraded" && c.Regions["eu-frankfurt"].Status == "down"
		})
		testwait.Throughout(t, 3*interval, "a fault in eu-frankfurt alone touching nothing else", func() error {
			var s status
			if err := getJSON("http://"+ctl+"/api/v1/status", &s); err != nil {
				return err
			}
			if c := s.Check("segments-api"); c.Status == "down" {
				return fmt.Errorf("segments-api down: %+v", c)
			}
			if c := s.Check("cdn-manifest"); c.Status != "up" {
				return fmt.Errorf("a segments fault touched cdn-manifest: %+v", c)
			}
			return nil
		})
		post(t, "http://"+csAddr+"/admin/faults", "")
		waitFor(t, ctl, "segments-api up again", 15*time.Second, func(s *status) bool { return allUp(s, checks, regions) })
		if ev := pd.Events(); len(ev) != 0 {
			t.Fatalf("a fault in one region paged: %+v", ev)
		}
	})

	t.Run("GlobalFaultIsDown", func(t *testing.T) {
		post(t, "http://"+csAddr+"/admin/faults", `{"target":"segments","outage":true}`)
		s := waitFor(t, ctl, "segments-api down", 15*time.Second, func(s *status) bool { return s.Check("segments-api").Status == "down" })
		failing := 0
		for _, r := range s.Check("segments-api").Regions {
			if r.Status == "down" {
				failing++
			}
		}
		if failing < 2 {
			t.Fatalf("down with %d failing regions, quorum is 2", failing)
		}
		confirmed := time.Now()
		testwait.Eventually(t, 10*time.Second, "a PagerDuty incident", func() error {
			if len(pd.Incidents()) == 0 {
				return errors.New("none yet")
			}
			return nil
		})
		t.Logf("paged %s after the status API showed down", time.Since(confirmed).Round(time.Millisecond))
		post(t, "http://"+csAddr+"/admin/faults", "")
		waitFor(t, ctl, "segments-api up again", 15*time.Second, func(s *status) bool { return allUp(s, checks, regions) })
		testwait.Eventually(t, 15*time.Second, "the PagerDuty incident resolved", func() error {
			if inc := pd.Incidents(); len(inc) != 1 || inc[0].Status != "resolved" || inc[0].DedupKey != "group:page" {
				return fmt.Errorf("incidents %+v", inc)
			}
			return nil
		})
		if v := pd.Violations(); len(v) > 0 {
			t.Fatal(v)
		}
	})

	t.Run("StoppedProbeIsUnhealthyRegionNotDowntime", func(t *testing.T) {
		probes["us-ohio"].Stop(syscall.SIGTERM)
		waitFor(t, ctl, "us-ohio unhealthy", 10*time.Second, func(s *status) bool {
			for _, r := range s.Regions {
				if r.ID == "us-ohio" {
					return !r.Healthy
				}
			}
			return false
		})
		testwait.Throughout(t, 3*interval, "a stopped probe changing no verdict", func() error {
			var s status
			if err := getJSON("http://"+ctl+"/api/v1/status", &s); err != nil {
				return err
			}
			for _, id := range checks {
				c := s.Check(id)
				if c.Status != "up" {
					return fmt.Errorf("%s is %s", id, c.Status)
				}
				if r := c.Regions["us-ohio"]; r.Status != "unknown" || r.Healthy {
					return fmt.Errorf("us-ohio view of %s = %+v, want unknown and unhealthy", id, r)
				}
			}
			return nil
		})
	})

	t.Run("ControllerOutageLosesNoResult", func(t *testing.T) {
		live := []string{}
		for _, r := range regions {
			if r != "us-ohio" {
				live = append(live, r)
			}
		}
		killedAt := time.Now()
		controller.Stop(syscall.SIGKILL)
		t.Logf("controller killed; staying away for %s", outage)
		time.Sleep(outage)
		restartedAt := time.Now()
		controller = start(t, dir, "controller", ctlArgs...)
		from, to := killedAt.Add(-3*interval), restartedAt.Add(2*interval)
		// Backfill is done when every check in every live region has one
		// result per interval across the outage, with no gap.
		problems := func() []string {
			var out []string
			for _, id := range checks {
				for _, r := range live {
					var res struct {
						Results []struct {
							Scheduled time.Time `json:"scheduled"`
						} `json:"results"`
					}
					url := fmt.Sprintf("http://%s/api/v1/results?check=%s&region=%s&since=%s&until=%s&limit=10000&order=oldest", ctl, id, r,
						from.UTC().Format(time.RFC3339Nano), to.UTC().Format(time.RFC3339Nano))
					if err := getJSON(url, &res); err != nil {
						return []string{err.Error()}
					}
					if want := int(to.Sub(from) / interval); len(res.Results) < want {
						out = append(out, fmt.Sprintf("%s in %s: %d results between %s and %s, want %d (one every %s)", id, r,
							len(res.Results), from.Format(time.TimeOnly), to.Format(time.TimeOnly), want, interval))
					}
					for i := 1; i < len(res.Results); i++ {
						if gap := res.Results[i].Scheduled.Sub(res.Results[i-1].Scheduled); gap != interval {
							out = append(out, fmt.Sprintf("%s in %s: gap of %s after %s", id, r, gap, res.Results[i-1].Scheduled.Format(time.TimeOnly)))
						}
					}
				}
			}
			return out
		}
		testwait.Eventually(t, 60*time.Second, "every result of the outage backfilled", func() error {
			if left := problems(); len(left) > 0 {
				return errors.New(strings.Join(left, "\n"))
			}
			return nil
		})
		waitFor(t, ctl, "every check up again in the live regions", 30*time.Second, func(s *status) bool { return allUp(s, checks, live) })
	})

	t.Run("SLAReportCountsTheGlobalOutage", func(t *testing.T) {
		r, err := slaOf(cfgPath, filepath.Join(dir, "ctl"), began.Truncate(time.Minute), time.Now().Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if len(r.SLOs) != 1 || r.SLOs[0].Minutes.Bad < 1 || len(r.SLOs[0].Incidents) < 1 {
			t.Fatalf("the global outage is not in the report: %+v", r)
		}
	})
}
