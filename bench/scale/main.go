// Command scale measures how the controller's cost follows its results:
// for each size in -sizes it runs the real controller with that many
// checks, every one once a minute in all seven regions, fed by seven
// synthetic regional probes through the probe API (register, heartbeat,
// assignment, gzipped batches). After -warmup it measures for -duration
// and prints one row: the controller's CPU share and CPU per result, peak
// RSS, ingest p99, slice lag and evaluation times (from the controller's
// own histograms), status API and page p50/p99 (asked twice a second
// each), and the bytes the store takes per result.
//
//	go run ./bench/scale -sizes 1000,5000,20000,50000 -duration 5m
//
// With -database postgres://… the controller stores in PostgreSQL, each
// size in a schema of its own, dropped after.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	pmodel "github.com/prometheus/common/model"

	"github.com/nines-sre/nines/bench/internal/loadgen"
	"github.com/nines-sre/nines/controller/store/postgres/pgtest"
	"github.com/nines-sre/nines/internal/proc"
)

func main() {
	sizes := flag.String("sizes", "1000,5000,20000,50000", "numbers of checks, comma-separated")
	duration := flag.Duration("duration", 5*time.Minute, "how long each size is measured")
	warmup := flag.Duration("warmup", time.Minute, "time before the measurement, for every check to have results and slices")
	database := flag.String("database", "", "a postgres:// URL (default: SQLite in a temporary directory)")
	binary := flag.String("binary", "", "nines binary (default: build ./cmd/nines)")
	flag.StringVar(&profileDir, "profile", "", "write the controller's CPU profile of each size's measurement to this directory (cpu-N.pprof)")
	flag.Parse()
	var ns []int
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "scale: -sizes: %q is not a number of checks\n", s)
			os.Exit(2)
		}
		ns = append(ns, n)
	}
	if err := run(ns, *duration, *warmup, *database, *binary); err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
}

var profileDir string

func run(sizes []int, duration, warmup time.Duration, database, binary string) error {
	dir, binary, cleanup, err := loadgen.Workdir("nines-scale", "./cmd/nines", binary)
	if err != nil {
		return err
	}
	defer cleanup()
	backend := "sqlite"
	if database != "" {
		backend = "postgres"
	}
	fmt.Printf("controller on %s; each size: %s of warm-up, then %s measured; 7 regions, one result per check and region a minute\n\n", backend, warmup, duration)
	fmt.Printf("%8s %9s %6s %9s %8s %9s %9s %9s %9s %9s %9s %9s %8s\n",
		"checks", "results/s", "CPU", "CPU/res", "peakRSS", "ingest99", "lag p99", "slice99", "alerts99", "API p50", "API p99", "page p99", "B/result")
	for _, n := range sizes {
		row, err := measure(binary, filepath.Join(dir, strconv.Itoa(n)), n, duration, warmup, database)
		if err != nil {
			return fmt.Errorf("%d checks: %w", n, err)
		}
		fmt.Println(row)
	}
	return nil
}

func measure(binary, dir string, checks int, duration, warmup time.Duration, database string) (_ string, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	var args []string
	scoped := ""
	if database != "" {
		var drop func()
		if scoped, drop, err = pgtest.NewSchema(context.Background(), database, "nines_scale_"); err != nil {
			return "", err
		}
		defer drop()
		args = append(args, "--database", scoped)
	}
	debugAddr := ""
	if profileDir != "" {
		if debugAddr, err = loadgen.FreeAddr(); err != nil {
			return "", err
		}
		args = append(args, "--debug-listen", debugAddr)
	}
	ctl, err := loadgen.StartController(binary, dir, loadgen.Config(checks, max(checks/100, 1), loadgen.Regions, 2), args...)
	if err != nil {
		return "", err
	}
	defer ctl.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var probes []*loadgen.Probe
	errc := make(chan error, len(loadgen.Regions))
	for _, r := range loadgen.Regions {
		p := loadgen.NewProbe(ctl.Base, r)
		probes = append(probes, p)
		go func() { errc <- p.Run(ctx, true) }()
	}
	select {
	case err := <-errc:
		return "", fmt.Errorf("probe: %w (controller log: %s)", err, ctl.Log)
	case <-time.After(warmup):
	}
	pid := ctl.Cmd.Process.Pid
	m0, err := scrape(ctl.Base)
	if err != nil {
		return "", err
	}
	cpu0, _ := proc.CPUSeconds(pid)
	var results0 int64
	for _, p := range probes {
		p.IngestLatencies()
		results0 += p.Results.Load()
	}
	began := time.Now()
	sampled := sample(ctx, ctl.Base, duration)
	profiled := make(chan error, 1)
	if debugAddr != "" {
		go func() {
			profiled <- profile(debugAddr, filepath.Join(profileDir, fmt.Sprintf("cpu-%d.pprof", checks)), duration)
		}()
	} else {
		profiled <- nil
	}
	select {
	case err := <-errc:
		return "", fmt.Errorf("probe: %w", err)
	case <-time.After(duration):
	}
	wall := time.Since(began)
	cpu1, _ := proc.CPUSeconds(pid)
	m1, err := scrape(ctl.Base)
	if err != nil {
		return "", err
	}
	var results int64
	var ingest []time.Duration
	for _, p := range probes {
		ingest = append(ingest, p.IngestLatencies()...)
		results += p.Results.Load()
	}
	measured := results - results0
	peak, _ := proc.PeakRSS(pid)
	cancel()
	lat := <-sampled
	if err := <-profiled; err != nil {
		return "", fmt.Errorf("profile: %w", err)
	}
	cpu := cpu1 - cpu0
	disk := dirBytes(filepath.Join(dir, "data"))
	if scoped != "" {
		if disk, err = pgBytes(scoped); err != nil {
			return "", err
		}
	}
	perResult := strconv.FormatInt(disk/max(results, 1), 10)
	return fmt.Sprintf("%8d %9.0f %5.0f%% %7.3fms %6dMiB %9s %9s %9s %9s %9s %9s %9s %8s",
		checks, float64(measured)/wall.Seconds(), 100*cpu/wall.Seconds(), 1000*cpu/float64(max(measured, 1)), peak>>20,
		ms(loadgen.Percentile(ingest, 99)),
		secs(quantile(m0, m1, "nines_slices_lag_seconds", "", 0.99)),
		secs(quantile(m0, m1, "nines_controller_loop_duration_seconds", "slice evaluation", 0.99)),
		secs(quantile(m0, m1, "nines_controller_loop_duration_seconds", "alert evaluation", 0.99)),
		ms(loadgen.Percentile(lat["api"], 50)), ms(loadgen.Percentile(lat["api"], 99)), ms(loadgen.Percentile(lat["page"], 99)), perResult), nil
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + "ms"
}

// secs shows an estimate in seconds: "-" without observations, ">x"
// when the quantile is past the largest bucket x.
func secs(e estimate) string {
	switch {
	case e.none:
		return "-"
	case e.atLeast:
		return ">" + ms(time.Duration(e.v*float64(time.Second)))
	}
	return ms(time.Duration(e.v * float64(time.Second)))
}

// estimate is a quantile read from a histogram.
type estimate struct {
	v       float64
	atLeast bool // past the largest finite bucket: at least v
	none    bool // no observations
}

// sample asks for the status API and the page twice a second each, as a
// browser would (gzip), until ctx ends or d passes; it sends the latencies.
func sample(ctx context.Context, base string, d time.Duration) chan map[string][]time.Duration {
	out := make(chan map[string][]time.Duration, 1)
	go func() {
		lat := map[string][]time.Duration{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for name, path := range map[string]string{"api": "/api/v1/status", "page": "/"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				client := &http.Client{Timeout: 30 * time.Second}
				tick := time.NewTicker(500 * time.Millisecond)
				defer tick.Stop()
				end := time.After(d)
				for {
					select {
					case <-ctx.Done():
						return
					case <-end:
						return
					case <-tick.C:
					}
					req, _ := http.NewRequest(http.MethodGet, base+path, nil)
					req.Header.Set("Accept-Encoding", "gzip")
					t0 := time.Now()
					resp, err := client.Do(req)
					if err != nil {
						continue
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					mu.Lock()
					lat[name] = append(lat[name], time.Since(t0))
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		out <- lat
	}()
	return out
}

func scrape(base string) (map[string]*dto.MetricFamily, error) {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(pmodel.UTF8Validation)
	return p.TextToMetricFamilies(resp.Body)
}

// quantile estimates the q quantile of a histogram's observations between
// two scrapes (as histogram_quantile does: linear within a bucket); loop,
// when set, picks the series with that label.
func quantile(before, after map[string]*dto.MetricFamily, name, loop string, q float64) estimate {
	pick := func(m map[string]*dto.MetricFamily) *dto.Histogram {
		f := m[name]
		if f == nil {
			return nil
		}
		for _, mt := range f.GetMetric() {
			if loop == "" {
				return mt.GetHistogram()
			}
			for _, l := range mt.GetLabel() {
				if l.GetName() == "loop" && l.GetValue() == loop {
					return mt.GetHistogram()
				}
			}
		}
		return nil
	}
	h1 := pick(after)
	if h1 == nil {
		return estimate{none: true}
	}
	h0 := pick(before)
	count := float64(h1.GetSampleCount())
	base := map[float64]uint64{}
	if h0 != nil {
		count -= float64(h0.GetSampleCount())
		for _, b := range h0.GetBucket() {
			base[b.GetUpperBound()] = b.GetCumulativeCount()
		}
	}
	if count <= 0 {
		return estimate{none: true}
	}
	rank := q * count
	lower, below := 0.0, 0.0
	for _, b := range h1.GetBucket() {
		if math.IsInf(b.GetUpperBound(), 1) {
			break
		}
		n := float64(b.GetCumulativeCount() - base[b.GetUpperBound()])
		if n >= rank {
			return estimate{v: lower + (b.GetUpperBound()-lower)*(rank-below)/math.Max(n-below, 1)}
		}
		lower, below = b.GetUpperBound(), n
	}
	return estimate{v: lower, atLeast: true}
}

// profile saves the controller's CPU profile over most of d.
func profile(addr, path string, d time.Duration) error {
	secs := max(int((d-5*time.Second)/time.Second), 1)
	resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, secs))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", addr, resp.Status)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// pgBytes is what the tables of the schema named in dsn's search_path
// take, indexes included.
func pgBytes(dsn string) (int64, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return 0, err
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	var n int64
	err = conn.QueryRow(ctx, `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c
		JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = $1 AND c.relkind IN ('r', 'p', 'm')`, u.Query().Get("search_path")).Scan(&n)
	return n, err
}

func dirBytes(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}
