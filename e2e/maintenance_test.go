package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nines-sre/nines/alerting/pagerdutytest"
	"github.com/nines-sre/nines/internal/testwait"
)

// TestMaintenanceWindowOnEverySurface: the CDN fails during a maintenance
// window of cdn-manifest: every surface says maintenance and nothing
// pages; once the window ends the same failure is an outage on every
// surface, and pages once.
func TestMaintenanceWindowOnEverySurface(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	t.Parallel()
	dir := t.TempDir()
	csAddr, ctl := freeAddr(t), freeAddr(t)
	rs, toks := layOutRegions(t, dir)
	pd := pagerdutytest.New()
	defer pd.Close()
	from := time.Now().Add(25 * time.Second).Truncate(time.Second)
	to := from.Add(30 * time.Second)
	cfg := fmt.Sprintf(configTmpl, rs, toks, csAddr, pd.URL) + fmt.Sprintf(`maintenance:
  - {id: cdn-work, reason: "CDN migration", checks: [cdn-manifest], start: %q, end: %q}
`, from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339))
	cfgPath := filepath.Join(dir, "nines.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	start(t, dir, "contentsvc", "contentsvc", "--listen", csAddr, "--data", filepath.Join(dir, "cs"))
	controller := start(t, dir, "controller", "controller", "--config", cfgPath, "--data", filepath.Join(dir, "ctl"), "--listen", ctl)
	for _, r := range regions {
		start(t, dir, "probe-"+r, "probe", "--region", r, "--controller", "http://"+ctl,
			"--token-file", filepath.Join(dir, "tokens", r), "--probe-id", "e2e-"+r, "--spool", filepath.Join(dir, r+".db"), "--listen", "")
	}
	defer func() {
		if t.Failed() {
			controller.Tail(t)
		}
	}()
	checks := []string{"segments-api", "cdn-manifest"}
	waitFor(t, ctl, "every check up", 60*time.Second, func(s *status) bool { return allUp(s, checks, regions) })
	surfacesAgree(t, ctl, "steady", nil)
	waitFor(t, ctl, "the maintenance window open", time.Until(from)+15*time.Second, func(s *status) bool {
		return s.Check("cdn-manifest").Status == "maintenance"
	})
	post(t, "http://"+csAddr+"/admin/faults", `{"target":"cdn","outage":true}`)
	waitFor(t, ctl, "cdn-manifest in maintenance, its results failing", 15*time.Second, func(s *status) bool {
		c := s.Check("cdn-manifest")
		return c.Status == "maintenance" && c.Regions["eu-london"].Status == "down"
	})
	surfacesAgree(t, ctl, "maintenance", nil)
	if n := len(pd.Events()); n != 0 {
		t.Fatalf("%d pages during the maintenance window", n)
	}
	waitFor(t, ctl, "cdn-manifest down after the window", time.Until(to)+15*time.Second, func(s *status) bool { return s.Check("cdn-manifest").Status == "down" })
	surfacesAgree(t, ctl, "after the window", nil)
	testwait.Eventually(t, 10*time.Second, "one page after the window", func() error {
		if inc := pd.Incidents(); len(inc) != 1 || inc[0].DedupKey != "group:page" {
			return fmt.Errorf("PagerDuty incidents %+v", inc)
		}
		return nil
	})
}
