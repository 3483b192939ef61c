// Command ttd measures time to detect and to recover with the real
// binaries: a controller and seven regional probes (`nines controller`,
// `nines probe`) on loopback check one HTTP target every minute; the
// target is stopped at a random offset within the minute, and ttd reports
// how long until the status API says `down` and until the first
// PagerDuty trigger reaches a fake Events API (from the stop, and from
// the first failing result), then starts it again and reports how long
// until `up` and until the resolve, with confirmation on demand and
// without.
//
// With -hang N the page's policy also notifies a Slack webhook and an SMTP
// server that accept connections and never answer, and N status page
// webhook subscribers that never answer are told of every incident: the
// page must not wait for them. ttd then reports the controller's peak
// memory and open files.
//
//	go run ./bench/ttd -trials 10
//	go run ./bench/ttd -trials 5 -modes on -hang 1000
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
	"sync"
	"syscall"
	"time"

	"github.com/nines-sre/nines/alerting/pagerdutytest"
	"github.com/nines-sre/nines/controller/store"
	"github.com/nines-sre/nines/controller/store/sqlite"
	"github.com/nines-sre/nines/internal/loopback"
	"github.com/nines-sre/nines/internal/proc"
)

var regions = []string{"ca-central", "us-ohio", "us-oregon", "ap-sydney", "ap-tokyo", "eu-frankfurt", "eu-london"}

func main() {
	trials := flag.Int("trials", 10, "outages staged per mode")
	interval := flag.Duration("interval", time.Minute, "check interval")
	modes := flag.String("modes", "on,off", "confirmation modes to measure, in order: on, off")
	binary := flag.String("binary", "", "a nines binary (default: build ./cmd/nines)")
	hang := flag.Int("hang", 0, "status page webhook subscribers that never answer (with a Slack webhook and an SMTP server that never answer)")
	resolveAfter := flag.Duration("resolve-after", 0, "the check_down rule's resolve_after")
	keep := flag.Bool("keep", false, "keep the working directory (configuration, logs, databases) and say where")
	flag.Parse()
	o := options{trials: *trials, interval: *interval, hang: *hang, resolveAfter: *resolveAfter, keep: *keep}
	if err := run(o, strings.Split(*modes, ","), *binary); err != nil {
		fmt.Fprintln(os.Stderr, "ttd:", err)
		os.Exit(1)
	}
}

// options are what every mode is measured with.
type options struct {
	trials       int
	interval     time.Duration
	hang         int
	resolveAfter time.Duration
	keep         bool
}

func run(o options, modes []string, binary string) error {
	trials, interval := o.trials, o.interval
	if trials < 1 || trials > 100 {
		return fmt.Errorf("-trials %d: want 1 to 100", trials)
	}
	if interval < 5*time.Second || interval > 5*time.Minute {
		return fmt.Errorf("-interval %s: want 5s to 5m", interval)
	}
	if o.hang < 0 || o.hang > 10000 {
		return fmt.Errorf("-hang %d: want 0 to 10000", o.hang)
	}
	dir, err := os.MkdirTemp("", "nines-ttd")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintln(os.Stderr, "ttd: working in", dir)
	} else {
		defer os.RemoveAll(dir)
	}
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
		r, err := measure(filepath.Join(dir, mode), binary, mode == "on", o)
		if err != nil {
			return fmt.Errorf("confirmation %s: %w", mode, err)
		}
		rows = append(rows, r)
	}
	fmt.Printf("\nchecks every %s, 7 probes, quorum 2, group_wait 1s, resolve_after %s, %d outages per mode (target stopped, then started, at a random offset within the interval)",
		interval, o.resolveAfter, trials)
	if o.hang > 0 {
		fmt.Printf("; the page also goes to a Slack webhook and an SMTP server that never answer, and %d status page webhook subscribers that never answer hear of each incident", o.hang)
	}
	fmt.Print("\n\n| confirmation | stop → `down` p50 / p90 / max | stop → trigger p50 / p90 / max | first failure → trigger p50 / p90 / max | start → `up` p50 / p90 / max | start → resolve p50 / p90 / max | rounds | recovery rounds | on-demand / scheduled runs |\n")
	fmt.Println("|---|---|---|---|---|---|---:|---:|---:|")
	trio := func(ds []time.Duration) string {
		return fmt.Sprintf("%s / %s / %s", sec(pct(ds, 50)), sec(pct(ds, 90)), sec(pct(ds, 100)))
	}
	for _, r := range rows {
		fmt.Printf("| %s | %s | %s | %s | %s | %s | %d | %d | %d / %d (%.2f %%) |\n", r.mode, trio(r.down), trio(r.page), trio(r.firstToPage), trio(r.up), trio(r.resolved),
			r.rounds, r.recoveries, r.onDemand, r.scheduled, 100*float64(r.onDemand)/float64(max(r.scheduled, 1)))
	}
	for _, r := range rows {
		if r.peakRSS > 0 {
			fmt.Printf("\ncontroller (%s): peak RSS %.1f MiB, at most %d open files; %d subscriber delivery attempts\n", r.mode,
				float64(r.peakRSS)/(1<<20), r.peakFDs, r.subscriberTries)
		}
	}
	return nil
}

// row is one mode's figures.
type row struct {
	mode                                    string
	down, page, firstToPage, up, resolved   []time.Duration
	rounds, recoveries, onDemand, scheduled int
	peakRSS                                 int64
	peakFDs                                 int
	subscriberTries                         int
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

// hanging accepts connections and never answers on them: an HTTP
// receiver or an SMTP server that hangs.
type hanging struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newHanging() (*hanging, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h := &hanging{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			h.mu.Lock()
			h.conns = append(h.conns, c)
			h.mu.Unlock()
		}
	}()
	return h, nil
}

func (h *hanging) addr() string { return h.ln.Addr().String() }

func (h *hanging) close() {
	h.ln.Close()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.conns {
		c.Close()
	}
}

// subscribe stores n confirmed webhook subscribers at url in the store
// the controller will open.
func subscribe(path, url string, n int) error {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		return err
	}
	defer st.Close()
	now := time.Now()
	for i := range n {
		tok := fmt.Sprintf("ttd-subscriber-%06d-%x", i, rand.Uint64())
		if _, err := st.Subscribe(ctx, store.Subscriber{Kind: "webhook", Address: fmt.Sprintf("%s/hook/%d", url, i), Token: tok, CreatedAt: now}); err != nil {
			return err
		}
		if _, err := st.ConfirmSubscriber(ctx, tok, now); err != nil {
			return err
		}
	}
	return nil
}

// hangingReceivers starts what -hang adds: a web receiver and an SMTP
// server that never answer, n subscribers stored in the controller's
// store in dir, and returns the configuration that points at them.
func hangingReceivers(dir string, n int) (notifiers, dashboard string, stop func(), err error) {
	web, err := newHanging()
	if err != nil {
		return "", "", nil, err
	}
	smtp, err := newHanging()
	if err != nil {
		web.close()
		return "", "", nil, err
	}
	stop = func() { web.close(); smtp.close() }
	if err := os.MkdirAll(filepath.Join(dir, "ctl"), 0o700); err != nil {
		stop()
		return "", "", nil, err
	}
	if err := subscribe(filepath.Join(dir, "ctl", "nines.db"), "http://"+web.addr(), n); err != nil {
		stop()
		return "", "", nil, fmt.Errorf("subscribers: %w", err)
	}
	notifiers = fmt.Sprintf("    - {id: slack, slack: {url: \"http://%s/services/T0/B0/hang\"}}\n    - {id: mail, email: {smtp: %q, from: nines@example.com, to: [oncall@example.com]}}\n",
		web.addr(), smtp.addr())
	dashboard = fmt.Sprintf("dashboard:\n  subscriptions: {webhooks: true, private_webhooks: true, smtp: %q, from: status@example.com}\n", smtp.addr())
	return notifiers, dashboard, stop, nil
}

// measure runs the controller and probes in dir and stages o.trials
// outages, each followed by the target's return.
func measure(dir, binary string, confirm bool, o options) (row, error) {
	interval := o.interval
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
	targets, notifiers, dashboard := "[pd]", "", ""
	if o.hang > 0 {
		var stop func()
		if notifiers, dashboard, stop, err = hangingReceivers(dir, o.hang); err != nil {
			return r, err
		}
		defer stop()
		targets = "[pd, slack, mail]"
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
  dashboard_url: http://%s
  notifiers:
    - {id: pd, pagerduty: {routing_key: TTDROUTINGKEYTTDROUTINGKEYTTD001, events_url: %q}}
%s  policies:
    - {id: page, levels: [{targets: %s}]}
  rules:
    - {id: down, kind: check_down, policy: page, resolve_after: %s}
%s`, rs.String(), toks.String(), interval, confirm, tg.addr, ctl, pd.URL, notifiers, targets, o.resolveAfter, dashboard)
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
	peaks := watchProcess(ctx, procs[0].Process.Pid)
	for _, region := range regions {
		if err := startProc("probe-"+region, "probe", "--region", region, "--controller", "http://"+ctl,
			"--token-file", filepath.Join(dir, "tokens", region), "--probe-id", "ttd-"+region,
			"--spool", filepath.Join(dir, region+".db"), "--listen", "", "--max-backoff", "2s"); err != nil {
			return r, err
		}
	}
	base := "http://" + ctl
	verdict := func(want string) func() (bool, error) {
		return func() (bool, error) {
			st, err := status(base)
			return err == nil && st.Status == want, nil
		}
	}
	for i := range o.trials {
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
		if err := until(interval*3, verdict("down")); err != nil {
			return r, fmt.Errorf("trial %d: waiting for down: %w", i+1, err)
		}
		down := time.Since(stopped)
		paged, err := event(pd, "trigger", stopped, time.Minute)
		if err != nil {
			return r, fmt.Errorf("trial %d: waiting for the page: %w", i+1, err)
		}
		first, err := firstFailure(base, stopped)
		if err != nil {
			return r, fmt.Errorf("trial %d: %w", i+1, err)
		}
		// The target comes back at a random offset within the interval.
		time.Sleep(time.Duration(rand.Int64N(int64(interval))))
		if err := tg.start(); err != nil {
			return r, err
		}
		started := time.Now()
		if err := until(interval*3, verdict("up")); err != nil {
			return r, fmt.Errorf("trial %d: waiting for up: %w", i+1, err)
		}
		up := time.Since(started)
		resolved, err := event(pd, "resolve", started, interval*3)
		if err != nil {
			return r, fmt.Errorf("trial %d: waiting for the resolve: %w", i+1, err)
		}
		r.down, r.page, r.firstToPage = append(r.down, down), append(r.page, paged.Sub(stopped)), append(r.firstToPage, paged.Sub(first))
		r.up, r.resolved = append(r.up, up), append(r.resolved, resolved.Sub(started))
		fmt.Fprintf(os.Stderr, "confirmation %s, trial %d/%d: down after %s, paged after %s (%s after the first failure); up %s and resolved %s after the target came back\n",
			r.mode, i+1, o.trials, sec(down), sec(paged.Sub(stopped)), sec(paged.Sub(first)), sec(up), sec(resolved.Sub(started)))
	}
	m, err := metrics(base)
	if err != nil {
		return r, err
	}
	r.rounds, r.recoveries, r.onDemand = int(m["nines_confirm_rounds_total"]), int(m["nines_confirm_recovery_rounds_total"]), int(m["nines_confirm_runs_handed_total"])
	r.scheduled = int(m[`nines_ingest_results_total{outcome="stored"}`]) - r.onDemand
	if o.hang > 0 {
		for k, v := range m {
			if strings.HasPrefix(k, `nines_notifications_total{notifier="subscriber"`) {
				r.subscriberTries += int(v)
			}
		}
		r.peakRSS, r.peakFDs = peaks()
	}
	return r, nil
}

// event waits up to limit for the first PagerDuty event of action after
// since, and returns when it arrived.
func event(pd *pagerdutytest.Server, action string, since time.Time, limit time.Duration) (time.Time, error) {
	var at time.Time
	err := until(limit, func() (bool, error) {
		for _, ev := range pd.Events() {
			if ev.Action == action && ev.At.After(since) {
				at = ev.At
				return true, nil
			}
		}
		return false, nil
	})
	return at, err
}

// firstFailure is when the first failing result of the target after
// since was seen (its start plus its duration).
func firstFailure(base string, since time.Time) (time.Time, error) {
	resp, err := client.Get(base + "/api/v1/results?check=target&order=oldest&limit=50&since=" + since.UTC().Format(time.RFC3339Nano))
	if err != nil {
		return time.Time{}, err
	}
	defer resp.Body.Close()
	var doc struct {
		Results []struct {
			Started    time.Time `json:"started"`
			DurationUS int64     `json:"duration_us"`
			Outcome    string    `json:"outcome"`
		} `json:"results"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		return time.Time{}, fmt.Errorf("results: %w", err)
	}
	first := time.Time{}
	for _, x := range doc.Results {
		if seen := x.Started.Add(time.Duration(x.DurationUS) * time.Microsecond); x.Outcome == "down" && (first.IsZero() || seen.Before(first)) {
			first = seen
		}
	}
	if first.IsZero() {
		return first, errors.New("no failing result after the stop")
	}
	return first, nil
}

// watchProcess samples pid's resident memory peak and open files every
// 100 ms until ctx ends; the returned function reads the peaks so far.
func watchProcess(ctx context.Context, pid int) func() (int64, int) {
	var mu sync.Mutex
	var rss int64
	var fds int
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			hwm, _ := proc.PeakRSS(pid)
			ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
			mu.Lock()
			rss, fds = max(rss, hwm), max(fds, len(ents))
			mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() (int64, int) {
		mu.Lock()
		defer mu.Unlock()
		return rss, fds
	}
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
