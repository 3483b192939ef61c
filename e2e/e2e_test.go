// Package e2e runs the real nines binary: contentsvc, a controller and seven
// regional probes as separate processes on loopback, and stages the
// incidents an SRE cares about.
package e2e

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nines-sre/nines/alerting/pagerdutytest"
	"github.com/nines-sre/nines/internal/loopback"
	"github.com/nines-sre/nines/internal/testwait"
)

var binary string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "nines-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "nines")
	cmd := exec.Command("go", "build", "-o", binary, "../cmd/nines")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build nines:", err)
		return 1
	}
	return m.Run()
}

var regions = []string{"ca-central", "us-ohio", "us-oregon", "ap-sydney", "ap-tokyo", "eu-frankfurt", "eu-london"}

const interval = 2 * time.Second

// freeAddr is a loopback address for a process to listen on
// (loopback.FreeAddr).
func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := loopback.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// proc is one running nines process.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
}

func start(t *testing.T, dir, name string, args ...string) *proc {
	t.Helper()
	return startWith(t, dir, name, nil, args...)
}

// startWith starts the binary with env added to the environment.
func startWith(t *testing.T, dir, name string, env []string, args ...string) *proc {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	f.Close()
	p := &proc{name: name, cmd: cmd, log: logPath}
	t.Cleanup(func() { p.stop(syscall.SIGKILL) })
	return p
}

func (p *proc) stop(sig syscall.Signal) {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

func (p *proc) tail(t *testing.T) {
	b, _ := os.ReadFile(p.log)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	t.Logf("last lines of %s:\n%s", p.name, strings.Join(lines, "\n"))
}

type regionView struct {
	Status       string     `json:"status"`
	Healthy      bool       `json:"healthy"`
	LastResultAt *time.Time `json:"last_result_at"`
}

type checkView struct {
	ID      string                `json:"id"`
	Status  string                `json:"status"`
	Regions map[string]regionView `json:"regions"`
}

type status struct {
	Components []struct {
		Checks []checkView `json:"checks"`
	} `json:"components"`
	Probes []struct {
		Region     string `json:"region"`
		ProbeID    string `json:"probe_id"`
		Healthy    bool   `json:"healthy"`
		SpoolDepth int    `json:"spool_depth"`
	} `json:"probes"`
	Regions []struct {
		ID      string `json:"id"`
		Healthy bool   `json:"healthy"`
	} `json:"regions"`
}

func (s *status) check(id string) checkView {
	for _, c := range s.Components {
		for _, ch := range c.Checks {
			if ch.ID == id {
				return ch
			}
		}
	}
	return checkView{}
}

func getJSON(url string, v any) error { return getJSONWith(http.DefaultClient, url, v) }

// getJSONWith is getJSON through client.
func getJSONWith(client *http.Client, url string, v any) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// answering waits until url answers; when it never does, the end of p's
// log says why.
func answering(t *testing.T, url string, p *proc) {
	t.Helper()
	t.Cleanup(func() {
		if t.Failed() {
			p.tail(t)
		}
	})
	testwait.Eventually(t, 20*time.Second, url+" answering", func() error {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
		}
		return err
	})
}

// metric reads the value of one series (name and labels as exposed) from
// the /metrics at url; 0 when it is absent.
func metric(t *testing.T, client *http.Client, url, series string) float64 {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", series, err)
			}
			return n
		}
	}
	return 0
}

// waitFor polls the status API until cond holds.
func waitFor(t *testing.T, ctl, what string, limit time.Duration, cond func(*status) bool) *status {
	t.Helper()
	return waitWith(t, func(v any) error { return getJSON("http://"+ctl+"/api/v1/status", v) }, what, limit, cond)
}

// waitWith is waitFor with the status read by get (through a client in a
// network namespace, say).
func waitWith(t *testing.T, get func(v any) error, what string, limit time.Duration, cond func(*status) bool) *status {
	t.Helper()
	var last status
	testwait.Eventually(t, limit, what, func() error {
		var s status
		if err := get(&s); err != nil {
			return err
		}
		last = s
		if cond(&s) {
			return nil
		}
		b, _ := json.MarshalIndent(last, "", " ")
		return fmt.Errorf("last status:\n%s", b)
	})
	return &last
}

func allUp(s *status, checks []string, want []string) bool {
	for _, id := range checks {
		c := s.check(id)
		if c.Status != "up" {
			return false
		}
		for _, r := range want {
			if c.Regions[r].Status != "up" {
				return false
			}
		}
	}
	return true
}

func post(t *testing.T, url, body string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if body == "" {
		req.Method = http.MethodDelete
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %d", req.Method, url, resp.StatusCode)
	}
}

// configHead is the start of the end-to-end configurations: the seven
// regions (%s), their tokens (%s), and the segments check against
// contentsvc (%[3]s).
const configHead = `
regions:
%s
probes:
  heartbeat_interval: 1s
  missed_heartbeats: 3
  tokens:
%s
defaults:
  interval: 2s
  timeout: 1s
quorum: 2
components:
  - id: segments
    checks:
      - id: segments-api
        kind: http
        http: {url: "http://%[3]s/v1/segments?user_id=e2e"}
`

const configTmpl = configHead + `        assert: ["status == 200", "body.json.segments.len > 0"]
  - id: cdn
    checks:
      - id: cdn-manifest
        kind: http
        http: {url: "http://%[3]s/cdn/manifests/everyone.json"}
        assert: ["status == 200", "header.etag matches \".+\""]
slos:
  - {id: segments, checks: [segments-api], target: 99.9, window: 1h}
alerting:
  notifiers:
    - {id: pd, pagerduty: {routing_key: E2EROUTINGKEYE2EROUTINGKEYE2E001, events_url: %[4]q}}
  policies:
    - {id: page, levels: [{targets: [pd]}]}
  rules:
    - {id: down, kind: check_down, policy: page, resolve_after: 4s}
`

func token(region string) string { return "e2e-token-for-" + region }

// layOutRegions writes every region's token to dir/tokens and returns the
// regions and probes.tokens entries of a configuration that uses them.
func layOutRegions(t *testing.T, dir string) (regionsYAML, tokensYAML string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "tokens"), 0o700); err != nil {
		t.Fatal(err)
	}
	var rs, toks strings.Builder
	for _, r := range regions {
		fmt.Fprintf(&rs, "  - id: %s\n", r)
		fmt.Fprintf(&toks, "    - {region: %s, token_file: tokens/%s}\n", r, r)
		if err := os.WriteFile(filepath.Join(dir, "tokens", r), []byte(token(r)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return rs.String(), toks.String()
}

// standardConfig writes configTmpl for contentsvc at csAddr and PagerDuty
// at pdURL to dir/nines.yaml, the regions' tokens beside it, and returns
// its path.
func standardConfig(t *testing.T, dir, csAddr, pdURL string) string {
	t.Helper()
	rs, toks := layOutRegions(t, dir)
	cfgPath := filepath.Join(dir, "nines.yaml")
	if err := os.WriteFile(cfgPath, fmt.Appendf(nil, configTmpl, rs, toks, csAddr, pdURL), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfgPath
}

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
	out, err := exec.Command(binary, "validate", cfgPath).CombinedOutput()
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
			controller.tail(t)
			probes["eu-frankfurt"].tail(t)
		}
	}()

	waitFor(t, ctl, "every check up in seven regions", 30*time.Second, func(s *status) bool { return allUp(s, checks, regions) })

	t.Run("FrankfurtFaultIsDegradedNeverDown", func(t *testing.T) {
		post(t, "http://"+csAddr+"/admin/faults", `{"target":"segments","region":"eu-frankfurt","error_status":503}`)
		waitFor(t, ctl, "segments-api degraded", 15*time.Second, func(s *status) bool {
			c := s.check("segments-api")
			return c.Status == "degraded" && c.Regions["eu-frankfurt"].Status == "down"
		})
		testwait.Throughout(t, 3*interval, "a fault in eu-frankfurt alone touching nothing else", func() error {
			var s status
			if err := getJSON("http://"+ctl+"/api/v1/status", &s); err != nil {
				return err
			}
			if c := s.check("segments-api"); c.Status == "down" {
				return fmt.Errorf("segments-api down: %+v", c)
			}
			if c := s.check("cdn-manifest"); c.Status != "up" {
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
		s := waitFor(t, ctl, "segments-api down", 15*time.Second, func(s *status) bool { return s.check("segments-api").Status == "down" })
		failing := 0
		for _, r := range s.check("segments-api").Regions {
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
		probes["us-ohio"].stop(syscall.SIGTERM)
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
				c := s.check(id)
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
		controller.stop(syscall.SIGKILL)
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
