package e2e

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nines-sre/nines/e2e/internal/harness"
	"github.com/nines-sre/nines/internal/testwait"
)

func TestValidateReportsEveryErrorAndExitsNonZero(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte(`regions:
  - id: eu-london
probes:
  tokens:
    - {region: eu-paris, token: a-long-enough-token-1}
components:
  - id: api
    checks:
      - id: api-health
        kind: http
        http: {url: "not a url"}
        assert: ["status =="]
`), 0o644)
	out, err := exec.Command(harness.Binary, "validate", bad).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v\n%s", err, out)
	}
	for _, want := range []string{
		bad + `:5: probes.tokens[0].region: unknown region "eu-paris"`,
		bad + `:11: components[0].checks[0].http.url: "not a url" is not an absolute http or https URL`,
		bad + `:12: components[0].checks[0].assert[0]: column 10: expected a value after ==`,
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	out, err = exec.Command(harness.Binary, "validate", "../configs/demo.yaml").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ok (7 regions") || strings.Contains(string(out), "warning") {
		t.Fatalf("demo.yaml: %v %s", err, out)
	}
	// What loads but pages for a ticket: valid, with a warning.
	paging := filepath.Join(dir, "paging.yaml")
	os.WriteFile(paging, []byte(`regions: [{id: eu-london}]
quorum: 1
probes:
  tokens: [{region: eu-london, token: a-long-enough-token-1}]
components:
  - id: api
    checks:
      - {id: cert, kind: tls, tls: {address: "127.0.0.1:443"}, assert: ["cert.expires_in > 14d"]}
alerting:
  notifiers: [{id: pd, pagerduty: {routing_key: R0UTINGKEYR0UTINGKEYR0UTINGKEY01}}]
  policies: [{id: page, levels: [{delay: 0s, targets: [pd]}]}]
  rules: [{id: down, kind: check_down, policy: page}]
`), 0o644)
	out, err = exec.Command(harness.Binary, "validate", paging).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "warning: "+paging+":8: components[0].checks[0].assert[0]") {
		t.Fatalf("an expiry assertion on a paging check: %v\n%s", err, out)
	}
}

// nines sla on a directory without a database fails, says where it
// looked, and creates nothing: it never reports an empty database as every
// SLO met.
func TestSLAReportNeedsADatabase(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "nothing-here")
	out, err := exec.Command(harness.Binary, "sla", "--config", "../configs/demo.yaml", "--data", data).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "no controller database in "+data) {
		t.Fatalf("exit %v:\n%s", err, out)
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Fatalf("the report made %s: %v", data, err)
	}
}

func TestEverySubcommandHasHelp(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	for _, sub := range []string{"controller", "probe", "contentsvc", "demo", "validate"} {
		out, err := exec.Command(harness.Binary, sub, "--help").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Usage:") {
			t.Errorf("%s --help: %v\n%s", sub, err, out)
		}
	}
	out, err := exec.Command(harness.Binary, "--version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "nines version ") {
		t.Errorf("--version: %v %s", err, out)
	}
	out, err = exec.Command(harness.Binary, "probe", "--region", "eu-london").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--token-file is required") {
		t.Errorf("probe without a token: %v %s", err, out)
	}
}

// TestDemoAllUpInSevenRegions is what a new user sees: `nines demo` brings
// every demo check up in all seven regions within its first interval,
// without a warning; from another directory, `nines demo --scenario` and
// `nines contentsvc fault` find it without being told where; Ctrl-C stops
// it cleanly, each probe deregistered.
func TestDemoAllUpInSevenRegions(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	t.Parallel()
	dir := t.TempDir()
	ctl := freeAddr(t)
	p := start(t, dir, "demo", "demo", "--listen", ctl, "--data", filepath.Join(dir, "data"), "--browser", "none")
	defer func() {
		if t.Failed() {
			p.Tail(t)
		}
	}()
	s := waitFor(t, ctl, "every demo check up in seven regions", 90*time.Second, func(s *status) bool {
		var ids []string
		for _, c := range s.Components {
			for _, ch := range c.Checks {
				ids = append(ids, ch.ID)
			}
		}
		return len(ids) == 4 && allUp(s, ids, regions)
	})
	if len(s.Probes) != 7 {
		t.Fatalf("%d probes, want 7", len(s.Probes))
	}
	elsewhere := t.TempDir()
	for _, args := range [][]string{{"demo", "--scenario", "segments-slow", "--for", "1m"}, {"contentsvc", "fault", "--clear"},
		{"demo", "--scenario", "job-stalled"}, {"demo", "--scenario", "sdk-broken"}, {"demo", "--scenario", "clear"}} {
		cmd := exec.Command(harness.Binary, args...)
		cmd.Dir, cmd.Env = elsewhere, append(os.Environ(), "XDG_CACHE_HOME="+dir)
		out, err := cmd.CombinedOutput()
		switch {
		case args[len(args)-1] == "job-stalled":
			if err == nil || !strings.Contains(string(out), "nines demo --jobs") {
				t.Errorf("job-stalled on a demo without its pipeline: %v %s", err, out)
			}
		case args[len(args)-1] == "sdk-broken":
			if err == nil || !strings.Contains(string(out), "without a browser") {
				t.Errorf("sdk-broken on a demo without a browser: %v %s", err, out)
			}
		case err != nil:
			t.Errorf("%v from another directory: %v %s", args, err, out)
		}
	}
	p.Stop(syscall.SIGINT)
	if p.Cmd.ProcessState.ExitCode() != 0 {
		t.Fatalf("demo exited %d on Ctrl-C", p.Cmd.ProcessState.ExitCode())
	}
	f, _ := os.Open(p.Log)
	defer f.Close()
	sc := bufio.NewScanner(f)
	seen, deregistered := false, 0
	for sc.Scan() {
		line := sc.Text()
		seen = seen || strings.Contains(line, "status API")
		if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
			t.Errorf("the demo warned: %s", line)
		}
		if strings.Contains(line, `msg="probe deregistered"`) {
			deregistered++
		}
	}
	if !seen {
		t.Fatal("the demo did not print its URLs")
	}
	if deregistered != 7 {
		t.Errorf("%d probes deregistered on Ctrl-C, want 7", deregistered)
	}
}

// TestSIGHUPReloadsTheConfiguration: the controller takes a changed file on
// SIGHUP, and refuses a broken one while it keeps running.
func TestSIGHUPReloadsTheConfiguration(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	t.Parallel()
	dir := t.TempDir()
	cfg := "regions: [{id: eu-london}]\nquorum: 1\nprobes:\n  tokens: [{region: eu-london, token: reload-test-token-01}]\ncomponents:\n  - id: api\n    checks:\n      - {id: a, kind: http, http: {url: \"http://127.0.0.1:9/\"}}\n"
	path := filepath.Join(dir, "nines.yaml")
	os.WriteFile(path, []byte(cfg), 0o644)
	ctl := freeAddr(t)
	p := start(t, dir, "controller", "controller", "--config", path, "--data", filepath.Join(dir, "data"), "--listen", ctl, "--config-check-every", "1h")
	waitFor(t, ctl, "controller up", 10*time.Second, func(s *status) bool { return len(s.Components) == 1 })
	os.WriteFile(path, []byte(cfg+"      - {id: b, kind: http, http: {url: \"http://127.0.0.1:9/b\"}}\n"), 0o644)
	p.Cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, ctl, "check b after SIGHUP", 10*time.Second, func(s *status) bool { return len(s.Components[0].Checks) == 2 })
	os.WriteFile(path, []byte("regions: [\n"), 0o644)
	p.Cmd.Process.Signal(syscall.SIGHUP)
	testwait.Eventually(t, 10*time.Second, "the broken file's reload error naming the file", func() error {
		var body struct {
			Config struct {
				Error string `json:"last_reload_error"`
			} `json:"config"`
		}
		if err := getJSON("http://"+ctl+"/api/v1/status", &body); err != nil {
			return err
		}
		if !strings.Contains(body.Config.Error, path) {
			return fmt.Errorf("reload error %q", body.Config.Error)
		}
		return nil
	})
	waitFor(t, ctl, "still serving both checks", 5*time.Second, func(s *status) bool { return len(s.Components[0].Checks) == 2 })
}

func TestContentsvcFaultCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	dir := t.TempDir()
	addr := freeAddr(t)
	cs := start(t, dir, "contentsvc", "contentsvc", "--listen", addr, "--data", filepath.Join(dir, "cs"))
	url := "http://" + addr
	answering(t, url+"/healthz", cs)
	out, err := exec.Command(harness.Binary, "contentsvc", "fault", "--url", url, "--target", "segments", "--status", "503", "--for", "1m").CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"error_status":503`) || !strings.Contains(string(out), `"until"`) {
		t.Fatalf("fault: %v %s", err, out)
	}
	if resp, _ := http.Get(url + "/v1/segments?user_id=a"); resp.StatusCode != 503 {
		t.Fatalf("with the fault: %d", resp.StatusCode)
	}
	if out, err := exec.Command(harness.Binary, "contentsvc", "fault", "--url", url, "--target", "dns").CombinedOutput(); err == nil ||
		!strings.Contains(string(out), `target: \"dns\" is not segments, cdn, all or pipeline`) {
		t.Fatalf("bad fault: %v %s", err, out)
	}
	if out, err := exec.Command(harness.Binary, "contentsvc", "fault", "--url", url, "--clear").CombinedOutput(); err != nil {
		t.Fatalf("clear: %v %s", err, out)
	}
	if resp, _ := http.Get(url + "/v1/segments?user_id=a"); resp.StatusCode != 200 {
		t.Fatalf("after clearing: %d", resp.StatusCode)
	}
}
