// Package harness runs the real nines binary for the end-to-end tests:
// it builds it once per test binary, starts its processes on loopback,
// reads the status API and waits on it, and writes the configurations
// the tests share.
package harness

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nines-sre/nines/internal/loopback"
	"github.com/nines-sre/nines/internal/testwait"
)

// Binary is the nines binary Main built.
var Binary string

// Main builds the nines binary into a temporary directory, runs the tests
// and removes it; with -short it builds nothing (the tests skip). Call it
// from TestMain: os.Exit(harness.Main(m)).
func Main(m *testing.M) int {
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
	Binary = filepath.Join(dir, "nines")
	cmd := exec.Command("go", "build", "-o", Binary, "github.com/nines-sre/nines/cmd/nines")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build nines:", err)
		return 1
	}
	return m.Run()
}

var Regions = []string{"ca-central", "us-ohio", "us-oregon", "ap-sydney", "ap-tokyo", "eu-frankfurt", "eu-london"}

const Interval = 2 * time.Second

// FreeAddr is a loopback address for a process to listen on
// (loopback.FreeAddr).
func FreeAddr(t *testing.T) string {
	t.Helper()
	addr, err := loopback.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// proc is one running nines process.
type Proc struct {
	Name string
	Cmd  *exec.Cmd
	Log  string
}

func Start(t *testing.T, dir, name string, args ...string) *Proc {
	t.Helper()
	return StartWith(t, dir, name, nil, args...)
}

// StartWith starts the binary with env added to the environment.
func StartWith(t *testing.T, dir, name string, env []string, args ...string) *Proc {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(Binary, args...)
	// What a binary keeps in the user's cache directory (where a demo
	// notes its data directory) stays in the test's.
	cmd.Env = append(append(os.Environ(), "XDG_CACHE_HOME="+dir), env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	f.Close()
	p := &Proc{Name: name, Cmd: cmd, Log: logPath}
	t.Cleanup(func() { p.Stop(syscall.SIGKILL) })
	return p
}

func (p *Proc) Stop(sig syscall.Signal) {
	if p.Cmd.ProcessState != nil {
		return
	}
	_ = p.Cmd.Process.Signal(sig)
	done := make(chan struct{})
	go func() { _ = p.Cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = p.Cmd.Process.Kill()
		<-done
	}
}

func (p *Proc) Tail(t *testing.T) {
	b, _ := os.ReadFile(p.Log)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	t.Logf("last lines of %s:\n%s", p.Name, strings.Join(lines, "\n"))
}

type RegionView struct {
	Status       string     `json:"status"`
	Healthy      bool       `json:"healthy"`
	LastResultAt *time.Time `json:"last_result_at"`
}

type CheckView struct {
	ID      string                `json:"id"`
	Status  string                `json:"status"`
	Regions map[string]RegionView `json:"regions"`
}

type Status struct {
	Components []struct {
		Checks []CheckView `json:"checks"`
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

func (s *Status) Check(id string) CheckView {
	for _, c := range s.Components {
		for _, ch := range c.Checks {
			if ch.ID == id {
				return ch
			}
		}
	}
	return CheckView{}
}

func GetJSON(url string, v any) error { return GetJSONWith(http.DefaultClient, url, v) }

// GetJSONWith is GetJSON through client.
func GetJSONWith(client *http.Client, url string, v any) error {
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

// Answering waits until url answers; when it never does, the end of p's
// log says why.
func Answering(t *testing.T, url string, p *Proc) {
	t.Helper()
	t.Cleanup(func() {
		if t.Failed() {
			p.Tail(t)
		}
	})
	testwait.Eventually(t, 20*time.Second, url+" Answering", func() error {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
		}
		return err
	})
}

// metric reads the value of one series (name and labels as exposed) from
// the /metrics at url; 0 when it is absent.
func Metric(t *testing.T, client *http.Client, url, series string) float64 {
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

// WaitFor polls the status API until cond holds.
func WaitFor(t *testing.T, ctl, what string, limit time.Duration, cond func(*Status) bool) *Status {
	t.Helper()
	return WaitWith(t, func(v any) error { return GetJSON("http://"+ctl+"/api/v1/status", v) }, what, limit, cond)
}

// WaitWith is WaitFor with the status read by get (through a client in a
// network namespace, say).
func WaitWith(t *testing.T, get func(v any) error, what string, limit time.Duration, cond func(*Status) bool) *Status {
	t.Helper()
	var last Status
	testwait.Eventually(t, limit, what, func() error {
		var s Status
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

func AllUp(s *Status, checks []string, want []string) bool {
	for _, id := range checks {
		c := s.Check(id)
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

func Post(t *testing.T, url, body string) {
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

// ConfigHead is the start of the end-to-end configurations: the seven
// regions (%s), their tokens (%s), and the segments check against
// contentsvc (%[3]s).
const ConfigHead = `
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

const ConfigTmpl = ConfigHead + `        assert: ["status == 200", "body.json.segments.len > 0"]
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

func Token(region string) string { return "e2e-token-for-" + region }

// LayOutRegions writes every region's token to dir/tokens and returns the
// regions and probes.tokens entries of a configuration that uses them.
func LayOutRegions(t *testing.T, dir string) (regionsYAML, tokensYAML string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "tokens"), 0o700); err != nil {
		t.Fatal(err)
	}
	var rs, toks strings.Builder
	for _, r := range Regions {
		fmt.Fprintf(&rs, "  - id: %s\n", r)
		fmt.Fprintf(&toks, "    - {region: %s, token_file: tokens/%s}\n", r, r)
		if err := os.WriteFile(filepath.Join(dir, "tokens", r), []byte(Token(r)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return rs.String(), toks.String()
}

// StandardConfig writes ConfigTmpl for contentsvc at csAddr and PagerDuty
// at pdURL to dir/nines.yaml, the regions' tokens beside it, and returns
// its path.
func StandardConfig(t *testing.T, dir, csAddr, pdURL string) string {
	t.Helper()
	rs, toks := LayOutRegions(t, dir)
	cfgPath := filepath.Join(dir, "nines.yaml")
	if err := os.WriteFile(cfgPath, fmt.Appendf(nil, ConfigTmpl, rs, toks, csAddr, pdURL), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfgPath
}

// SLAReport is what the tests read of `nines sla --format json`.
type SLAReport struct {
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

// SLAOf runs `nines sla` on the data at data over [from, to).
func SLAOf(cfgPath, data string, from, to time.Time) (*SLAReport, error) {
	out, err := sla(cfgPath, data, "json", from, to)
	if err != nil {
		return nil, err
	}
	var r SLAReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		return nil, fmt.Errorf("nines sla: %w: %s", err, out)
	}
	return &r, nil
}

// SLATable is the table `nines sla` prints of the data at data over
// [from, to).
func SLATable(cfgPath, data string, from, to time.Time) (string, error) {
	return sla(cfgPath, data, "table", from, to)
}

func sla(cfgPath, data, format string, from, to time.Time) (string, error) {
	out, err := exec.Command(Binary, "sla", "--config", cfgPath, "--data", data, "--format", format,
		"--from", from.UTC().Format(time.RFC3339), "--to", to.UTC().Format(time.RFC3339)).Output()
	if err != nil {
		var stderr []byte
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			stderr = ee.Stderr
		}
		return "", fmt.Errorf("nines sla: %w: %s", err, stderr)
	}
	return string(out), nil
}

// AlertsDoc is GET /api/v1/alerts, as far as the tests read it.
type AlertsDoc struct {
	Alerts []struct {
		Key     string         `json:"key"`
		Rule    string         `json:"rule"`
		State   string         `json:"state"`
		Urgency string         `json:"urgency"`
		Group   string         `json:"group"`
		Summary string         `json:"summary"`
		Details map[string]any `json:"details"`
		Members []struct {
			Key   string `json:"key"`
			Class string `json:"class"`
		} `json:"members"`
	} `json:"alerts"`
}

// GetText returns the body of a 200 answer to GET url.
func GetText(url string) (string, error) { return GetTextWith(http.DefaultClient, url) }

// GetTextWith is GetText through client.
func GetTextWith(client *http.Client, url string) (string, error) {
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %d", url, resp.StatusCode)
	}
	return string(b), err
}

// SignIn signs user in to the SRE view at base (http://host:port) and
// returns a client that carries the session.
func SignIn(t *testing.T, base, user, password string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	page, err := GetTextWith(c, base+"/sre/login")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token on the sign-in page:\n%s", page)
	}
	resp, err := c.PostForm(base+"/sre/login", url.Values{"csrf": {m[1]}, "user": {user}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign in as %s: %s", user, resp.Status)
	}
	return c
}
