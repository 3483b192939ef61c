// Package probe is the agent that runs in every region: it registers and
// heartbeats with the controller, pulls its assignment, schedules and runs
// checks, writes every result to a durable local spool and ships batches
// to the controller, deleting only what the controller acknowledged.
package probe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/nines-sre/nines/model"
	"github.com/nines-sre/nines/probe/check"
	"github.com/nines-sre/nines/transport"
)

// Options configure a probe agent.
type Options struct {
	Region     string
	ProbeID    string
	Controller string // base URL
	Token      string
	SpoolPath  string
	// SpoolMaxBytes and SpoolMaxAge bound the spool; past either the oldest
	// results are dropped first, and counted. Zero means unbounded.
	SpoolMaxBytes int64
	SpoolMaxAge   time.Duration
	// Listen serves /metrics and /healthz; empty disables it.
	Listen   string
	Version  string
	Logger   *slog.Logger
	Registry *prometheus.Registry
	// BatchSize is the most results per shipment.
	BatchSize int
	// MaxBackoff caps the wait between retries while the controller is away.
	MaxBackoff time.Duration
	// Ready, when set, receives the metrics address once serving.
	Ready chan<- string
	// CAFile verifies the controller's certificate (default: system roots);
	// CertFile and KeyFile are this probe's client certificate for mutual
	// TLS.
	CAFile, CertFile, KeyFile string
	// NATSURL, when set, ships results through NATS JetStream instead of
	// POSTing them to the controller (heartbeats and assignments stay HTTP).
	NATSURL string
	// Now is the probe's clock: the scheduled times of its results, its
	// heartbeats and its spool's ages; nil means time.Now.
	Now func() time.Time
	// Watchdog pages through PagerDuty when no controller is reached for
	// a while (watchdog.go); without a routing key there is none.
	Watchdog WatchdogOptions
	// Browser, when set, runs browser checks (probe/browser): the probe
	// says so when it registers, and is assigned them; it is closed when
	// the probe stops.
	Browser check.BrowserRunner
}

// Probe is a running agent.
type Probe struct {
	opts  Options
	log   *slog.Logger
	api   *client
	spool *Spool
	m     *metrics
	env   check.Env
	sched *scheduler
	pub   *transport.Publisher
	reach *reach
	// attested are the spans of this probe's network seen working while
	// no controller answered (attest.go).
	attested attestations
	now      func() time.Time
	wake     chan struct{}
	queue    chan *model.Result // results on their way into the spool

	mu         sync.Mutex
	assignment string
	lastOK     time.Time
	lostAt     time.Time // the first failed call to the controller since lastOK
	offset     *int64    // clock offset to the controller, ms; nil until measured
	started    time.Time
	// capabilities are what it says it can run (a browser).
	capabilities []string
	interval     time.Duration
}

const assignmentKey = "assignment"

// maxOffsetRTT is the longest heartbeat round trip from which the clock
// offset to the controller is measured.
const maxOffsetRTT = 2 * time.Second

// writeLinger is how long a finished result may wait in memory for others
// to share its spool transaction: at 10,000 checks a minute four
// transactions a second, each of some forty results, instead of one per
// result. A crash loses at most this much of the results just finished.
const writeLinger = 250 * time.Millisecond

// Run runs the agent until ctx is done.
func Run(ctx context.Context, o Options) error {
	switch {
	case o.Region == "":
		return errors.New("probe: --region is required")
	case o.Controller == "":
		return errors.New("probe: --controller is required")
	case o.Token == "":
		return errors.New("probe: a token is required (--token-file)")
	case o.SpoolPath == "":
		return errors.New("probe: --spool is required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Registry == nil {
		// A process of its own: the Go runtime's and the process's
		// metrics, as every Prometheus user expects.
		o.Registry = prometheus.NewRegistry()
		o.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 1000
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 15 * time.Second
	}
	if o.ProbeID == "" {
		o.ProbeID = o.Region + "-1"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	spool, err := OpenSpool(ctx, o.SpoolPath, o.SpoolMaxBytes, o.SpoolMaxAge)
	if err != nil {
		return err
	}
	defer spool.Close()
	spool.now = o.Now
	agent := "nines-probe/" + o.Version
	api, err := newClient(o.Controller, o.Token, agent, o.CAFile, o.CertFile, o.KeyFile)
	if err != nil {
		return err
	}
	p := &Probe{
		opts:     o,
		log:      o.Logger.With("region", o.Region, "probe", o.ProbeID),
		api:      api,
		spool:    spool,
		env:      check.Env{Region: o.Region, UserAgent: agent},
		now:      o.Now,
		wake:     make(chan struct{}, 1),
		queue:    make(chan *model.Result, 4096),
		started:  o.Now().UTC(),
		interval: 10 * time.Second,
	}
	if o.Browser != nil {
		p.env.Browser = o.Browser
		defer o.Browser.Close()
		p.capabilities = []string{model.CapabilityBrowser}
	}
	p.m = newMetrics(o.Registry, func() float64 { return float64(spool.Depth()) }, func() float64 { return p.now().Sub(p.lastReached()).Seconds() })
	p.reach = newReach(p.now, func(ctx context.Context) error {
		// Any answer, even an error status, shows the network reaches a
		// controller.
		if resp, err := api.do(ctx, http.MethodGet, "/healthz", nil, nil, nil); resp == nil {
			return err
		}
		return nil
	})
	if o.NATSURL != "" {
		if p.pub, err = transport.NewPublisher(o.NATSURL, o.Region, o.Token, o.ProbeID); err != nil {
			return err
		}
		defer p.pub.Close()
	}
	p.sched = newScheduler(p)

	var a model.Assignment
	if err := p.attested.load(ctx, spool); err != nil {
		p.log.Warn("spans of this probe's network seen working, kept from before, not read", "err", err)
	}
	if err := spool.getMeta(ctx, assignmentKey, &a); err == nil {
		p.adopt(&a)
		p.log.Info("running the saved assignment until the controller answers", "checks", len(a.Checks), "version", a.Version)
	}
	if o.Listen != "" {
		srv, addr, err := p.serve(o.Listen)
		if err != nil {
			return err
		}
		defer srv.Close()
		if o.Ready != nil {
			o.Ready <- addr
		}
	}
	// Shutdown order: the scheduler waits for running checks, the spool
	// writer then stores what they produced, and a last shipment goes out.
	var wg sync.WaitGroup
	wg.Go(func() { p.heartbeatLoop(ctx) })
	wg.Go(func() { p.shipLoop(ctx) })
	if o.Watchdog.RoutingKey != "" {
		wd := newWatchdog(p, o.Watchdog)
		wg.Go(func() { wd.run(ctx) })
		p.log.Info("watchdog armed", "after", wd.o.After, "dedup_key", wd.o.DedupKey)
	}
	written := make(chan struct{})
	go func() { defer close(written); p.writeLoop() }()
	p.log.Info("probe started", "controller", o.Controller, "spool", o.SpoolPath, "spooled", spool.Depth())
	p.sched.run(ctx)
	close(p.queue)
	<-written
	wg.Wait()
	p.flush(context.WithoutCancel(ctx), 2*time.Second)
	p.deregister(context.WithoutCancel(ctx))
	p.log.Info("probe stopped", "spooled", spool.Depth())
	return nil
}

// record hands a finished result to the spool writer.
func (p *Probe) record(r *model.Result) { p.queue <- r }

// writeLoop stores results in the spool, several to a transaction when they
// arrive together, and wakes the shipper once a batch is ready.
func (p *Probe) writeLoop() {
	ctx := context.Background()
	batch := make([]*model.Result, 0, 256)
	linger := time.NewTimer(0)
	<-linger.C
	for r := range p.queue {
		// Results that finish close together share one transaction: the
		// first waits at most writeLinger for company.
		// A failure does not wait: it is stored and shipped at once, so
		// the controller can confirm an outage without the linger.
		batch = append(batch[:0], r)
		urgent := r.Outcome != model.OutcomeUp
		linger.Reset(writeLinger)
	more:
		for !urgent && len(batch) < cap(batch) {
			select {
			case r, ok := <-p.queue:
				if !ok {
					break more
				}
				batch = append(batch, r)
				urgent = r.Outcome != model.OutcomeUp
			case <-linger.C:
				break more
			}
		}
		if !linger.Stop() {
			select {
			case <-linger.C:
			default:
			}
		}
		dropped, err := p.spool.Put(ctx, batch...)
		if err != nil {
			p.log.Error("results lost: spool write failed", "results", len(batch), "err", err)
			continue
		}
		if dropped > 0 {
			p.m.dropped.Add(float64(dropped))
			p.log.Warn("spool bounds reached: dropped the oldest results", "dropped", dropped)
		}
		if urgent || p.spool.Depth() >= p.opts.BatchSize {
			select {
			case p.wake <- struct{}{}:
			default:
			}
		}
	}
}

func (p *Probe) adopt(a *model.Assignment) {
	a.Version = strings.Trim(a.Version, `"`)
	p.sched.apply(a)
	if p.pub != nil {
		p.pub.SetScope(a.NATSScope)
	}
	p.mu.Lock()
	p.assignment = a.Version
	p.mu.Unlock()
	p.m.assignments.Set(float64(len(a.Checks)))
}

func (p *Probe) newBackoff() *backoff.ExponentialBackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 500 * time.Millisecond
	b.MaxInterval = p.opts.MaxBackoff
	return b
}

// heartbeatLoop registers, then heartbeats every interval; each answer names
// the current assignment, fetched when it changed.
func (p *Probe) heartbeatLoop(ctx context.Context) {
	path := "/api/v1/probes/register"
	bo := p.newBackoff()
	for {
		err := p.beat(ctx, path)
		p.mu.Lock()
		wait := p.interval
		p.mu.Unlock()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			p.setReachable(false)
			if err := p.attested.note(ctx, p.spool, p.reach.networkSeen()); err != nil {
				p.log.Warn("this probe's network seen working: not kept", "err", err)
			}
			wait = bo.NextBackOff()
			p.log.Warn("controller unreachable", "err", err, "retry_in", wait.Round(time.Millisecond))
		} else {
			path = "/api/v1/probes/heartbeat"
			bo.Reset()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

func (p *Probe) beat(ctx context.Context, path string) error {
	p.mu.Lock()
	current := p.assignment
	p.mu.Unlock()
	p.mu.Lock()
	offset := p.offset
	p.mu.Unlock()
	sent := p.now()
	hb := model.Heartbeat{Probe: p.opts.ProbeID, Region: p.opts.Region, Version: p.opts.Version, StartedAt: p.started,
		SentAt: sent.UTC(), SpoolDepth: p.spool.Depth(), Assignment: current, ClockOffsetMS: offset, Attested: p.attested.pending(),
		Capabilities: p.capabilities}
	ack, err := p.api.heartbeat(ctx, path, &hb)
	if err != nil {
		return err
	}
	p.setReachable(true)
	if err := p.attested.sent(ctx, p.spool, hb.Attested); err != nil {
		p.log.Warn("spans of this probe's network seen working: sent, but kept", "err", err)
	}
	// The clock offset, NTP-style, from a quick round trip only.
	if got := p.now(); !ack.ServerTime.IsZero() && got.Sub(sent) < maxOffsetRTT {
		ms := sent.Add(got.Sub(sent) / 2).Sub(ack.ServerTime).Milliseconds()
		p.mu.Lock()
		p.offset = &ms
		p.mu.Unlock()
	}
	if ack.HeartbeatInterval > 0 {
		p.mu.Lock()
		p.interval = ack.HeartbeatInterval
		p.mu.Unlock()
	}
	if strings.Trim(ack.Assignment, `"`) == current {
		return nil
	}
	a, raw, err := p.api.assignment(ctx, p.opts.ProbeID, `"`+current+`"`)
	if err != nil || a == nil {
		return err
	}
	if err := p.spool.setMeta(ctx, assignmentKey, raw); err != nil {
		p.log.Warn("assignment not saved", "err", err)
	}
	p.log.Info("assignment received", "checks", len(a.Checks), "version", strings.Trim(a.Version, `"`))
	p.adopt(a)
	return nil
}

// deregister tells the controller this probe is going, so that its checks
// move to the region's other probes now rather than after missed heartbeats.
func (p *Probe) deregister(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	hb := model.Heartbeat{Probe: p.opts.ProbeID, Region: p.opts.Region, StartedAt: p.started, SentAt: p.now().UTC()}
	if _, err := p.api.do(ctx, http.MethodPost, "/api/v1/probes/deregister", &hb, nil, nil); err != nil {
		p.log.Warn("deregister failed; the controller will notice the silence", "err", err)
	}
}

func (p *Probe) setReachable(ok bool) {
	if ok {
		p.reach.controllerOK()
		p.m.controller.Set(1)
		p.mu.Lock()
		p.lastOK = p.now()
		p.mu.Unlock()
	} else {
		p.m.controller.Set(0)
		p.mu.Lock()
		if !p.lostAt.After(p.lastOK) {
			p.lostAt = p.now()
		}
		p.mu.Unlock()
	}
}

// shipLoop sends spooled results, oldest first, every second or as soon as a
// full batch waits; while the controller is away it backs off and retries.
func (p *Probe) shipLoop(ctx context.Context) {
	bo := p.newBackoff()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		case <-tick.C:
		}
		for {
			n, err := p.shipOnce(ctx)
			if err != nil {
				if ctx.Err() != nil {
					break
				}
				p.setReachable(false)
				wait := bo.NextBackOff()
				p.log.Warn("shipping results failed", "err", err, "spooled", p.spool.Depth(), "retry_in", wait.Round(time.Millisecond))
				select {
				case <-ctx.Done():
				case <-time.After(wait):
				}
				continue
			}
			bo.Reset()
			if n < p.opts.BatchSize {
				break
			}
		}
	}
}

// flush makes one last attempt to ship on the way out.
func (p *Probe) flush(ctx context.Context, limit time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for p.spool.Depth() > 0 {
		if n, err := p.shipOnce(ctx); err != nil || n == 0 {
			return
		}
	}
}

// shipOnce sends one batch and deletes what the controller acknowledged.
func (p *Probe) shipOnce(ctx context.Context) (int, error) {
	batch, err := p.spool.Peek(ctx, p.opts.BatchSize)
	if err != nil || len(batch) == 0 {
		return 0, err
	}
	batch = boundBytes(batch, maxShipBytes)
	ids := make([]int64, len(batch))
	raw := make([][]byte, len(batch))
	for i, sr := range batch {
		ids[i], raw[i] = sr.ID, sr.JSON
	}
	if p.pub != nil {
		body, err := p.api.encode(p.opts.ProbeID, raw)
		if err == nil {
			err = p.pub.Publish(ctx, fmt.Sprintf("%s-%d-%d", p.opts.ProbeID, ids[0], ids[len(ids)-1]), body)
		}
		if err != nil {
			p.m.batches.WithLabelValues("error").Inc()
			return 0, err
		}
		p.m.batches.WithLabelValues("ok").Inc()
		p.m.shipped.WithLabelValues("published").Add(float64(len(ids)))
		if err := p.spool.Delete(ctx, ids); err != nil {
			return 0, fmt.Errorf("published results stay spooled: %w", err)
		}
		return len(batch), nil
	}
	ack, err := p.api.ship(ctx, p.opts.ProbeID, raw)
	if err != nil {
		p.m.batches.WithLabelValues("error").Inc()
		return 0, err
	}
	p.m.batches.WithLabelValues("ok").Inc()
	p.setReachable(true)
	p.m.shipped.WithLabelValues("stored").Add(float64(ack.Stored))
	p.m.shipped.WithLabelValues("duplicate").Add(float64(ack.Duplicates))
	p.m.shipped.WithLabelValues("rejected").Add(float64(len(ack.Rejected)))
	for _, rej := range ack.Rejected {
		p.log.Error("controller rejected a result", "key", rej.Key, "err", rej.Error)
	}
	if err := p.spool.Delete(ctx, ids); err != nil {
		return 0, fmt.Errorf("acknowledged results stay spooled: %w", err)
	}
	return len(batch), nil
}

// serve exposes /metrics and /healthz.
func (p *Probe) serve(addr string) (*http.Server, string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.Handle("GET /metrics", promhttp.HandlerFor(p.opts.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		last, assignment := p.lastOK, p.assignment
		p.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "ok\nregion %s\nprobe %s\nassignment %s\nspooled %d\nlast_controller_contact %s\n",
			p.opts.Region, p.opts.ProbeID, assignment, p.spool.Depth(), last.UTC().Format(time.RFC3339))
	})
	// Scrapes are small and quick; a CPU profile takes up to 30 s to write.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: time.Minute, IdleTimeout: time.Minute}
	go srv.Serve(ln) //nolint:errcheck // closed on shutdown
	p.log.Info("probe metrics listening", "addr", ln.Addr().String())
	return srv, ln.Addr().String(), nil
}

// maxShipBytes bounds one shipment's results (as JSON, before gzip): a
// batch of screenshots stays well under a NATS message's 1 MiB and the
// controller's limit.
const maxShipBytes = 768 << 10

// boundBytes is the first of batch that hold no more than max bytes, one
// at least.
func boundBytes(batch []Spooled, max int) []Spooled {
	total := 0
	for i, sr := range batch {
		if total += len(sr.JSON); total > max && i > 0 {
			return batch[:i]
		}
	}
	return batch
}
