// Command crowd measures the status page, the status API and a badge under
// the crowd an outage brings: it runs the real controller binary with
// -checks checks in -components components, a synthetic probe that
// heartbeats and posts every check's result once a minute through the
// probe API, then -clients clients asking for each document in turn as fast
// as they are answered (keep-alive, gzip accepted as browsers do). It
// reports requests per second, p50 and p99, bytes per answer, the
// controller's peak RSS, and the time to detect a staged global outage,
// measured once quietly and once while the crowd asks for the page.
//
//	go run ./bench/crowd -checks 5000 -clients 64 -duration 10s
package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nines-sre/nines/internal/proc"
	"github.com/nines-sre/nines/model"
)

func main() {
	checks := flag.Int("checks", 5000, "checks in the configuration")
	components := flag.Int("components", 50, "components the checks are spread over")
	clients := flag.Int("clients", 64, "concurrent clients")
	duration := flag.Duration("duration", 10*time.Second, "how long the crowd asks for each document")
	binary := flag.String("binary", "", "nines binary (default: build ./cmd/nines)")
	flag.Parse()
	if err := run(*checks, *components, *clients, *duration, *binary); err != nil {
		fmt.Fprintln(os.Stderr, "crowd:", err)
		os.Exit(1)
	}
}

const (
	region = "eu-london"
	token  = "crowd-bench-token-eu-london"
)

var regions = []string{"ca-central", "us-ohio", "us-oregon", "ap-sydney", "ap-tokyo", "eu-frankfurt", "eu-london"}

func run(checks, components, clients int, duration time.Duration, binary string) error {
	dir, err := os.MkdirTemp("", "nines-crowd")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if binary == "" {
		binary = filepath.Join(dir, "nines")
		build := exec.Command("go", "build", "-o", binary, "./cmd/nines")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("build: %w", err)
		}
	}
	var cfg strings.Builder
	cfg.WriteString("regions:\n")
	for _, r := range regions {
		fmt.Fprintf(&cfg, "  - id: %s\n", r)
	}
	fmt.Fprintf(&cfg, "probes:\n  heartbeat_interval: 5s\n  rate_limit: 1000\n  tokens:\n")
	for _, r := range regions {
		fmt.Fprintf(&cfg, "    - {region: %s, token: crowd-bench-token-%s}\n", r, r)
	}
	cfg.WriteString("quorum: 1\ndefaults: {interval: 1m, timeout: 5s}\ncomponents:\n")
	for c := range components {
		fmt.Fprintf(&cfg, "  - id: comp-%d\n    checks:\n", c)
		for i := c; i < checks; i += components {
			fmt.Fprintf(&cfg, "      - {id: check-%d, kind: http, regions: [%s], http: {url: \"http://127.0.0.1:9/%d\"}}\n", i, region, i)
		}
	}
	cfgPath := filepath.Join(dir, "nines.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o600); err != nil {
		return err
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	ctl := exec.Command(binary, "controller", "--config", cfgPath, "--data", filepath.Join(dir, "data"), "--listen", addr)
	logf, _ := os.Create(filepath.Join(dir, "controller.log"))
	ctl.Stdout, ctl.Stderr = logf, logf
	if err := ctl.Start(); err != nil {
		return err
	}
	defer func() { _ = ctl.Process.Kill(); _ = ctl.Wait() }()
	base := "http://" + addr
	if err := waitReady(base, 30*time.Second); err != nil {
		return err
	}

	// The synthetic probe: every check once a minute, spread over the
	// minute in one batch a second; down marks the checks failing.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var down atomic.Value
	down.Store(map[string]bool{})
	probeErr := make(chan error, 1)
	go func() { probeErr <- probe(ctx, base, checks, &down) }()
	// Every check has a result after a minute of the probe; a first pass
	// posts them all at once so the crowd sees a full page from the start.
	if err := postAll(base, checks, nil); err != nil {
		return err
	}
	fmt.Printf("controller: %d checks in %d components, 7 regions, one probe posting %d results a minute\n", checks, components, checks)

	// Outages are staged one check at a time, trials of them quietly and
	// as many while the crowd asks for the page.
	const trials = 5
	var quiet []time.Duration
	for k := range trials {
		d, err := detect(base, &down, "check-"+strconv.Itoa(k))
		if err != nil {
			return err
		}
		quiet = append(quiet, d)
		time.Sleep(500 * time.Millisecond)
	}

	type target struct{ name, path string }
	targets := []target{{"status page /", "/"}, {"status API /api/v1/status", "/api/v1/status"}, {"badge /badge/check-1.svg", "/badge/check-1.svg"}}
	fmt.Printf("\n%-28s %10s %9s %9s %12s %8s\n", "document", "req/s", "p50", "p99", "bytes/answer", "errors")
	var busy []time.Duration
	for i, tg := range targets {
		var detectErr error
		var detected chan struct{}
		if i == 0 {
			detected = make(chan struct{})
			go func() {
				defer close(detected)
				for k := range trials {
					time.Sleep(duration / (trials + 2))
					d, err := detect(base, &down, "check-"+strconv.Itoa(trials+k))
					if err != nil {
						detectErr = err
						return
					}
					busy = append(busy, d)
				}
			}()
		}
		r := crowd(base+tg.path, clients, duration)
		fmt.Printf("%-28s %10.0f %9s %9s %12d %8d\n", tg.name, r.rate, r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond), r.bytes, r.errors)
		if detected != nil {
			<-detected
			if detectErr != nil {
				return detectErr
			}
		}
	}
	fmt.Printf("\ntime from a failing result to the status API saying down, %d outages each (median, max):\n", trials)
	fmt.Printf("  quiet:                  %s, %s\n", median(quiet), slices.Max(quiet).Round(time.Millisecond))
	fmt.Printf("  the crowd on the page:  %s, %s\n", median(busy), slices.Max(busy).Round(time.Millisecond))
	peak, err := proc.PeakRSS(ctl.Process.Pid)
	if err != nil {
		return err
	}
	fmt.Printf("controller peak RSS: %d MiB\n", peak>>20)
	select {
	case err := <-probeErr:
		return fmt.Errorf("probe: %w", err)
	default:
	}
	return nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func waitReady(base string, limit time.Duration) error {
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			return nil
		}
	}
	return fmt.Errorf("the controller did not start in %s", limit)
}

var probeClient = &http.Client{Timeout: 30 * time.Second}

func call(base, path string, body any, gz bool) error {
	var buf bytes.Buffer
	var w io.Writer = &buf
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(&buf)
		w = zw
	}
	if err := json.NewEncoder(w).Encode(body); err != nil {
		return err
	}
	if zw != nil {
		zw.Close()
	}
	req, _ := http.NewRequest(http.MethodPost, base+path, &buf)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	if gz {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: %d %s", path, resp.StatusCode, b)
	}
	var ack model.IngestAck
	if json.Unmarshal(b, &ack) == nil && len(ack.Rejected) > 0 {
		return fmt.Errorf("POST %s: %d results rejected, the first: %s", path, len(ack.Rejected), ack.Rejected[0].Error)
	}
	return nil
}

func result(i int, at time.Time, down bool) model.Result {
	r := model.Result{Check: "check-" + strconv.Itoa(i), Region: region, Scheduled: at, Started: at, Probe: "crowd-probe",
		DurationUS: 12000 + int64(i%100)*100, Outcome: model.OutcomeUp, HTTPStatus: 200, Bytes: 512}
	if down {
		r.Outcome, r.HTTPStatus, r.ErrorClass, r.Message = model.OutcomeDown, 503, model.ErrStatus, "status 503"
	}
	return r
}

// postAll posts one result of every check (the ones in down failing).
func postAll(base string, checks int, down map[string]bool) error {
	at := time.Now().Truncate(time.Second)
	for from := 0; from < checks; from += 1000 {
		batch := model.ResultBatch{Probe: "crowd-probe"}
		for i := from; i < min(from+1000, checks); i++ {
			batch.Results = append(batch.Results, result(i, at, down["check-"+strconv.Itoa(i)]))
		}
		if err := call(base, "/api/v1/results", batch, true); err != nil {
			return err
		}
	}
	return nil
}

func probe(ctx context.Context, base string, checks int, down *atomic.Value) error {
	started := time.Now()
	beat := func() error {
		return call(base, "/api/v1/probes/heartbeat", model.Heartbeat{Probe: "crowd-probe", Region: region, StartedAt: started, SentAt: time.Now()}, false)
	}
	if err := call(base, "/api/v1/probes/register", model.Heartbeat{Probe: "crowd-probe", Region: region, StartedAt: started, SentAt: time.Now()}, false); err != nil {
		return err
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	perSecond := (checks + 59) / 60
	next := 0
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return nil
		case now := <-tick.C:
			if n%5 == 0 {
				if err := beat(); err != nil {
					return err
				}
			}
			d := down.Load().(map[string]bool)
			batch := model.ResultBatch{Probe: "crowd-probe"}
			at := now.Truncate(time.Second)
			for range perSecond {
				batch.Results = append(batch.Results, result(next, at, d["check-"+strconv.Itoa(next)]))
				next = (next + 1) % checks
			}
			if err := call(base, "/api/v1/results", batch, true); err != nil {
				return err
			}
		}
	}
}

// detect stages an outage of check: its result turns down now, and the
// status API is asked every 20 ms until it says down.
func detect(base string, down *atomic.Value, check string) (time.Duration, error) {
	d := map[string]bool{}
	for k, v := range down.Load().(map[string]bool) {
		d[k] = v
	}
	d[check] = true
	down.Store(d)
	i, _ := strconv.Atoi(strings.TrimPrefix(check, "check-"))
	began := time.Now()
	batch := model.ResultBatch{Probe: "crowd-probe", Results: []model.Result{result(i, began.Truncate(time.Millisecond), true)}}
	if err := call(base, "/api/v1/results", batch, true); err != nil {
		return 0, err
	}
	last := ""
	for time.Since(began) < 20*time.Second {
		var st struct {
			Status string `json:"status"`
		}
		resp, err := http.Get(base + "/api/v1/status?check=" + check)
		if err == nil {
			var doc struct {
				Components []struct {
					Checks []struct {
						ID     string `json:"id"`
						Status string `json:"status"`
					} `json:"checks"`
				} `json:"components"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&doc)
			resp.Body.Close()
			for _, c := range doc.Components {
				for _, ch := range c.Checks {
					if ch.ID == check {
						st.Status = ch.Status
					}
				}
			}
			last = st.Status
			if st.Status == "down" {
				return time.Since(began), nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return 0, fmt.Errorf("%s: not down after 2 minutes (last seen %q)", check, last)
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2].Round(time.Millisecond)
}

type load struct {
	rate     float64
	p50, p99 time.Duration
	bytes    int64
	errors   int
}

// crowd has clients ask for url as fast as they are answered for d.
func crowd(url string, clients int, d time.Duration) load {
	tr := &http.Transport{MaxIdleConnsPerHost: clients, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var mu sync.Mutex
	var lat []time.Duration
	var bytesSeen int64
	errs := 0
	end := time.Now().Add(d)
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			var b int64
			e := 0
			for time.Now().Before(end) {
				req, _ := http.NewRequest(http.MethodGet, url, nil)
				req.Header.Set("Accept-Encoding", "gzip")
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					e++
					continue
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					e++
					continue
				}
				mine = append(mine, time.Since(t0))
				b = n
			}
			mu.Lock()
			lat = append(lat, mine...)
			bytesSeen = max(bytesSeen, b)
			errs += e
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.Sort(lat)
	out := load{rate: float64(len(lat)) / d.Seconds(), bytes: bytesSeen, errors: errs}
	if len(lat) > 0 {
		out.p50, out.p99 = lat[len(lat)/2], lat[len(lat)*99/100]
	}
	return out
}
