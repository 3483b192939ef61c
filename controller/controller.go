// Package controller is the central service: it authenticates probes, hands
// out their assignments, ingests their results, confirms verdicts by quorum
// across healthy regions and serves the status API.
package controller

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/controller/alerts"
	"github.com/nines-sre/nines/controller/confirm"
	"github.com/nines-sre/nines/controller/fleet"
	"github.com/nines-sre/nines/controller/ingest"
	"github.com/nines-sre/nines/controller/ledger"
	"github.com/nines-sre/nines/controller/live"
	"github.com/nines-sre/nines/controller/pages"
	"github.com/nines-sre/nines/controller/promsli"
	"github.com/nines-sre/nines/controller/push"
	"github.com/nines-sre/nines/controller/replica"
	"github.com/nines-sre/nines/controller/store"
	"github.com/nines-sre/nines/dashboard"
	"github.com/nines-sre/nines/internal/clientlimit"
	"github.com/nines-sre/nines/internal/loop"
	"github.com/nines-sre/nines/model"
)

// Options configure a controller.
type Options struct {
	Config   *config.Config
	DataDir  string
	Listen   string
	Logger   *slog.Logger
	Registry *prometheus.Registry
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Ready, when set, receives the address the server listens on.
	Ready chan<- string
	// RawRetention and SliceRetention bound the history of raw results and
	// of minute slices; zero means the defaults.
	RawRetention, SliceRetention time.Duration
	// ConfigFile, when set, is reloaded when it changes, checked every
	// ReloadEvery (default 5s), and at once on a request on Reload (main
	// sends one on SIGHUP: signals belong to the process, not to this
	// package).
	ConfigFile  string
	ReloadEvery time.Duration
	Reload      <-chan struct{}
	// PublishEvery is the least time between two renders of the public
	// documents (status page, status JSON, badges) while what they show
	// keeps changing; default a second, < 0 renders them per request.
	PublishEvery time.Duration
	// AlertEvery is how often alert rules run (default 1s); NotifyClient
	// carries notifications (default: 30 s timeout).
	AlertEvery   time.Duration
	NotifyClient *http.Client
	// TLSCertFile and TLSKeyFile serve HTTPS; ClientCAFile then requires
	// probes to present a certificate signed by it (mutual TLS).
	TLSCertFile, TLSKeyFile, ClientCAFile string
	// NATSURL, when set, also takes results from NATS JetStream.
	NATSURL string
	// NATSWait is how long a NATS batch this controller cannot store yet
	// (a check or token its configuration does not hold) waits before it
	// is offered again; default a minute.
	NATSWait time.Duration
	// Database is a postgres:// URL, for replicas sharing one database,
	// or a SQLite file; empty means DataDir/nines.db.
	Database string
	// Replica names this controller among replicas (default host-pid);
	// LeaseTTL is how long a leader's lease lasts unrenewed (default 10s).
	Replica  string
	LeaseTTL time.Duration
	// SyncEvery is how often a replica takes in the heartbeats and results
	// that other replicas received (default 1s, so that its public
	// documents are about a second behind at most; PostgreSQL only).
	SyncEvery time.Duration
}

// Controller holds the running state.
type Controller struct {
	cfg     atomic.Pointer[config.Config]
	store   store.Store
	elector elector        // nil: this controller always leads
	shared  replica.Shared // nil: the store is this controller's alone
	replica string

	sync    *replica.Sync
	probes  *fleet.Fleet
	latest  *live.Latest
	live    live.View // latest and probes
	log     *slog.Logger
	now     func() time.Time
	metrics *metrics
	reg     *prometheus.Registry
	mtls    bool

	rawRetention, sliceRetention time.Duration

	reload reloader
	alerts *alerts.Alerts
	dash   *dashboard.Server
	pages  *pages.Source

	changes atomic.Uint64 // bumped when what the public documents show changes
	leading atomic.Bool   // this replica leads (with an elector)
	// listenURL is where the controller serves (ListenURL), for links when
	// the configuration gives no dashboard_url.
	listenURL string
	// guesses limits wrong credentials per client (api.go).
	guesses *clientlimit.Limits
	// polling holds the probes waiting in the confirmation long-poll
	// (region/probe), one each.
	polling sync.Map
	// lastExport is what the static export last wrote; only the leader's
	// export loop touches it.
	lastExport exported
	ledger     *ledger.Ledger
	promsli    *promsli.Source
	published  published
	ingest     *ingest.Ingester
	push       *push.Push
	confirm    *confirm.Rounds
}

// New opens the store and builds a controller; it does not serve.
func New(ctx context.Context, o Options) (*Controller, error) {
	if o.Config == nil {
		return nil, errors.New("controller: no configuration")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Registry == nil {
		// A process of its own: the Go runtime's and the process's
		// metrics, as every Prometheus user expects.
		o.Registry = prometheus.NewRegistry()
		o.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	if o.Replica == "" {
		host, _ := os.Hostname()
		o.Replica = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	st, el, err := openStore(ctx, o)
	if err != nil {
		return nil, err
	}
	c := &Controller{store: st, elector: el, replica: o.Replica, latest: live.NewLatest(), log: o.Logger, now: o.Now, reg: o.Registry,
		rawRetention: o.RawRetention, sliceRetention: o.SliceRetention, guesses: newGuessLimits()}
	if c.rawRetention <= 0 {
		c.rawRetention = DefaultRawRetention
	}
	if c.sliceRetention <= 0 {
		c.sliceRetention = DefaultSliceRetention
	}
	c.probes = &fleet.Fleet{Registry: fleet.NewRegistry(), Store: st, Log: o.Logger,
		Skewed: func(region string) { c.metrics.skew.WithLabelValues(region).Inc() }}
	c.live = live.View{Latest: c.latest, Probes: c.probes.Registry}
	c.listenURL = ListenURL(o.Listen, o.TLSCertFile != "" || o.Config.Dashboard.BehindTLS)
	c.install(o.Config)
	c.logWarnings(o.Config)
	c.shared, _ = st.(replica.Shared)
	c.confirm = confirm.New(func(cfg *config.Config, check, region string) string {
		return c.probes.OwnerOf(cfg, check, region, c.now())
	}, o.Registry)
	c.sync = &replica.Sync{Store: st, Probes: c.probes.Registry, Latest: c.latest, Config: c.Config, Now: o.Now,
		Took: func(rs []model.Result) { c.confirm.Answered(rs, c.now()) }}
	// What the store knows: when each region was healthy, the newest
	// results and the probes heard from.
	spans, err := st.Health(ctx, o.Now().Add(-c.rawRetention))
	if err != nil {
		st.Close()
		return nil, err
	}
	c.probes.LoadHealth(spans)
	if err := c.sync.Run(ctx); err != nil {
		st.Close()
		return nil, err
	}
	c.metrics = newMetrics()
	c.ledger = ledger.New(ledger.Options{Store: st, Config: c.Config, Now: o.Now, HealthyAt: c.probes.HealthyAtFor, Changed: c.changed,
		SliceLag: c.metrics.sliceLag})
	c.ingest = ingest.New(ingest.Options{Store: st, Config: c.Config, Now: o.Now, Log: o.Logger, RawRetention: c.rawRetention, Stored: c.stored,
		Metrics: ingest.Metrics{Results: c.metrics.ingested, Batches: c.metrics.batches, Skew: c.metrics.skew}})
	if ns, ok := st.(confirm.Notices); ok {
		c.confirm.Share(ns, o.Logger) // replicas: a round reaches probes polling another
	}
	c.promsli = promsli.New(promsli.Options{Store: st, Config: c.Config, Now: o.Now, Log: o.Logger,
		Failed: func(slo string) { c.metrics.sliReads.WithLabelValues(slo).Inc() }})
	c.push = push.New(push.Options{Store: st, Config: c.Config, Now: o.Now, Log: o.Logger, Newest: func(check string) time.Time { return c.latest.Newest(check, model.PushRegion) }, Stored: c.stored, Counts: st,
		Events: st, Evented: func() { c.alerts.Poke() }})
	c.alerts = alerts.New(alerts.Options{Store: st, Config: c.Config, Now: o.Now, Log: o.Logger, Live: c.live,
		SLOReport: c.ledger.SLOReport, NotifyClient: o.NotifyClient, Registry: o.Registry})
	if el != nil {
		c.alerts.Dispatcher().Fence = el.Leading
	}
	publish := c.publishOptions(o.PublishEvery)
	c.initPublished(publish)
	publicURL := func() string { return strings.TrimRight(c.Config().Alerting.DashboardURL, "/") }
	c.pages = pages.New(pages.Options{Store: st, Config: c.Config, Now: o.Now, Live: c.live, Ledger: c.ledger, Publish: publish, PublicURL: publicURL,
		Published: func(ctx context.Context) (*live.StatusResponse, error) {
			e, err := c.published.status.Get(ctx)
			if err != nil {
				return nil, err
			}
			return e.Value, nil
		},
		Status: c.Status, Kept: c.rawRetention, Acknowledge: func(ctx context.Context, key, by string) error {
			_, err := c.alerts.Acknowledge(ctx, key, by)
			return err
		}, Changed: c.changed})
	c.dash = dashboard.New(dashboard.Options{Source: c.pages, Sessions: pages.Sessions{Store: st},
		Subscriptions: &pages.Subscriptions{Store: st, Config: c.Config, Now: o.Now}, Users: func() []dashboard.User { return pages.Users(c.Config()) },
		Logger: o.Logger, Now: o.Now, Secure: o.TLSCertFile != "" || o.Config.Dashboard.BehindTLS, Publish: publish, PublicURL: publicURL})
	c.metrics.reloadOK.Set(1)
	c.metrics.reloadTime.Set(float64(o.Now().Unix()))
	for _, m := range []prometheus.Collector{c.metrics, live.Collector{View: c.live, Config: c.Config, Now: o.Now}, c.ledger.Collector(o.Logger)} {
		if err := o.Registry.Register(m); err != nil {
			st.Close()
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return c, nil
}

// install puts cfg in force. Without alerting.dashboard_url, links (in
// notifications, feeds, the v2 API) use the address the controller
// listens on, never a relative path or a request's Host header.
func (c *Controller) install(cfg *config.Config) {
	if cfg.Alerting.DashboardURL == "" {
		cfg.Alerting.DashboardURL = c.listenURL
	}
	c.cfg.Store(cfg)
}

// ListenURL is the address a controller listening on listen serves at,
// for links when no dashboard_url is configured: a host left out is
// localhost.
func ListenURL(listen string, tls bool) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		host, port = listen, ""
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	scheme := "http"
	if tls {
		scheme = "https"
	}
	if port == "" {
		return scheme + "://" + host
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// Close releases the store.
func (c *Controller) Close() error { return c.store.Close() }

// stored takes in results newly stored: each may be its region's newest,
// and each makes a minute to slice.
func (c *Controller) stored(rs []model.Result) {
	c.ledger.Arrived(time.Now())
	if cfg, now := c.Config(), c.now(); cfg.ConfirmsOnDemand() {
		c.confirm.Stored(cfg, rs, func(ch *config.Check) model.Status { return c.live.Verdict(cfg, ch, now).Status }, c.latest.LastFailure,
			func() map[string]bool { return c.probes.HealthyRegions(now, cfg.UnhealthyAfter()) }, now)
	}
	flips := c.latest.Flips()
	for _, r := range rs {
		c.latest.Offer(r)
	}
	if c.latest.Flips() != flips {
		c.alerts.Poke() // a region's view changed: the verdict may have
	}
}

// Ledger returns the SLA read model.
func (c *Controller) Ledger() *ledger.Ledger { return c.ledger }

// Config returns the configuration in force.
func (c *Controller) Config() *config.Config { return c.cfg.Load() }

// Run serves until ctx is done, then shuts down gracefully.
func Run(ctx context.Context, o Options) error {
	c, err := New(ctx, o)
	if err != nil {
		return err
	}
	defer c.Close()
	tcfg, err := tlsConfig(o)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", o.Listen, err)
	}
	if tcfg != nil {
		ln = tls.NewListener(ln, tcfg)
		c.mtls = tcfg.ClientCAs != nil
	}
	// A slow or idle client is cut off: a whole request (an 8 MiB result
	// batch from a far region at 150 KB/s included) must arrive within a
	// minute, an answer be written within one, and an idle connection
	// lasts two.
	srv := &http.Server{Handler: c.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute}
	srv.RegisterOnShutdown(c.confirm.Close) // long-polls end at once
	c.log.Info("controller listening", "addr", ln.Addr().String(), "config", o.Config.File, "config_version", o.Config.Version,
		"checks", len(o.Config.AllChecks()), "regions", len(o.Config.Regions))
	if o.Ready != nil {
		o.Ready <- ln.Addr().String()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	// Every loop belongs to a lifetime and is waited for: the process's
	// (running), and each leadership's (gen), which has stopped before
	// the next starts; all have stopped before the store closes.
	loops, stopLoops := context.WithCancel(ctx)
	var running sync.WaitGroup
	defer func() { stopLoops(); running.Wait() }()
	deadmanClient := o.NotifyClient
	if deadmanClient == nil {
		deadmanClient = &http.Client{Timeout: 10 * time.Second}
	}
	alertEvery := o.AlertEvery
	if alertEvery <= 0 {
		alertEvery = time.Second
	}
	// The leader alone slices, prunes, evaluates rules, dispatches
	// notifications and exports the status page.
	lead := func(ctx context.Context, gen *sync.WaitGroup) {
		gen.Go(func() { c.every(ctx, 2*time.Second, false, "slice evaluation", c.ledger.EvaluateSlices) })
		gen.Go(func() { c.every(ctx, 10*time.Minute, true, "retention", c.Prune) })
		gen.Go(func() {
			c.alerts.Loop(ctx, alertEvery, c.EvaluateAlerts, func(err error) { c.log.Error("alert evaluation failed; trying again", "err", err) },
				func(d time.Duration) { c.metrics.loops.WithLabelValues("alert evaluation").Observe(d.Seconds()) })
		})
		gen.Go(func() { c.alerts.Dispatch(ctx) })
		gen.Go(func() { c.every(ctx, time.Second, true, "status page export", c.exportChanged) })
		gen.Go(func() { c.every(ctx, 30*time.Second, false, "forgetting silent probes", c.ForgetSilentProbes) })
		gen.Go(func() { c.alerts.Deadman(ctx, deadmanClient, c.metrics.deadman) })
		gen.Go(func() { c.every(ctx, time.Second, false, "heartbeat misses", c.push.Misses) })
		gen.Go(func() { c.every(ctx, 15*time.Second, true, "events SLI reads", c.promsli.Poll) })
	}
	if c.elector == nil {
		c.metrics.leader.Set(1)
		lead(loops, &running)
	} else {
		syncEvery := o.SyncEvery
		if syncEvery <= 0 {
			syncEvery = time.Second
		}
		// A replica that does not lead learns of incidents and maintenance
		// the leader wrote only from the store: its public documents are
		// rebuilt after every sync (the leader's, when something changed).
		running.Go(func() {
			c.every(loops, syncEvery, false, "replica sync", func(ctx context.Context) error {
				err := c.sync.Run(ctx)
				if !c.leading.Load() {
					c.changed()
				}
				return err
			})
		})
		running.Go(func() {
			var gen sync.WaitGroup
			var stop context.CancelFunc = func() {}
			c.elector.Run(loops, func(leading bool) {
				stop()
				gen.Wait()
				c.leading.Store(leading)
				if leading {
					c.metrics.leader.Set(1)
					// A new leader starts from what every replica knows.
					if err := c.sync.Run(loops); err != nil {
						c.log.Warn("replica sync", "err", err)
					}
					var ctx context.Context
					ctx, stop = context.WithCancel(loops)
					lead(ctx, &gen)
				} else {
					c.metrics.leader.Set(0)
				}
			})
			stop()
			gen.Wait()
		})
	}
	running.Go(func() { c.confirm.Listen(loops) })
	if o.NATSURL != "" {
		running.Go(func() { c.ingest.NATS(loops, o.NATSURL, o.NATSWait) })
	}
	if o.ConfigFile != "" {
		every := o.ReloadEvery
		if every <= 0 {
			every = 5 * time.Second
		}
		running.Go(func() { c.watchConfig(loops, o.ConfigFile, every, o.Reload) })
	}
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	c.log.Info("controller stopped")
	return nil
}

// Handler returns the HTTP API.
func (c *Controller) Handler() http.Handler {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.JSONSerializer = jsonSerializer{}
	e.HTTPErrorHandler = c.httpError
	c.routes(e)
	return e
}

// every runs fn every interval (loop.Every), logging its failures and
// timing its runs.
func (c *Controller) every(ctx context.Context, interval time.Duration, now bool, what string, fn func(context.Context) error) {
	loop.Every(ctx, interval, now, fn, func(err error) { c.log.Error(what+" failed; trying again", "err", err) },
		func(d time.Duration) { c.metrics.loops.WithLabelValues(what).Observe(d.Seconds()) })
}
