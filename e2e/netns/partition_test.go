//go:build linux

package netns

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nines-sre/nines/e2e/internal/harness"
	"github.com/nines-sre/nines/internal/testwait"
)

// TestCutOffProbesArePageless runs the real binaries in network namespaces
// of the test's own: one region's probe, then two regions' probes, lose
// their whole network (their link to everything else is cut) while the
// target stays healthy. They keep checking, spool their failures and ship
// them after the heal. Nothing pages, no minute is down or degraded, the
// check is never down, and the spooled failures are stored as the probe's
// own (probe_isolated).
func TestCutOffProbesArePageless(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	cut := 30 * time.Second
	if v := os.Getenv("NINES_E2E_CUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("NINES_E2E_CUT: %v", err)
		}
		cut = d
	}
	lab := newNetLab(t, "eu-frankfurt", "eu-london")
	dir := t.TempDir()
	ctl := hubAddr + ":18080"
	cfgPath, pd := lab.installation(dir, 18081)
	controller := lab.start(dir, lab.hub, "controller", "controller", "--config", cfgPath, "--data", filepath.Join(dir, "ctl"), "--listen", ctl)
	probes := map[string]*harness.Proc{}
	for _, r := range harness.Regions {
		probes[r] = lab.start(dir, lab.nsOf(r), "probe-"+r, "probe", "--region", r, "--controller", "http://"+ctl,
			"--token-file", filepath.Join(dir, "tokens", r), "--probe-id", "e2e-"+r, "--spool", filepath.Join(dir, r+".db"),
			"--listen", "", "--max-backoff", "2s")
	}
	defer func() {
		if t.Failed() {
			controller.Tail(t)
			probes["eu-london"].Tail(t)
		}
	}()
	client := clientIn(lab.hub)
	get := func(path string, v any) error { return harness.GetJSONWith(client, "http://"+ctl+path, v) }
	checks := []string{"segments-api", "cdn-manifest"}
	wait := func(what string, limit time.Duration, cond func(*harness.Status) bool) {
		t.Helper()
		harness.WaitWith(t, func(v any) error { return get("/api/v1/status", v) }, what, limit, cond)
	}
	drained := func(s *harness.Status) bool {
		for _, p := range s.Probes {
			if !p.Healthy || p.SpoolDepth > 4 { // a few wait for the next shipment
				return false
			}
		}
		return len(s.Probes) == len(harness.Regions)
	}
	wait("every check up in every region", 60*time.Second, func(s *harness.Status) bool { return harness.AllUp(s, checks, harness.Regions) })

	began := time.Now()
	for _, stage := range []struct {
		name string
		cut  []string
	}{
		{"one region cut off", []string{"eu-london"}},
		{"two regions cut off", []string{"eu-frankfurt", "eu-london"}},
	} {
		t.Logf("%s for %s", stage.name, cut)
		for _, r := range stage.cut {
			lab.setLink(r, false)
		}
		neverDown := func() error {
			var s harness.Status
			if get("/api/v1/status", &s) != nil {
				return nil // the status is read again at the next poll
			}
			for _, id := range checks {
				if st := s.Check(id).Status; st == "down" {
					return fmt.Errorf("%s is down", id)
				}
			}
			return nil
		}
		testwait.Throughout(t, cut, stage.name+": no check down while only probes are cut off", neverDown)
		for _, r := range stage.cut {
			lab.setLink(r, true)
		}
		// The spools backfill: no check goes down on the backfilled
		// failures, and every probe drains.
		testwait.Throughout(t, 5*time.Second, stage.name+", after the heal: no check down", neverDown)
		wait(stage.name+": spools drained, every check up", 60*time.Second, func(s *harness.Status) bool {
			return drained(s) && harness.AllUp(s, checks, harness.Regions)
		})
	}
	// The last minutes sliced: two slicing passes after everything drained.
	passes := func() float64 {
		return harness.Metric(t, client, "http://"+ctl+"/metrics", "nines_slices_lag_seconds_count")
	}
	sliced := passes()
	testwait.Eventually(t, 20*time.Second, "two more slicing passes", func() error {
		if n := passes(); n < sliced+2 {
			return fmt.Errorf("%v passes, %v before", n, sliced)
		}
		return nil
	})

	// The failures the cut-off probes spooled are stored, marked as theirs.
	var res struct {
		Results []struct {
			Outcome       string `json:"outcome"`
			ProbeIsolated bool   `json:"probe_isolated"`
		} `json:"results"`
	}
	if err := get(fmt.Sprintf("/api/v1/results?check=segments-api&region=eu-london&since=%s&limit=10000", began.UTC().Format(time.RFC3339)), &res); err != nil {
		t.Fatal(err)
	}
	isolated, down := 0, 0
	for _, r := range res.Results {
		if r.Outcome == "down" {
			down++
			if r.ProbeIsolated {
				isolated++
			}
		}
	}
	t.Logf("eu-london: %d results since the first cut, %d down, %d of them marked probe_isolated", len(res.Results), down, isolated)
	if isolated == 0 {
		t.Fatalf("no spooled failure of eu-london was marked as the probe's own (%d down)", down)
	}
	// Nothing paged, no alert but probe silence, no bad minute.
	if ev := pd.Events(); len(ev) != 0 {
		t.Fatalf("cut-off probes paged: %+v", ev)
	}
	var alerts harness.AlertsDoc
	if err := get("/api/v1/alerts", &alerts); err != nil {
		t.Fatal(err)
	}
	for _, a := range alerts.Alerts {
		if !strings.HasPrefix(a.Key, "silent:") {
			t.Fatalf("cut-off probes raised %s (%s)", a.Key, a.State)
		}
	}
	var slo struct {
		Minutes struct{ Good, Bad int } `json:"minutes"`
	}
	if err := get("/api/v1/slo/segments", &slo); err != nil {
		t.Fatal(err)
	}
	if slo.Minutes.Bad != 0 {
		t.Fatalf("%d down minutes charged while only probes were cut off", slo.Minutes.Bad)
	}
	t.Logf("pages 0, down minutes 0 (good minutes %d)", slo.Minutes.Good)
}
