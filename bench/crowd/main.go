// Command crowd measures the status page, the status API, a badge, the
// history, its Atom feed and the v2 summary under the crowd an outage
// brings: it runs the real controller binary with
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
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nines-sre/nines/bench/internal/loadgen"
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

const region = "eu-london"

func run(checks, components, clients int, duration time.Duration, binary string) error {
	dir, binary, cleanup, err := loadgen.Workdir("nines-crowd", "./cmd/nines", binary)
	if err != nil {
		return err
	}
	defer cleanup()
	ctl, err := loadgen.StartController(binary, dir, loadgen.Config(checks, components, []string{region}, 1))
	if err != nil {
		return err
	}
	defer ctl.Stop()
	base := ctl.Base

	// The probe posts every check once a minute (all of them at first, so
	// the crowd sees a full page from the start); down marks the checks
	// failing.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var down sync.Map
	p := loadgen.NewProbe(base, region)
	p.Down = func(check string) bool { _, ok := down.Load(check); return ok }
	probeErr := make(chan error, 1)
	go func() { probeErr <- p.Run(ctx, true) }()
	for deadline := time.Now().Add(time.Minute); p.Results.Load() < int64(checks); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("the probe stored %d of %d results in a minute", p.Results.Load(), checks)
		}
	}
	fmt.Printf("controller: %d checks in %d components, 7 regions, one probe posting %d results a minute\n", checks, components, checks)

	// Outages are staged one check at a time, trials of them quietly and
	// as many while the crowd asks for the page.
	const trials = 5
	stage := func(k int) (time.Duration, error) {
		check := "check-" + strconv.Itoa(k)
		down.Store(check, true)
		return detect(ctx, base, p, check)
	}
	var quiet []time.Duration
	for k := range trials {
		d, err := stage(k)
		if err != nil {
			return err
		}
		quiet = append(quiet, d)
		time.Sleep(500 * time.Millisecond)
	}

	type target struct{ name, path string }
	targets := []target{{"status page /", "/"}, {"status API /api/v1/status", "/api/v1/status"}, {"badge /badge/check-1.svg", "/badge/check-1.svg"},
		{"history /history", "/history"}, {"feed /history.atom", "/history.atom"}, {"v2 /api/v2/summary.json", "/api/v2/summary.json"}}
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
					d, err := stage(trials + k)
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
	peak, err := proc.PeakRSS(ctl.Cmd.Process.Pid)
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

// detect posts a failing result of check now and asks the status API every
// 20 ms until it says the check is down.
func detect(ctx context.Context, base string, p *loadgen.Probe, check string) (time.Duration, error) {
	began := time.Now()
	if err := p.Post(ctx, []model.Result{p.Result(check, began.Truncate(time.Millisecond))}); err != nil {
		return 0, err
	}
	last := ""
	for time.Since(began) < 20*time.Second {
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
						last = ch.Status
					}
				}
			}
			if last == "down" {
				return time.Since(began), nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return 0, fmt.Errorf("%s: not down after 20 s (last seen %q)", check, last)
}

func median(ds []time.Duration) time.Duration {
	return loadgen.Percentile(ds, 50).Round(time.Millisecond)
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
	return load{rate: float64(len(lat)) / d.Seconds(), bytes: bytesSeen, errors: errs,
		p50: loadgen.Percentile(lat, 50), p99: loadgen.Percentile(lat, 99)}
}
