package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Scenario is a staged incident: the faults it injects and what to watch.
type Scenario struct {
	Name   string
	About  string
	Faults []map[string]any
	Watch  string
	// Needs is the part of the demo the scenario needs (the file demo.go's
	// mark leaves in its data directory): "jobs" or "browser".
	Needs string
}

// without says how to start the demo with each part a scenario may need.
var without = map[string]string{
	"jobs":    "without its publish pipeline; start it with `nines demo --jobs`",
	"browser": "without a browser; install Chromium (apt-get install chromium) or start it with `nines demo --browser PATH`",
}

// Scenarios are the incidents `nines demo --scenario` can stage.
var Scenarios = map[string]Scenario{
	"frankfurt-outage": {Name: "frankfurt-outage", About: "eu-frankfurt is cut off from contentsvc (every request from there fails)",
		Faults: []map[string]any{{"target": "all", "region": "eu-frankfurt", "outage": true}},
		Watch:  "every check turns degraded, never down: one region failing is below the quorum; no page; one ticket (regional:eu-frankfurt, through group:tickets) after 5 minutes"},
	"cdn-outage": {Name: "cdn-outage", About: "the CDN stops answering everywhere",
		Faults: []map[string]any{{"target": "cdn", "outage": true}},
		Watch:  "cdn-manifest and cdn-welcome-v1 go down: one page (group:page) and one public incident for both; content-flow turns degraded: the SDK serves the last content it saw; with a browser, app-page turns degraded: the host page stays whole, the SDK (served by the CDN) does not load, the slot shows nothing (level empty), no JavaScript error"},
	"segments-slow": {Name: "segments-slow", About: "the segments API answers in 2.5 s everywhere",
		Faults: []map[string]any{{"target": "segments", "latency_ms": 2500}},
		Watch:  "segments-api fails its `latency < 2s` assertion: one page (group:page), the latency SLO's burn joins it; content-flow is degraded (the SDK gives up after 300 ms and uses cached segments); with a browser, app-page turns degraded: a new visitor's SDK falls back to the everyone segment (level default), the host page stays whole"},
	"job-stalled": {Name: "job-stalled", About: "contentsvc's publish pipeline stalls: it stops running and reporting in (needs nines demo --jobs)",
		Faults: []map[string]any{{"target": "pipeline", "outage": true}}, Needs: "jobs",
		Watch: "publish-pipeline goes down 30 s after its last ping (period 20 s + grace 10 s) and pages (down:publish-pipeline); no probe sees it; it is up again at the next ping after the clear"},
	"sdk-broken": {Name: "sdk-broken", About: "contentsvc's CDN publishes to everyone a content item the browser SDK cannot render (a block type it does not know)",
		Faults: []map[string]any{{"target": "cdn", "broken_content": true}}, Needs: "browser",
		Watch: "app-page (with a browser) turns degraded: the SDK's boundary holds the broken item (data-content-contained 1), the rest renders, the error is reported to contentsvc (/admin/errors), no JavaScript error reaches the host page, which stays whole; nothing pages; the other checks stay up"},
	"region-users-failing": {Name: "region-users-failing", About: "contentsvc fails its real users in Germany (segments and CDN answer 503 to clients there); the probes, which reach it from data centres, are served",
		Faults: []map[string]any{{"target": "all", "country": "DE", "error_status": 503}},
		Watch:  "every check stays up; German users who came before render from their SDK's cache (good), first visits from Germany render nothing: the renders SLO counts them (about 4 % of all renders bad, against a 1 % budget) and, after 10 minutes of probes up while real users fail, nines raises a ticket (real-users:renders, rule kind disagreement) saying so; nothing pages"},
	"global-outage": {Name: "global-outage", About: "contentsvc is down for everyone",
		Faults: []map[string]any{{"target": "all", "outage": true}},
		Watch:  "segments-api and the two CDN checks go down within seconds; content-flow turns degraded (the SDK serves what it cached); one page (group:page) and one public incident for all of it, level 2 after 2 minutes unless acknowledged in /sre; the SLO burns join the page; after the clear the checks are up within seconds and the page resolves a minute later (resolve_after: 1m)"},
}

// ScenarioNames lists the scenarios.
func ScenarioNames() []string {
	var out []string
	for n := range Scenarios {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// DefaultDataDir is `nines demo`'s data directory unless --data says
// otherwise.
const DefaultDataDir = "nines-demo-data"

// pointerFile is where a running demo leaves the absolute path of its data
// directory, so that `nines demo --scenario` and `nines contentsvc fault`
// find it from any directory.
func pointerFile() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "nines", "demo-data"), nil
}

// remember leaves dataDir in the pointer file.
func remember(dataDir string) error {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return err
	}
	p, err := pointerFile()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		return err
	}
	return os.WriteFile(p, []byte(abs+"\n"), 0o644)
}

// Locate returns the data directory of the running demo: dataDir when it
// was given (or holds a demo), else the one the newest demo left in the
// pointer file.
func Locate(dataDir string, given bool) string {
	if given || exists(filepath.Join(dataDir, "contentsvc.url")) {
		return dataDir
	}
	p, err := pointerFile()
	if err != nil {
		return dataDir
	}
	b, err := os.ReadFile(p)
	if dir := strings.TrimSpace(string(b)); err == nil && exists(filepath.Join(dir, "contentsvc.url")) {
		return dir
	}
	return dataDir
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// ContentsvcURL is the base URL of the running demo's contentsvc.
func ContentsvcURL(dataDir string) (string, error) {
	cs, err := os.ReadFile(filepath.Join(dataDir, "contentsvc.url"))
	if err != nil {
		return "", fmt.Errorf("no running demo found in %s (start `nines demo` first; give --data when it runs with its own): %w", dataDir, err)
	}
	return strings.TrimSpace(string(cs)), nil
}

// Stage injects a scenario's faults into the demo running on dataDir, for
// duration (zero: until cleared with the scenario "clear").
func Stage(ctx context.Context, name, dataDir string, duration time.Duration, out io.Writer) error {
	base, err := ContentsvcURL(dataDir)
	if err != nil {
		return err
	}
	ctl, _ := os.ReadFile(filepath.Join(dataDir, "controller.url"))
	client := &http.Client{Timeout: 10 * time.Second}
	if name == "clear" {
		req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, base+"/admin/faults", nil)
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("clear faults: %w", err)
		}
		resp.Body.Close()
		fmt.Fprintln(out, "every fault cleared; the checks are up within seconds (a recovery round), their alerts resolve after resolve_after")
		return nil
	}
	sc, ok := Scenarios[name]
	if !ok {
		return fmt.Errorf("--scenario: %q is not one of %s, clear", name, strings.Join(ScenarioNames(), ", "))
	}
	if sc.Needs != "" && !exists(filepath.Join(dataDir, sc.Needs)) {
		return fmt.Errorf("--scenario %s: the demo in %s runs %s", name, dataDir, without[sc.Needs])
	}
	for _, f := range sc.Faults {
		if duration > 0 {
			f["duration_s"] = int(duration.Seconds())
		}
		b, _ := json.Marshal(f)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/admin/faults", bytes.NewReader(b))
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("stage %s: %w", name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			return fmt.Errorf("stage %s: contentsvc answered %d: %s", name, resp.StatusCode, body)
		}
	}
	c := strings.TrimSpace(string(ctl))
	fmt.Fprintf(out, "staged %s: %s", name, sc.About)
	if duration > 0 {
		fmt.Fprintf(out, " (for %s)", duration)
	}
	fmt.Fprintf(out, "\nwatch: %s\n  status page %s/\n  status API  %s/api/v1/status\n  alerts      %s/api/v1/alerts\n  sent        %s/admin/notifications\nundo: nines demo --scenario clear\n",
		sc.Watch, c, c, c, base)
	return nil
}
