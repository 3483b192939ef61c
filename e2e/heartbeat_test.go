package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nines-sre/nines/alerting/pagerdutytest"
	"github.com/nines-sre/nines/internal/testwait"
)

// TestHeartbeatCheckWithTheBinary runs the controller binary with a
// heartbeat check: pinged, it is up; a period plus grace without a ping,
// it is down and pages; the next ping brings it back and resolves the
// page; /fail is down again, with the job's words.
func TestHeartbeatCheckWithTheBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	t.Parallel()
	pd := pagerdutytest.New()
	defer pd.Close()
	dir := t.TempDir()
	rs, toks := layOutRegions(t, dir)
	const key = "e2e-heartbeat-key-0001"
	cfg := fmt.Sprintf(`regions:
%s
probes:
  tokens:
%s
components:
  - id: jobs
    checks:
      - {id: rebuild, name: Segment rebuild, kind: heartbeat, heartbeat: {period: 3s, grace: 2s, key: %s}}
alerting:
  notifiers:
    - {id: pd, pagerduty: {routing_key: E2EHEARTBEATE2EHEARTBEATE2EHEA01, events_url: %q}}
  policies:
    - {id: page, levels: [{targets: [pd]}]}
  rules:
    - {id: down, kind: check_down, policy: page, resolve_after: 0s}
`, rs, toks, key, pd.URL)
	cfgPath := filepath.Join(dir, "nines.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ctl := freeAddr(t)
	controller := start(t, dir, "controller", "controller", "--config", cfgPath, "--data", filepath.Join(dir, "ctl"), "--listen", ctl)
	answering(t, "http://"+ctl+"/healthz", controller)
	ping := func(suffix, body string) int {
		t.Helper()
		resp, err := http.Post("http://"+ctl+"/ping/rebuild/"+key+suffix, "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	statusIs := func(what, want string, limit time.Duration) {
		t.Helper()
		waitFor(t, ctl, what, limit, func(s *status) bool { return s.Check("rebuild").Status == want })
	}
	if code := ping("", "rebuilt 42 segments"); code != 200 {
		t.Fatalf("ping: %d", code)
	}
	statusIs("rebuild up after a ping", "up", 5*time.Second)

	missed := time.Now()
	statusIs("rebuild down after period and grace", "down", 15*time.Second)
	if late := time.Since(missed); late < 4*time.Second {
		t.Errorf("down %s after the last ping, before the period (3s) and grace (2s) passed", late.Round(time.Millisecond))
	}
	testwait.Eventually(t, 15*time.Second, "a page for the missed run", func() error {
		if inc := pd.Incidents(); len(inc) != 1 || inc[0].Status != "triggered" || !strings.Contains(inc[0].Summary, "no ping came by") {
			return fmt.Errorf("incidents %+v", inc)
		}
		return nil
	})

	ping("/start", "")
	time.Sleep(300 * time.Millisecond) // the run the next ping measures
	ping("", "")
	statusIs("rebuild up again", "up", 5*time.Second)
	testwait.Eventually(t, 15*time.Second, "the page resolved", func() error {
		if inc := pd.Incidents(); len(inc) != 1 || inc[0].Status != "resolved" {
			return fmt.Errorf("incidents %+v", inc)
		}
		return nil
	})
	var res struct {
		Results []struct {
			DurationUS int64  `json:"duration_us"`
			Region     string `json:"region"`
		} `json:"results"`
	}
	if err := getJSON("http://"+ctl+"/api/v1/results?check=rebuild&limit=1", &res); err != nil || len(res.Results) != 1 ||
		res.Results[0].DurationUS < 300_000 || res.Results[0].Region != "push" {
		t.Fatalf("the measured run: %+v %v", res, err)
	}

	ping("/fail", "exit status 3: disk full")
	statusIs("rebuild down on /fail", "down", 5*time.Second)
	if v := pd.Violations(); len(v) > 0 {
		t.Fatal(v)
	}
}
