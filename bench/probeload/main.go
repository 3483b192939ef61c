// Command probeload measures one probe agent under load: it runs a real
// controller and an HTTP target on loopback in this process, starts the
// `nines-probe` binary (or `nines probe`, with -binary pointing at nines)
// as a child process with N checks a minute, and
// reports checks per second, CPU per 1,000 checks, peak RSS and schedule
// lateness, measured from the probe's own results.
//
//	go run ./bench/probeload -checks 10000 -duration 70s
package main

import (
	"bytes"
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/nines-sre/nines/bench/internal/loadgen"
	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/controller"
	"github.com/nines-sre/nines/internal/proc"
)

func main() {
	if target := os.Getenv("PROBELOAD_BARE_TARGET"); target != "" {
		bareLoop(target)
		return
	}
	checks := flag.Int("checks", 10000, "checks per minute (each check runs once a minute)")
	duration := flag.Duration("duration", 70*time.Second, "how long the probe runs")
	warmup := flag.Duration("warmup", 10*time.Second, "time excluded from the CPU measurement at the start")
	keepAlive := flag.Bool("keep-alive", false, "reuse connections (default: a fresh connection per check)")
	binary := flag.String("binary", "", "probe binary: a nines-probe, or a nines that runs `nines probe` (default: build ./cmd/nines-probe)")
	flag.StringVar(&cpuProfile, "cpuprofile", "", "write the probe's CPU profile over the measured window to this file")
	flag.StringVar(&heapProfile, "heapprofile", "", "write the probe's heap profile at the end to this file")
	flag.BoolVar(&baseline, "baseline", false, "also measure a bare net/http GET on a fresh connection at the same rate, in a child process on one core")
	flag.Parse()
	if err := run(*checks, *duration, *warmup, *keepAlive, *binary); err != nil {
		fmt.Fprintln(os.Stderr, "probeload:", err)
		os.Exit(1)
	}
}

var (
	cpuProfile, heapProfile string
	baseline                bool
)

// bareLoop is the baseline child: plain net/http GETs on fresh connections,
// paced like the probe's checks, until killed.
func bareLoop(target string) {
	rate, _ := strconv.Atoi(os.Getenv("PROBELOAD_BARE_RATE"))
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	tick := time.NewTicker(time.Minute / time.Duration(rate))
	for range tick.C {
		go func() {
			resp, err := client.Get(target)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
}

// measureBaseline runs bareLoop in a child process on one core and returns
// its CPU-ms per request.
func measureBaseline(target string, perMinute int, d time.Duration) (float64, error) {
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), "PROBELOAD_BARE_TARGET="+target, "PROBELOAD_BARE_RATE="+strconv.Itoa(perMinute), "GOMAXPROCS=1")
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	time.Sleep(2 * time.Second)
	c0, err := proc.CPUSeconds(cmd.Process.Pid)
	if err != nil {
		return 0, err
	}
	time.Sleep(d)
	c1, err := proc.CPUSeconds(cmd.Process.Pid)
	if err != nil {
		return 0, err
	}
	return (c1 - c0) * 1000 / (d.Minutes() * float64(perMinute)), nil
}

func run(n int, duration, warmup time.Duration, keepAlive bool, binary string) error {
	if duration <= warmup+10*time.Second {
		return fmt.Errorf("-duration must exceed -warmup by at least 10s")
	}
	dir, binary, cleanup, err := loadgen.Workdir("probeload", "./cmd/nines-probe", binary)
	if err != nil {
		return err
	}
	defer cleanup()

	// The target: a small JSON answer on loopback.
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	target := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true,"items":[1,2,3]}`)
	}), ReadHeaderTimeout: 5 * time.Second}
	go target.Serve(tl)
	defer target.Close()

	// The controller, with n checks in one region.
	var cfg bytes.Buffer
	fmt.Fprintf(&cfg, "regions: [{id: eu-london}]\nquorum: 1\nprobes:\n  tokens: [{region: eu-london, token: load-test-token-000001}]\ncomponents:\n  - id: load\n    checks:\n")
	for i := range n {
		fmt.Fprintf(&cfg, "      - {id: c%05d, kind: http, interval: 1m, timeout: 5s, http: {url: \"http://%s/x/%d\", keep_alive: %v}, assert: [\"status == 200\", \"body.json.items.len > 0\"]}\n",
			i, tl.Addr(), i, keepAlive)
	}
	c, err := config.Parse("probeload.yaml", cfg.Bytes())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan string, 1)
	ctlDone := make(chan error, 1)
	go func() {
		ctlDone <- controller.Run(ctx, controller.Options{Config: c, DataDir: filepath.Join(dir, "ctl"), Listen: "127.0.0.1:0",
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Ready: ready})
	}()
	var ctl string
	select {
	case ctl = <-ready:
	case err := <-ctlDone:
		return err
	}
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte("load-test-token-000001"), 0o600)

	ml, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	metricsAddr := ml.Addr().String()
	ml.Close()
	var args []string
	if filepath.Base(binary) != "nines-probe" {
		args = append(args, "probe")
	}
	args = append(args, "--region", "eu-london", "--controller", "http://"+ctl, "--token-file", tokenFile,
		"--probe-id", "load", "--spool", filepath.Join(dir, "spool.db"), "--listen", metricsAddr, "--log-level", "warn")
	probe := exec.Command(binary, args...)
	probe.Stderr = os.Stderr
	if err := probe.Start(); err != nil {
		return err
	}
	pid := probe.Process.Pid
	startedAt := time.Now()
	fmt.Printf("probeload: %d checks a minute, fresh connection per check: %v, %s run, CPU measured after %s\n", n, !keepAlive, duration, warmup)

	time.Sleep(warmup)
	warmRSS, _ := proc.RSS(pid)
	warmPeak, _ := proc.PeakRSS(pid)
	cpu0, err := proc.CPUSeconds(pid)
	if err != nil {
		return err
	}
	from := time.Now()
	if cpuProfile != "" {
		go profile(metricsAddr, duration-warmup-2*time.Second)
	}
	time.Sleep(duration - warmup)
	cpu1, err := proc.CPUSeconds(pid)
	if err != nil {
		return err
	}
	to := time.Now()
	peak, _ := proc.PeakRSS(pid)
	endRSS, _ := proc.RSS(pid)
	anon, file, _ := proc.Resident(pid)
	if heapProfile != "" {
		save(fmt.Sprintf("http://%s/debug/pprof/heap", metricsAddr), heapProfile)
	}
	probe.Process.Signal(os.Interrupt)
	probe.Wait()
	cancel()
	<-ctlDone

	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "ctl", "nines.db")+"?mode=ro")
	if err != nil {
		return err
	}
	defer db.Close()
	var inWindow int
	if err := db.QueryRow(`SELECT COUNT(*) FROM results WHERE scheduled >= ? AND scheduled < ?`, from.UnixMilli(), to.UnixMilli()).Scan(&inWindow); err != nil {
		return err
	}
	rows, err := db.Query(`SELECT started_lag, outcome FROM results`)
	if err != nil {
		return err
	}
	var lags []int64
	down := 0
	for rows.Next() {
		var lag int64
		var up int
		rows.Scan(&lag, &up)
		lags = append(lags, lag)
		if up == 0 {
			down++
		}
	}
	rows.Close()
	var firstMinute int
	db.QueryRow(`SELECT COUNT(DISTINCT check_id) FROM results WHERE scheduled < ?`, startedAt.Add(time.Minute+2*time.Second).UnixMilli()).Scan(&firstMinute)
	slices.Sort(lags)
	window := to.Sub(from).Seconds()
	cpu := cpu1 - cpu0
	rate := float64(inWindow) / window
	fmt.Printf("checks run            %d in the %.0fs window (%d results in all, %d down)\n", inWindow, window, len(lags), down)
	fmt.Printf("checks per second     %.1f (target %.1f)\n", rate, float64(n)/60)
	perCheck := cpu / float64(inWindow) * 1000 // CPU-ms
	fmt.Printf("CPU                   %.3f CPU-ms per check (target: at most a bare GET's, below)\n", perCheck)
	fmt.Printf("CPU share             %.1f %% of one core (target < 10 %%)\n", cpu/window*100)
	fmt.Printf("peak RSS              %.1f MiB (target <= 20 MiB); %.1f MiB peak by the end of warm-up, RSS %.1f MiB then and %.1f MiB at the end\n",
		float64(peak)/(1<<20), float64(warmPeak)/(1<<20), float64(warmRSS)/(1<<20), float64(endRSS)/(1<<20))
	fmt.Printf("RSS at the end        %.1f MiB anonymous (heap, stacks, SQLite) + %.1f MiB file pages (the binary's code and data)\n",
		float64(anon)/(1<<20), float64(file)/(1<<20))
	fmt.Printf("schedule lateness     p50 %d ms, p99 %d ms, max %d ms (target p99 < 50 ms)\n", pct(lags, 50), pct(lags, 99), pct(lags, 100))
	fmt.Printf("first interval        %d of %d checks ran within their first minute\n", firstMinute, n)
	if baseline {
		ms, err := measureBaseline("http://"+tl.Addr().String()+"/bare", n, 30*time.Second)
		if err != nil {
			return err
		}
		fmt.Printf("baseline              %.3f CPU-ms per bare net/http GET on a fresh connection, same rate, one core\n", ms)
		fmt.Printf("probe / baseline      %.2f× (target <= 1, aim 0.8)\n", perCheck/ms)
	}
	return nil
}

// profile saves the probe's CPU profile to cpuProfile.
func profile(addr string, d time.Duration) {
	save(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, int(d.Seconds())), cpuProfile)
}

func save(url, file string) {
	resp, err := http.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		return
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	os.WriteFile(file, b, 0o644)
}

func pct(sorted []int64, p int) int64 {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	if i > 0 {
		i--
	}
	return sorted[min(i, len(sorted)-1)]
}
