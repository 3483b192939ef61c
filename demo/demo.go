// Package demo runs the whole system on one machine: contentsvc, the
// controller and one probe per region, all on loopback.
package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/configs"
	"github.com/nines-sre/nines/contentsvc"
	_ "github.com/nines-sre/nines/contentsvc/flowcheck" // the demo's content-flow check
	"github.com/nines-sre/nines/controller"
	"github.com/nines-sre/nines/probe"
	"github.com/nines-sre/nines/probe/browser"
	"github.com/nines-sre/nines/probe/check"
)

// Options configure the demo.
type Options struct {
	Listen           string // controller
	ContentsvcListen string
	DataDir          string
	// ConfigFile replaces the embedded configs/demo.yaml when set.
	ConfigFile string
	// Jobs adds the publish pipeline (configs/demo-jobs.yaml) to the
	// embedded configuration: a heartbeat check that contentsvc's publish
	// job reports in to. With ConfigFile, the job reports to the check
	// publish-pipeline when that configuration has it.
	Jobs bool
	// Browser is the Chromium the probes run browser checks with ("":
	// none); with it the embedded configuration gains the app page's
	// browser check (configs/demo-browser.yaml).
	Browser string
	// Users is the population of simulated real users (0: none), who
	// render RendersPerSecond in all.
	Users            int
	RendersPerSecond float64
	Version          string
	Logger           *slog.Logger
	// Out receives the URLs once everything listens.
	Out io.Writer
}

// pipelineCheck is the heartbeat check contentsvc's publish pipeline
// reports to, every pipelineEvery.
const (
	pipelineCheck = "publish-pipeline"
	pipelineEvery = 20 * time.Second
	// rendersSLO is the events SLO contentsvc pushes real users'
	// renders to.
	rendersSLO = "renders"
	// errorsRule is the event rule contentsvc tells of new error
	// fingerprints.
	errorsRule = "new-errors"
)

// Run starts everything and stops it all when ctx is done.
func Run(ctx context.Context, o Options) error {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if err := os.MkdirAll(o.DataDir, 0o750); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// contentsvc and the controller stop after the probes, so that each
	// probe's deregistration reaches a controller that still listens.
	svcCtx, stopServices := context.WithCancel(context.WithoutCancel(ctx))
	defer stopServices()
	var probes, wg sync.WaitGroup
	abort := func() { cancel(); stopServices() }
	errc := make(chan error, 16)
	start := func(name string, f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil && !errors.Is(err, context.Canceled) {
				errc <- fmt.Errorf("%s: %w", name, err)
				cancel()
			}
		}()
	}

	// The publish pipeline's ping URL, once the controller listens.
	var pipelineURL, rendersURL, errorsURL atomic.Value
	pipelineURL.Store("")
	rendersURL.Store("")
	errorsURL.Store("")
	csReady := make(chan string, 1)
	start("contentsvc", func() error {
		return contentsvc.Run(svcCtx, contentsvc.Options{Listen: o.ContentsvcListen, DataDir: filepath.Join(o.DataDir, "contentsvc"),
			Logger: o.Logger.With("service", "contentsvc"), Ready: csReady,
			Heartbeat: func() string { return pipelineURL.Load().(string) }, PipelineEvery: pipelineEvery,
			RendersSLI:  func() string { return rendersURL.Load().(string) },
			ErrorEvents: func() string { return errorsURL.Load().(string) }})
	})
	var csAddr string
	select {
	case csAddr = <-csReady:
	case err := <-errc:
		stopServices()
		wg.Wait()
		return err
	}
	csURL := "http://" + csAddr
	if err := os.WriteFile(filepath.Join(o.DataDir, "contentsvc.url"), []byte(csURL+"\n"), 0o644); err != nil {
		abort()
		wg.Wait()
		return fmt.Errorf("data directory: %w", err)
	}
	if err := errors.Join(mark(o.DataDir, "jobs", o.Jobs), mark(o.DataDir, "browser", o.Browser != "")); err != nil {
		abort()
		wg.Wait()
		return fmt.Errorf("data directory: %w", err)
	}
	if err := remember(o.DataDir); err != nil {
		o.Logger.Warn("`nines demo --scenario` will need --data: the demo's data directory could not be noted", "err", err)
	}

	raw, name := configs.Demo, configs.DemoName
	if o.Jobs {
		raw = bytes.Replace(raw, configs.DemoJobsMarker, configs.DemoJobs, 1)
	}
	if o.Browser != "" {
		raw = configs.WithBrowser(raw)
	}
	if o.ConfigFile != "" {
		b, err := os.ReadFile(o.ConfigFile)
		if err != nil {
			abort()
			wg.Wait()
			return fmt.Errorf("read config: %w", err)
		}
		raw, name = b, o.ConfigFile
	}
	// The announced maintenance: tomorrow, 02:00-03:00 UTC.
	tomorrow := time.Now().UTC().Truncate(24 * time.Hour).Add(24*time.Hour + 2*time.Hour)
	cfg, err := config.ParseWith(name, raw, func(k string) (string, bool) {
		switch k {
		case "NINES_CONTENTSVC_URL":
			return csURL, true
		case "NINES_DEMO_MAINTENANCE_START":
			return tomorrow.Format(time.RFC3339), true
		case "NINES_DEMO_MAINTENANCE_END":
			return tomorrow.Add(time.Hour).Format(time.RFC3339), true
		}
		return os.LookupEnv(k)
	})
	if err != nil {
		abort()
		wg.Wait()
		return fmt.Errorf("demo configuration:\n%w", err)
	}

	ctlReady := make(chan string, 1)
	start("controller", func() error {
		return controller.Run(svcCtx, controller.Options{Config: cfg, DataDir: filepath.Join(o.DataDir, "controller"), Listen: o.Listen,
			Logger: o.Logger.With("service", "controller"), Ready: ctlReady})
	})
	var ctlAddr string
	select {
	case ctlAddr = <-ctlReady:
	case err := <-errc:
		stopServices()
		wg.Wait()
		return err
	}
	ctlURL := "http://" + ctlAddr
	if ch := cfg.Check(pipelineCheck); ch != nil && ch.Heartbeat != nil {
		pipelineURL.Store(ctlURL + "/ping/" + pipelineCheck + "/" + ch.Heartbeat.Key)
	}
	if slo := cfg.SLO(rendersSLO); slo != nil && slo.Events != nil && slo.Events.Push != nil {
		rendersURL.Store(ctlURL + "/sli/" + rendersSLO + "/" + slo.Events.Push.Key)
	}
	for _, r := range cfg.Alerting.Rules {
		if r.ID == errorsRule && r.Kind == config.RuleEvent {
			errorsURL.Store(ctlURL + "/events/" + errorsRule + "/" + r.Key)
		}
	}
	start("users", func() error {
		Users{Users: o.Users, RendersPerSecond: o.RendersPerSecond, Log: o.Logger.With("service", "users")}.Run(ctx, csURL)
		return nil
	})
	if err := os.WriteFile(filepath.Join(o.DataDir, "controller.url"), []byte(ctlURL+"\n"), 0o644); err != nil {
		abort()
		wg.Wait()
		return fmt.Errorf("data directory: %w", err)
	}

	if err := os.MkdirAll(filepath.Join(o.DataDir, "probes"), 0o750); err != nil {
		abort()
		wg.Wait()
		return fmt.Errorf("data directory: %w", err)
	}
	probeAddrs := make([]string, len(cfg.Regions))
	for i, r := range cfg.Regions {
		token := ""
		for _, t := range cfg.Probes.Tokens {
			if t.Region == r.ID {
				token = t.Token
				break
			}
		}
		ready := make(chan string, 1)
		region := r.ID
		probes.Add(1)
		start("probe "+region, func() error {
			defer probes.Done()
			return probe.Run(ctx, probe.Options{Region: region, ProbeID: "demo-" + region, Controller: ctlURL, Token: token,
				Browser:   demoBrowser(o.Browser, o.Logger),
				SpoolPath: filepath.Join(o.DataDir, "probes", region+".db"), SpoolMaxBytes: 256 << 20, SpoolMaxAge: 24 * time.Hour, Listen: "127.0.0.1:0",
				Version: o.Version, Logger: o.Logger.With("service", "probe"), Registry: prometheus.NewRegistry(), Ready: ready})
		})
		select {
		case probeAddrs[i] = <-ready:
		case err := <-errc:
			abort()
			wg.Wait()
			return err
		}
	}

	fmt.Fprintf(o.Out, `nines demo is running (Ctrl-C stops it)
  status API   %[1]s/api/v1/status
  metrics      %[1]s/metrics
  contentsvc   %[2]s  (segments %[2]s/v1/segments?user_id=alice, CDN %[2]s/cdn/manifests/everyone.json)
  data         %[3]s
  status page  %[1]s/   (SRE view %[1]s/sre: user sre, password nines-demo)
  alerts sent  %[2]s/admin/notifications
Stage an incident in one region, then watch /api/v1/status say degraded, not down:
  curl -X POST %[2]s/admin/faults -d '{"target":"segments","region":"eu-frankfurt","error_status":503}'
  curl -X DELETE %[2]s/admin/faults
Or stage a whole scenario from another terminal, after make build: ./nines demo --scenario frankfurt-outage|cdn-outage|segments-slow|global-outage|clear
Probe metrics:
`, ctlURL, csURL, o.DataDir)
	for i, r := range cfg.Regions {
		fmt.Fprintf(o.Out, "  %-13s http://%s/metrics\n", r.ID, probeAddrs[i])
	}

	<-ctx.Done()
	probes.Wait() // each deregistered while the controller listens
	stopServices()
	wg.Wait()
	close(errc)
	for err := range errc {
		return err
	}
	return nil
}

// mark notes in dataDir whether the demo runs with a part (a file of that
// name: "jobs", the publish pipeline; "browser", the app page's browser
// check), for the scenarios that need it.
func mark(dataDir, part string, on bool) error {
	p := filepath.Join(dataDir, part)
	if on {
		return os.WriteFile(p, []byte(part+"\n"), 0o644)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// demoBrowser is a probe's browser when the demo runs with one: a page at
// a time, for the app page's check.
func demoBrowser(exec string, log *slog.Logger) check.BrowserRunner {
	if exec == "" {
		return nil
	}
	return browser.New(browser.Options{Exec: exec, MaxPages: 1, Logger: log.With("service", "probe")})
}
