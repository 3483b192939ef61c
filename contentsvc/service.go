// Package contentsvc is the content and segment service that nines ships as
// its reference system under test: a dynamic segments API, a static CDN of
// published content, and a fault injector to stage incidents per region.
package contentsvc

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/nines-sre/nines/contentsvc/events"
	"github.com/nines-sre/nines/internal/atomicfile"
	"github.com/nines-sre/nines/internal/clientlimit"
	"github.com/nines-sre/nines/model"
)

// Options configure the service.
type Options struct {
	Listen  string
	DataDir string
	// AdminToken, when set, is required as a bearer token on /admin and on
	// content changes.
	AdminToken string
	// Segments are the segment rules (default: DefaultSegments).
	Segments []SegmentRule
	Logger   *slog.Logger
	Ready    chan<- string
	// Heartbeat, when set, gives the URL of the heartbeat check the publish
	// pipeline pings every PipelineEvery (default 1m); "" while unknown.
	Heartbeat     func() string
	PipelineEvery time.Duration
	// RendersSLI, when set, gives the push URL of the nines SLO that
	// counts real users' renders (/sli/{slo}/{key}), where the renders of
	// each minute go every RendersEvery (default 15s); "" while unknown.
	RendersSLI   func() string
	RendersEvery time.Duration
	// ErrorEvents, when set, gives the URL of the nines event rule
	// (/events/{rule}/{key}) told of every new error fingerprint, within
	// ErrorEventsEvery (default 5s); "" while unknown.
	ErrorEvents      func() string
	ErrorEventsEvery time.Duration
	// NATSURL, when set, puts the event queue on that NATS server's
	// JetStream instead of the embedded queue in DataDir.
	NATSURL string
	// Registry takes contentsvc's metrics (default: a registry of its
	// own, with the Go runtime's and the process's).
	Registry *prometheus.Registry
}

// Service is the running content service.
type Service struct {
	dataDir string
	cdnDir  string
	rules   []SegmentRule
	now     func() time.Time

	contentMu sync.Mutex

	token  string
	faults *faults
	log    *slog.Logger

	etagMu sync.Mutex
	etags  map[string]etagEntry

	noteMu sync.Mutex
	notes  []map[string]any

	m    *metrics
	errs sdkErrors

	// The event pipeline: the intake's limits, the durable queue and
	// what the consumer made of the events.
	limits   *clientlimit.Limits
	queue    events.Queue
	evstore  *events.Store
	pipeline *events.Pipeline
}

type etagEntry struct {
	mod  time.Time
	size int64
	etag string
}

// New prepares the service, seeding the CDN directory when it is empty.
func New(o Options) (*Service, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Segments == nil {
		o.Segments = DefaultSegments
	}
	s := &Service{dataDir: o.DataDir, cdnDir: filepath.Join(o.DataDir, "cdn"), rules: o.Segments, now: time.Now, token: o.AdminToken,
		faults: newFaults(time.Now), log: o.Logger, etags: map[string]etagEntry{}}
	s.m = newMetrics(o.Registry, s.faults)
	s.limits = newIntakeLimits(func() time.Time { return s.now() })
	s.errs.seen = map[string]bool{}
	if err := s.seed(); err != nil {
		return nil, err
	}
	if err := s.openEvents(context.Background(), o.NATSURL); err != nil {
		return nil, err
	}
	return s, nil
}

// openEvents opens the event pipeline's queue and database in the data
// directory.
func (s *Service) openEvents(ctx context.Context, natsURL string) error {
	dir := filepath.Join(s.dataDir, "events")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("event pipeline: %w", err)
	}
	var q events.Queue
	var err error
	if natsURL != "" {
		q, err = events.OpenNATSQueue(ctx, natsURL)
	} else {
		q, err = events.OpenFileQueue(ctx, filepath.Join(dir, "queue.db"))
	}
	if err != nil {
		return fmt.Errorf("event pipeline: %w", err)
	}
	st, err := events.OpenStore(ctx, filepath.Join(dir, "events.db"))
	if err != nil {
		q.Close()
		return fmt.Errorf("event pipeline: %w", err)
	}
	s.queue, s.evstore = q, st
	s.pipeline = &events.Pipeline{Queue: q, Store: st, Now: s.now, Log: s.log, Processed: s.processed}
	s.m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "contentsvc_event_queue_depth",
		Help: "Events queued and not yet processed (batches, on NATS)."}, func() float64 {
		n, _ := q.Depth(context.Background())
		return float64(n)
	}))
	return nil
}

// processed counts what the consumer did with a batch.
func (s *Service) processed(out events.Outcome) {
	for _, e := range out.New {
		s.m.processed.WithLabelValues(e.Type).Inc()
		if e.Render != nil {
			s.m.renders.WithLabelValues(e.Render.Level).Inc()
		}
	}
	s.m.duplicates.Add(float64(out.Duplicates))
	for _, g := range out.NewGroups {
		s.m.groups.Inc()
		s.log.Warn("new error fingerprint", "fingerprint", g.Fingerprint, "message", model.Clip(g.Message, 200), "sdk", g.SDK)
	}
}

// Consume runs the event consumer until ctx is done (Run runs it).
func (s *Service) Consume(ctx context.Context) error { return s.pipeline.Run(ctx) }

// Close closes the event pipeline's files.
func (s *Service) Close() error {
	return errors.Join(s.queue.Close(), s.evstore.Close())
}

// Run serves until ctx is done.
func Run(ctx context.Context, o Options) error {
	s, err := New(o)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", o.Listen, err)
	}
	// Slow and idle clients are cut off; content and segments answer fast.
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	s.log.Info("contentsvc listening", "addr", ln.Addr().String(), "cdn", s.cdnDir)
	if o.Ready != nil {
		o.Ready <- ln.Addr().String()
	}
	defer s.Close()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	// The consumer and the loops that tell nines stop together, after
	// the server.
	bg, stopBackground := context.WithCancel(ctx)
	var background sync.WaitGroup
	defer func() { stopBackground(); background.Wait() }()
	background.Go(func() {
		if err := s.Consume(bg); err != nil {
			s.log.Error("event consumer stopped", "err", err)
		}
	})
	if o.RendersSLI != nil {
		background.Go(func() { s.pushRenders(bg, positive(o.RendersEvery, 15*time.Second), o.RendersSLI) })
	}
	if o.ErrorEvents != nil {
		a := newAnnouncer(s, o.ErrorEvents, reviewURL(ln.Addr().String()))
		background.Go(func() { a.run(bg, positive(o.ErrorEventsEvery, 5*time.Second)) })
	}
	if o.Heartbeat != nil {
		background.Go(func() { s.runPipeline(bg, positive(o.PipelineEvery, time.Minute), o.Heartbeat) })
	}
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

// positive is d, or def when d is not above zero.
func positive(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Handler returns the HTTP API.
func (s *Service) Handler() http.Handler {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Use(s.m.observe, middleware.Recover())
	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	e.GET("/metrics", s.m.handler())
	e.GET("/v1/segments", s.segments, crossOrigin, s.inject(TargetSegments))
	e.GET("/cdn/*", s.cdn, crossOrigin, s.inject(TargetCDN))
	e.GET("/sdk/v1/:file", s.sdk(sdkFiles()), crossOrigin, s.inject(TargetCDN))
	e.POST("/v1/errors", s.reportError, crossOrigin)
	e.POST("/v1/events", s.intake, crossOrigin)
	e.GET("/app", s.app)
	content := e.Group("/v1/content", s.authAdmin)
	content.PUT("/:id/draft", s.putDraft)
	content.GET("/:id/draft", s.getDraft)
	content.POST("/:id/publish", s.publish)
	e.HEAD("/cdn/*", s.cdn, crossOrigin, s.inject(TargetCDN))
	admin := e.Group("/admin", s.authAdmin)
	admin.GET("/faults", func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]any{"faults": s.faults.list()}) })
	admin.POST("/faults", s.addFault)
	admin.GET("/audit", s.auditLog)
	admin.GET("/errors", s.listErrors)
	admin.GET("/events", s.eventTotals)
	admin.GET("/errors/review", s.reviewErrors)
	// A notification sink, so that a demo can show its alerts without a
	// paging service: nines' webhook notifier posts here.
	admin.POST("/notifications", func(c echo.Context) error {
		var m map[string]any
		if err := json.NewDecoder(io.LimitReader(c.Request().Body, 1<<20)).Decode(&m); err != nil {
			return badRequest(c, "notification: %v", err)
		}
		s.noteMu.Lock()
		s.notes = append(s.notes, m)
		if len(s.notes) > 200 {
			s.notes = s.notes[len(s.notes)-200:]
		}
		s.noteMu.Unlock()
		s.log.Info("notification received", "alert", m["alert_key"], "action", m["action"], "level", m["level"])
		return c.NoContent(http.StatusNoContent)
	})
	admin.GET("/notifications", func(c echo.Context) error {
		s.noteMu.Lock()
		defer s.noteMu.Unlock()
		return c.JSON(http.StatusOK, map[string]any{"notifications": append([]map[string]any{}, s.notes...)})
	})
	admin.DELETE("/faults", func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]int{"cleared": s.faults.clear()}) })
	admin.DELETE("/faults/:id", func(c echo.Context) error {
		if !s.faults.remove(c.Param("id")) {
			return c.JSON(http.StatusNotFound, map[string]string{"error": "no fault " + c.Param("id")})
		}
		return c.NoContent(http.StatusNoContent)
	})
	return e
}

func (s *Service) authAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.token != "" {
			tok, _ := strings.CutPrefix(c.Request().Header.Get("Authorization"), "Bearer ")
			if subtle.ConstantTimeCompare([]byte(tok), []byte(s.token)) != 1 {
				return c.JSON(http.StatusUnauthorized, map[string]string{"error": "admin token required (Authorization: Bearer TOKEN)"})
			}
		}
		return next(c)
	}
}

func (s *Service) addFault(c echo.Context) error {
	var f Fault
	dec := json.NewDecoder(c.Request().Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return badRequest(c, "fault: %v", err)
	}
	if err := f.validate(); err != nil {
		return badRequest(c, "%v", err)
	}
	f = s.faults.add(f)
	s.log.Info("fault injected", "id", f.ID, "target", f.Target, "region", f.Region, "latency_ms", f.LatencyMS,
		"error_status", f.ErrorStatus, "outage", f.Outage)
	return c.JSON(http.StatusCreated, f)
}

// inject applies the active faults that match the target and the region.
func (s *Service) inject(target string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			eff := s.faults.match(target, c.Request().Header.Get(model.RegionHeader), c.Request().Header.Get(CountryHeader))
			if eff.delay > 0 {
				select {
				case <-time.After(eff.delay):
				case <-c.Request().Context().Done():
					return nil
				}
			}
			if eff.drop {
				if hj, ok := c.Response().Writer.(http.Hijacker); ok {
					if conn, _, err := hj.Hijack(); err == nil {
						return conn.Close()
					}
				}
				panic(http.ErrAbortHandler)
			}
			if eff.status != 0 {
				return c.JSON(eff.status, map[string]string{"error": "injected fault"})
			}
			if eff.broken {
				if done, err := s.serveBroken(c); done {
					return err
				}
			}
			return next(c)
		}
	}
}

// segments answers which segments a user belongs to: everyone, plus every
// rule that matches the user's attributes (the other query parameters).
func (s *Service) segments(c echo.Context) error {
	user := c.QueryParam("user_id")
	if user == "" {
		return badRequest(c, "user_id: required")
	}
	attrs := map[string]string{}
	for k, v := range c.QueryParams() {
		if k != "user_id" && len(v) > 0 {
			attrs[k] = v[0]
		}
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, map[string]any{"user_id": user, "segments": Assign(s.rules, user, attrs)})
}

// cdn serves published files with a content ETag; versioned content is
// immutable, manifests are short-lived.
func (s *Service) cdn(c echo.Context) error {
	rel := filepath.Clean("/" + c.Param("*"))
	path := filepath.Join(s.cdnDir, rel)
	f, err := os.Open(path)
	if err != nil {
		return c.JSON(http.StatusNotFound, map[string]string{"error": "not found: " + rel})
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.IsDir() {
		return c.JSON(http.StatusNotFound, map[string]string{"error": "not found: " + rel})
	}
	etag, err := s.etag(path, st, f)
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set("ETag", etag)
	if strings.HasPrefix(rel, "/content/") {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "public, max-age=60")
	}
	if strings.HasSuffix(rel, ".json") {
		h.Set("Content-Type", "application/json")
	}
	http.ServeContent(c.Response(), c.Request(), st.Name(), st.ModTime(), f)
	return nil
}

func (s *Service) etag(path string, st os.FileInfo, f *os.File) (string, error) {
	s.etagMu.Lock()
	e, ok := s.etags[path]
	s.etagMu.Unlock()
	if ok && e.mod.Equal(st.ModTime()) && e.size == st.Size() {
		return e.etag, nil
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	tag := `"` + hex.EncodeToString(h.Sum(nil)[:16]) + `"`
	s.etagMu.Lock()
	s.etags[path] = etagEntry{mod: st.ModTime(), size: st.Size(), etag: tag}
	s.etagMu.Unlock()
	return tag, nil
}

// seed publishes a first version of the welcome content, through the
// same path as the API, when nothing was ever published.
func (s *Service) seed() error {
	if _, err := os.Stat(filepath.Join(s.cdnDir, "manifests", Everyone+".json")); err == nil {
		return nil
	}
	if err := atomicfile.Write(s.draftPath("welcome"), []byte(`{"title": "Welcome", "body": "Hello from contentsvc."}`)); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	if _, err := s.publishDraft("welcome", []string{Everyone}, "seed"); err != nil {
		return fmt.Errorf("seed: publish welcome: %w", err)
	}
	return nil
}

// brokenItem is the content a broken_content fault publishes: a block of a
// type the browser SDK does not know, as if published for a newer SDK.
const brokenItem = "broken-promo"

var brokenDoc = []byte(`{"id": "broken-promo", "version": 1, "title": "Spring sale", "blocks": [{"type": "countdown", "until": "2027-03-21T00:00:00Z"}]}` + "\n")

// serveBroken answers, while a broken_content fault holds, the everyone
// manifest with the broken item in it, and the item itself; done is false
// for every other request.
func (s *Service) serveBroken(c echo.Context) (done bool, err error) {
	switch c.Request().URL.Path {
	case "/cdn/manifests/" + Everyone + ".json":
		var m Manifest
		b, err := os.ReadFile(filepath.Join(s.cdnDir, "manifests", Everyone+".json"))
		if err == nil {
			err = json.Unmarshal(b, &m)
		}
		if err != nil {
			return true, err
		}
		m.Content = append(m.Content, ManifestEntry{ID: brokenItem, Version: 1, URL: "/cdn/content/" + brokenItem + "/v1.json"})
		b, err = json.Marshal(m)
		if err != nil {
			return true, err
		}
		return true, servePublished(c, b)
	case "/cdn/content/" + brokenItem + "/v1.json":
		return true, servePublished(c, brokenDoc)
	}
	return false, nil
}

// servePublished answers a document as the CDN answers what was
// published: with its ETag, uncached (a staged fault ends at once).
func servePublished(c echo.Context, doc []byte) error {
	sum := sha256.Sum256(doc)
	c.Response().Header().Set("ETag", `"`+hex.EncodeToString(sum[:8])+`"`)
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSONBlob(http.StatusOK, doc)
}
