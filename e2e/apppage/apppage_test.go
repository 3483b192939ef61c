// Package apppage runs the demo with a browser in every region and holds
// the browser SDK's promise through its scenarios: the customer's page
// stays whole whatever contentsvc does, and the app-page check says how
// its in-app content was served.
package apppage

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nines-sre/nines/configs"
	"github.com/nines-sre/nines/e2e/internal/harness"
	"github.com/nines-sre/nines/internal/chrometest"
	"github.com/nines-sre/nines/internal/testwait"
	"github.com/nines-sre/nines/model"
)

func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }

// demoWithBrowser is the demo's configuration with its browser check, run
// every 10 s (30 s in the demo) so that each stage shows within seconds.
func demoWithBrowser(t *testing.T, dir string) string {
	t.Helper()
	s := string(configs.WithBrowser(configs.Demo))
	if !strings.Contains(s, "id: app-page") {
		t.Fatal("configs/demo.yaml has no browser marker")
	}
	s = strings.Replace(s, "interval: 30s", "interval: 10s", 1)
	path := filepath.Join(dir, "demo-browser.yaml")
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// latest is the newest app-page result of each region.
func latest(t *testing.T, ctl string) map[string]model.Result {
	t.Helper()
	var res struct{ Results []model.Result }
	if err := harness.GetJSON("http://"+ctl+"/api/v1/results?check=app-page&limit=50", &res); err != nil {
		t.Fatal(err)
	}
	out := map[string]model.Result{}
	for _, r := range res.Results {
		if _, ok := out[r.Region]; !ok {
			out[r.Region] = r
		}
	}
	return out
}

// everywhere waits until app-page is status in every region, the other
// checks staying as they were.
func everywhere(t *testing.T, ctl, status string, limit time.Duration) {
	t.Helper()
	harness.WaitFor(t, ctl, "app-page "+status+" in every region", limit, func(s *harness.Status) bool {
		v := s.Check("app-page")
		for _, r := range harness.Regions {
			if v.Regions[r].Status != status {
				return false
			}
		}
		return true
	})
}

func TestAppPageInEveryRegion(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	exe := chrometest.Path(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	ctl, cs := harness.FreeAddr(t), harness.FreeAddr(t)
	demo := harness.Start(t, dir, "demo", "demo", "--listen", ctl, "--contentsvc-listen", cs, "--data", data, "--config", demoWithBrowser(t, dir), "--browser", exe)
	defer func() {
		if t.Failed() {
			demo.Tail(t)
		}
	}()
	stage := func(name string) {
		t.Helper()
		if out, err := exec.Command(harness.Binary, "demo", "--scenario", name, "--data", data, "--for", "0").CombinedOutput(); err != nil {
			t.Fatalf("scenario %s: %v %s", name, err, out)
		}
	}
	// degradedBy stages a scenario and holds app-page degraded in every
	// region, its newest result with the SDK at level, no JavaScript error
	// on the page, and also true; clear undoes it.
	degradedBy := func(name, level string, also func(model.Result) bool) {
		t.Helper()
		stage(name)
		everywhere(t, ctl, "degraded", 2*time.Minute)
		for region, r := range latest(t, ctl) {
			if b := r.Browser; b == nil || b.Values["level"] != level || len(b.JSErrors) > 0 || !also(r) {
				raw, _ := json.Marshal(r)
				t.Fatalf("%s, %s: %s", region, name, raw)
			}
		}
	}
	clear := func() {
		t.Helper()
		stage("clear")
		everywhere(t, ctl, "up", 2*time.Minute)
	}
	everywhere(t, ctl, "up", 3*time.Minute)
	for region, r := range latest(t, ctl) {
		b := r.Browser
		if b == nil || b.Values["level"] != "fresh" || b.Values["contained"] != "0" || b.TTFBMS <= 0 || b.LCPMS <= 0 || len(b.JSErrors) > 0 {
			t.Fatalf("%s, steady: %+v", region, b)
		}
	}

	// Content the SDK cannot render: its boundary holds it, the host page
	// stays whole, the error is reported, and the check says degraded;
	// the CDN serves what was published, so its checks stay up and
	// nothing pages.
	brokenAt := time.Now()
	degradedBy("sdk-broken", "fresh", func(r model.Result) bool {
		return r.Browser.Values["contained"] == "1" && strings.Contains(r.Message, `browser.value.contained == "0": saw "1"`)
	})
	testwait.Eventually(t, 30*time.Second, "the SDK's report of the broken component", func() error {
		var errs struct {
			Errors []struct{ Where, Message string }
		}
		if err := harness.GetJSON("http://"+cs+"/admin/errors", &errs); err != nil {
			return err
		}
		for _, e := range errs.Errors {
			if e.Where == "component broken-promo" && strings.Contains(e.Message, `unknown block type "countdown"`) {
				return nil
			}
		}
		return fmt.Errorf("reported %+v", errs.Errors)
	})
	var st harness.Status
	if err := harness.GetJSON("http://"+ctl+"/api/v1/status", &st); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"cdn-manifest", "cdn-welcome-v1", "segments-api"} {
		if v := st.Check(id); v.Status != "up" {
			t.Errorf("sdk-broken: %s is %s", id, v.Status)
		}
	}
	if n := harness.PagesSince(t, ctl, brokenAt); n != 0 {
		t.Errorf("sdk-broken paged %d times", n)
	}
	clear()

	// Segments slow (2.5 s): the SDK gives up after 300 ms and, in a
	// browser context that has seen nothing before, falls back to the
	// everyone segment.
	anything := func(model.Result) bool { return true }
	degradedBy("segments-slow", "default", anything)
	clear()

	// The CDN down: the SDK (served by it) does not load, the slot shows
	// nothing, the host page is whole and raises no error.
	degradedBy("cdn-outage", "empty", anything)
	clear()
}
