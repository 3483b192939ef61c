// Command ttd measures time to detect with the real binaries: a controller
// and seven regional probes (`nines controller`, `nines probe`) on
// loopback check one HTTP target every minute; the target is stopped at a
// random offset within the minute, and ttd reports how long until the
// status API says `down` and until the first PagerDuty trigger reaches a
// fake Events API, with confirmation on demand and without.
//
//	go run ./bench/ttd -trials 10
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nines-sre/nines/alerting/pagerdutytest"
	"github.com/nines-sre/nines/internal/loopback"
)

var regions = []string{"ca-central", "us-ohio", "us-oregon", "ap-sydney", "ap-tokyo", "eu-frankfurt", "eu-london"}

func main() {
	trials := flag.Int("trials", 10, "outages staged per mode")
	interval := flag.Duration("interval", time.Minute, "check interval")
	modes := flag.String("modes", "on,off", "confirmation modes to measure, in order: on, off")
	binary := flag.String("binary", "", "a nines binary (default: build ./cmd/nines)")
	flag.Parse()
	if err := run(*trials, *interval, strings.Split(*modes, ","), *binary); err != nil {
		fmt.Fprintln(os.Stderr, "ttd:", err)
		os.Exit(1)
	}
}

func run(trials int, interval time.Duration, modes []string, binary string) error {
	if trials < 1 || trials > 100 {
		return fmt.Errorf("-trials %d: want 1 to 100", trials)
	}
	if interval < 5*time.Second || interval > 5*time.Minute {
		return fmt.Errorf("-interval %s: want 5s to 5m", interval)
	}
	dir, err := os.MkdirTemp("", "nines-ttd")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if binary == "" {
		binary = filepath.Join(dir, "nines")
		cmd := exec.Command("go", "build", "-o", binary, "./cmd/nines")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("build nines: %w", err)
		}
	}
	var rows []row
	for _, mode := range modes {
		if mode != "on" && mode != "off" {
			return fmt.Errorf("-modes: %q is neither on nor off", mode)
		}
		r, err := measure(filepath.Join(dir, mode), binary, mode == "on", trials, interval)
		if err != nil {
			return fmt.Errorf("confirmation %s: %w", mode, err)
		}
		rows = append(rows, r)
	}
	fmt.Printf("\nchecks every %s, 7 probes, quorum 2, %d outages per mode (target stopped at a random offset within the interval)\n\n", interval, trials)
	fmt.Println("| confirmation | to `down` p50 | p90 | max | to PagerDuty trigger p50 | p90 | max | rounds | on-demand runs | scheduled runs | on-demand / scheduled |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		fmt.Printf("| %s | %s | %s | %s | %s | %s | %s | %d | %d | %d | %.2f %% |\n", r.mode,
			sec(pct(r.down, 50)), sec(pct(r.down, 90)), sec(pct(r.down, 100)),
			sec(pct(r.page, 50)), sec(pct(r.page, 90)), sec(pct(r.page, 100)),
			r.rounds, r.onDemand, r.scheduled, 100*float64(r.onDemand)/float64(max(r.scheduled, 1)))
	}
	return nil
}

// row is one mode's figures.
type row struct {
	mode                        string
	down, page                  []time.Duration
	rounds, onDemand, scheduled int
}

func sec(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }

// pct is the p-th percentile (nearest rank) of ds.
func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (p*len(s)+99)/100 - 1
	return s[max(i, 0)]
}

// target is the HTTP target, stopped (connections refused) and started
// again on the same address.
type target struct {
	addr string
	srv  *http.Server
}

func (t *target) start() error {
	var ln net.Listener
	var err error
	for range 50 {
		if ln, err = net.Listen("tcp", t.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("target: %w", err)
	}
	t.addr = ln.Addr().String()
	t.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) }),
		ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = t.srv.Serve(ln) }()
	return nil
}

func (t *target) stop() { _ = t.srv.Close() }

// measure runs the controller and probes in dir and stages trials outages.
func measure(dir, binary string, confirm bool, trials int, interval time.Duration) (row, error) {
	r := row{mode: "off"}
	if confirm {
		r.mode = "on"
	}
	if err := os.MkdirAll(filepath.Join(dir, "tokens"), 0o700); err != nil {
		return r, err
	}
	tg := &target{addr: "127.0.0.1:0"}
	if err := tg.start(); err != nil {
		return r, err
	}
	defer tg.stop()
	pd := pagerdutytest.New()
	defer pd.Close()
	ctl, err := loopback.FreeAddr()
	if err != nil {
		return r, err
	}
	var rs, toks strings.Builder
	for _, region := range regions {
		fmt.Fprintf(&rs, "  - id: %s\n", region)
		fmt.Fprintf(&toks, "    - {region: %s, token_file: tokens/%s}\n", region, region)
		if err := os.WriteFile(filepath.Join(dir, "tokens", region), []byte("ttd-token-for-"+region+"\n"), 0o600); err != nil {
			return r, err
		}
	}
	cfg := fmt.Sprintf(`regions:
%sprobes:
  tokens:
%sdefaults: {interval: %s, timeout: 5s}
quorum: 2
confirm_on_demand: %v
components:
  - id: api
    checks:
      - {id: target, kind: http, http: {url: "http://%s/healthz"}}
alerting:
  notifiers:
    - {id: pd, pagerduty: {routing_key: TTDROUTINGKEYTTDROUTINGKEYTTD001, events_url: %q}}
  policies:
    - {id: page, levels: [{targets: [pd]}]}
  rules:
    - {id: down, kind: check_down, policy: page, resolve_after: 5s}
`, rs.String(), toks.String(), interval, confirm, tg.addr, pd.URL)
	cfgPath := filepath.Join(dir, "nines.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return r, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	procs := []*exec.Cmd{}
	defer func() {
		for _, p := range procs {
			_ = p.Process.Signal(syscall.SIGTERM)
			_ = p.Wait()
		}
	}()
	startProc := func(name string, args ...string) error {
		f, err := os.Create(filepath.Join(dir, name+".log"))
		if err != nil {
			return err
		}
		defer f.Close()
		cmd := exec.CommandContext(ctx, binary, args...)
		cmd.Stdout, cmd.Stderr = f, f
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start %s: %w", name, err)
		}
		procs = append(procs, cmd)
		return nil
	}
	if err := startProc("controller", "controller", "--config", cfgPath, "--data", filepath.Join(dir, "ctl"), "--listen", ctl); err != nil {
		return r, err
	}
	for _, region := range regions {
		if err := startProc("probe-"+region, "probe", "--region", region, "--controller", "http://"+ctl,
			"--token-file", filepath.Join(dir, "tokens", region), "--probe-id", "ttd-"+region,
			"--spool", filepath.Join(dir, region+".db"), "--listen", "", "--max-backoff", "2s"); err != nil {
			return r, err
		}
	}
	base := "http://" + ctl
	for i := range trials {
		// Up in every region, and the last page resolved.
		if err := until(interval*3+30*time.Second, func() (bool, error) {
			st, err := status(base)
			if err != nil || st.Status != "up" || len(st.Regions) != len(regions) {
				return false, nil
			}
			for _, v := range st.Regions {
				if v.Status != "up" {
					return false, nil
				}
			}
			return open(pd) == 0, nil
		}); err != nil {
			return r, fmt.Errorf("trial %d: waiting for the target up in seven regions: %w", i+1, err)
		}
		time.Sleep(time.Duration(rand.Int64N(int64(interval))))
		stopped := time.Now()
		tg.stop()
		var down time.Duration
		if err := until(interval*3, func() (bool, error) {
			st, err := status(base)
			if err == nil && st.Status == "down" {
				down = time.Since(stopped)
				return true, nil
			}
			return false, nil
		}); err != nil {
			return r, fmt.Errorf("trial %d: waiting for down: %w", i+1, err)
		}
		var page time.Duration
		if err := until(time.Minute, func() (bool, error) {
			for _, ev := range pd.Events() {
				if ev.Action == "trigger" && ev.At.After(stopped) {
					page = ev.At.Sub(stopped)
					return true, nil
				}
			}
			return false, nil
		}); err != nil {
			return r, fmt.Errorf("trial %d: waiting for the page: %w", i+1, err)
		}
		r.down, r.page = append(r.down, down), append(r.page, page)
		fmt.Fprintf(os.Stderr, "confirmation %s, trial %d/%d: down after %s, paged after %s\n", r.mode, i+1, trials, sec(down), sec(page))
		if err := tg.start(); err != nil {
			return r, err
		}
	}
	m, err := metrics(base)
	if err != nil {
		return r, err
	}
	r.rounds, r.onDemand = int(m["nines_confirm_rounds_total"]), int(m["nines_confirm_runs_handed_total"])
	r.scheduled = int(m[`nines_ingest_results_total{outcome="stored"}`]) - r.onDemand
	return r, nil
}

// open counts the PagerDuty incidents triggered and not resolved.
func open(pd *pagerdutytest.Server) int {
	n := 0
	for _, inc := range pd.Incidents() {
		if inc.Status != "resolved" {
			n++
		}
	}
	return n
}

// checkStatus is the target's verdict in the status API.
type checkStatus struct {
	ID      string `json:"id"`
	Status  string `json:"status"`
	Regions map[string]struct {
		Status string `json:"status"`
	} `json:"regions"`
}

var client = &http.Client{Timeout: 5 * time.Second}

// status reads the target's verdict from the status document as
// published (what every reader of the status API gets).
func status(base string) (*checkStatus, error) {
	resp, err := client.Get(base + "/api/v1/status")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status: %s", resp.Status)
	}
	var doc struct {
		Components []struct {
			Checks []checkStatus `json:"checks"`
		} `json:"components"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		return nil, err
	}
	for _, c := range doc.Components {
		for _, ch := range c.Checks {
			if ch.ID == "target" {
				return &ch, nil
			}
		}
	}
	return nil, errors.New("status: no check")
}

// metrics reads the controller's /metrics as series → value.
func metrics(base string) (map[string]float64, error) {
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out, sc.Err()
}

// until polls cond every 50 ms for up to limit.
func until(limit time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("not within %s", limit)
}
