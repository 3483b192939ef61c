package controller

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/time/rate"

	"github.com/nines-sre/nines/controller/confirm"
	"github.com/nines-sre/nines/controller/fleet"
	"github.com/nines-sre/nines/controller/ingest"
	"github.com/nines-sre/nines/controller/ledger"
	"github.com/nines-sre/nines/controller/push"
	"github.com/nines-sre/nines/controller/store"
	"github.com/nines-sre/nines/internal/clientlimit"
	"github.com/nines-sre/nines/model"
)

// apiError is the JSON body of every error answer.
type apiError struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

func fail(c echo.Context, code int, field, msg string) error {
	return c.JSON(code, apiError{Error: msg, Field: field})
}

func (c *Controller) routes(e *echo.Echo) {
	e.Use(middleware.Recover(), c.logFailures)
	e.GET("/healthz", func(ec echo.Context) error { return ec.String(http.StatusOK, "ok\n") })
	e.GET("/readyz", c.handleReady)
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(c.reg, promhttp.HandlerOpts{Registry: c.reg})))
	read := c.readAPI
	e.GET("/api/v1/status", c.handleStatus, read)
	e.GET("/api/v1/leader", c.handleLeader, read)
	e.GET("/api/v1/results", c.handleResultsQuery, read)
	e.GET("/api/v1/slo", c.handleSLOs, read)
	e.GET("/api/v1/slo/:id", c.handleSLO, read)
	e.GET("/api/v1/alerts", c.handleAlerts, read)
	// Statuspage's public read API (v2), for widgets and clients that speak it.
	e.GET("/api/v2/*", echo.WrapHandler(http.HandlerFunc(c.pages.V2)), read)
	// Alert keys may hold a slash (burn:slo/page): the key is the rest of
	// the path, plain or percent-encoded.
	e.GET("/api/v1/alerts/*", c.handleAlert, read)
	e.POST("/api/v1/alerts/*", c.handleAck, c.authAPI)
	e.POST("/api/v1/webhooks/pagerduty", c.handlePagerDutyWebhook)
	// Heartbeat checks' pings: the key in the path is the credential.
	e.Match([]string{http.MethodGet, http.MethodHead, http.MethodPost}, "/ping/:check/:key", c.handlePing)
	e.Match([]string{http.MethodGet, http.MethodHead, http.MethodPost}, "/ping/:check/:key/:action", c.handlePing)

	// Request-based SLIs' counts, and event rules' events, pushed: the key
	// in the path is the credential, as for pings.
	e.POST("/sli/:slo/:key", c.handleCounts)
	e.POST("/events/:rule/:key", c.handleEvent)

	dash := echo.WrapHandler(c.dash)
	e.GET("/", dash)
	e.GET("/assets/*", dash)
	e.GET("/badge/*", dash)
	e.Any("/sre", dash)
	e.Any("/sre/*", dash)
	e.GET("/alerts/*", dash)
	e.GET("/history", dash)
	e.GET("/history.atom", dash)
	e.GET("/history.rss", dash)
	e.GET("/incidents/:id", dash)
	e.GET("/maintenance/:id", dash)
	e.POST("/subscribe", dash)
	e.Any("/subscribe/confirm", dash)
	e.Any("/unsubscribe", dash)

	probe := e.Group("/api/v1", c.authProbe, c.limitProbe(), middleware.BodyLimit("16M"))
	// probe's POST /results reads its body itself: it may be gzip.
	probe.POST("/probes/register", c.handleHeartbeat)
	probe.POST("/probes/heartbeat", c.handleHeartbeat)
	probe.POST("/probes/deregister", c.handleDeregister)
	probe.GET("/assignment", c.handleAssignment)
	probe.POST("/results", c.handleIngest) // decoded as a bounded stream (body.go)
	// The long-poll is held open, not repeated: it has its own limit (one
	// at a time per registered probe), and does not spend the token's.
	e.GET("/api/v1/probes/confirm", c.handleConfirm, c.authProbe)
}

const (
	regionKey   = "nines.region"
	tokenKey    = "nines.token"
	tokenSumKey = "nines.token.sha256"
)

// limitProbe bounds each probe token's request rate; beyond it the probe
// gets 429 and Retry-After, and its shipper backs off.
func (c *Controller) limitProbe() echo.MiddlewareFunc {
	// One limiter for every route, so that a token's requests count
	// together; it follows the configuration: a reload that changes the
	// limit starts a limiter at the new rate.
	var mu sync.Mutex
	limit, limiter := -1.0, echo.MiddlewareFunc(nil)
	current := func() echo.MiddlewareFunc {
		want := c.Config().Probes.RateLimit
		mu.Lock()
		defer mu.Unlock()
		if want != limit {
			limit, limiter = want, rateLimiter(want)
		}
		return limiter
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(ec echo.Context) error { return current()(next)(ec) }
	}
}

// rateLimiter allows each probe token limit requests a second, in bursts
// of twice that.
func rateLimiter(limit float64) echo.MiddlewareFunc {
	store := middleware.NewRateLimiterMemoryStoreWithConfig(middleware.RateLimiterMemoryStoreConfig{
		Rate: rate.Limit(limit), Burst: int(2 * limit), ExpiresIn: 10 * time.Minute})
	return middleware.RateLimiterWithConfig(middleware.RateLimiterConfig{
		Store: store,
		IdentifierExtractor: func(ec echo.Context) (string, error) {
			s, _ := ec.Get(tokenKey).(string)
			return s, nil
		},
		DenyHandler: func(ec echo.Context, _ string, _ error) error {
			ec.Response().Header().Set("Retry-After", "1")
			return fail(ec, http.StatusTooManyRequests, "", fmt.Sprintf("more than %g requests a second from this probe token", limit))
		},
	})
}

// Wrong credentials (probe and API tokens, ping keys) are limited per
// client (an IPv6 /64 being one): a burst of guessLimit.burst, then one
// every guessLimit.every; a client past it is answered 429 before its
// credential is even looked at, so that it learns nothing more.
var guessLimit = struct {
	every time.Duration
	burst int
}{10 * time.Second, 20}

func newGuessLimits() *clientlimit.Limits {
	return &clientlimit.Limits{Every: guessLimit.every, Burst: guessLimit.burst, Max: 10_000}
}

func tooManyGuesses(ec echo.Context) error {
	ec.Response().Header().Set("Retry-After", strconv.Itoa(int(guessLimit.every/time.Second)))
	return fail(ec, http.StatusTooManyRequests, "", "too many wrong credentials from this address; wait")
}

// authProbe accepts a bearer token bound to one region and remembers the region.
func (c *Controller) authProbe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(ec echo.Context) error {
		if c.mtls {
			if st := ec.Request().TLS; st == nil || len(st.VerifiedChains) == 0 {
				return fail(ec, http.StatusUnauthorized, "", "a client certificate signed by the controller's client CA is required")
			}
		}
		client := clientlimit.Key(ec.Request())
		if c.guesses.Spent(client) {
			return tooManyGuesses(ec)
		}
		h := ec.Request().Header.Get("Authorization")
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || tok == "" {
			return fail(ec, http.StatusUnauthorized, "Authorization", "a probe token is required (Authorization: Bearer TOKEN)")
		}
		region, sum := c.Config().TokenRegion(tok)
		if region == "" {
			c.guesses.Allow(client) // a wrong token costs a guess
			return fail(ec, http.StatusUnauthorized, "Authorization", "unknown probe token")
		}
		c.guesses.Trust(client)
		ec.Set(regionKey, region)
		ec.Set(tokenKey, hex.EncodeToString(sum[:8]))
		ec.Set(tokenSumKey, sum)
		return next(ec)
	}
}

func tokenRegion(ec echo.Context) string { s, _ := ec.Get(regionKey).(string); return s }

func (c *Controller) handleHeartbeat(ec echo.Context) error {
	var hb model.Heartbeat
	if be := decodeJSON(ec, &hb); be != nil {
		return fail(ec, be.Code, "", be.Msg)
	}
	if c.tokenRefuses(ec, hb.Probe) {
		return refuseProbe(ec, hb.Probe)
	}
	ack, refused := c.probes.Heartbeat(ec.Request().Context(), c.Config(), tokenRegion(ec), hb, c.now())
	if refused != nil {
		return fail(ec, refused.Code, refused.Field, refused.Msg)
	}
	return ec.JSON(http.StatusOK, ack)
}

// tokenRefuses reports whether the request's token names the probes that
// may use it and probe is not one of them.
func (c *Controller) tokenRefuses(ec echo.Context, probe string) bool {
	sum, ok := ec.Get(tokenSumKey).([32]byte)
	return ok && !c.Config().TokenAllows(sum, probe)
}

func refuseProbe(ec echo.Context, probe string) error {
	return fail(ec, http.StatusForbidden, "probe", "this token names the probes that may use it, and not "+model.Clip(probe, 64))
}

func (c *Controller) handleAssignment(ec echo.Context) error {
	region := tokenRegion(ec)
	probe := ec.QueryParam("probe")
	if probe != "" && !fleet.ValidProbeID(probe) {
		return fail(ec, http.StatusBadRequest, "probe", fleet.ProbeIDRule)
	}
	if c.tokenRefuses(ec, probe) {
		return refuseProbe(ec, probe)
	}
	etag := c.probes.AssignmentETag(c.Config(), region, probe, c.now())
	ec.Response().Header().Set("ETag", etag)
	if ec.Request().Header.Get("If-None-Match") == etag {
		return ec.NoContent(http.StatusNotModified)
	}
	return ec.JSON(http.StatusOK, c.probes.Assignment(c.Config(), region, probe, c.now()))
}

// handleDeregister forgets a probe that is shutting down, so its checks
// move to the region's other probes at once.
func (c *Controller) handleDeregister(ec echo.Context) error {
	var hb model.Heartbeat
	if be := decodeJSON(ec, &hb); be != nil {
		return fail(ec, be.Code, "", be.Msg)
	}
	region := tokenRegion(ec)
	if hb.Region != region {
		return fail(ec, http.StatusForbidden, "region", "this token belongs to region "+region+", not "+hb.Region)
	}
	if c.tokenRefuses(ec, hb.Probe) {
		return refuseProbe(ec, hb.Probe)
	}
	if refused := c.probes.Deregister(ec.Request().Context(), region, hb.Probe, hb.StartedAt); refused != nil {
		return fail(ec, refused.Code, refused.Field, refused.Msg)
	}
	return ec.NoContent(http.StatusNoContent)
}

// handleResultsQuery serves stored results of one check, newest first
// (order=oldest for the other way), a page at a time: next_cursor, when
// set, asks for the next page.
func (c *Controller) handleResultsQuery(ec echo.Context) error {
	q := store.Query{Check: ec.QueryParam("check"), Region: ec.QueryParam("region"), Limit: 100, Newest: true}
	if q.Check == "" {
		return fail(ec, http.StatusBadRequest, "check", "the check query parameter is required")
	}
	var err error
	if s := ec.QueryParam("since"); s != "" {
		if q.Since, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return fail(ec, http.StatusBadRequest, "since", "not an RFC 3339 time: "+err.Error())
		}
	}
	if s := ec.QueryParam("until"); s != "" {
		if q.Until, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return fail(ec, http.StatusBadRequest, "until", "not an RFC 3339 time: "+err.Error())
		}
	}
	if s := ec.QueryParam("limit"); s != "" {
		if err := echo.QueryParamsBinder(ec).Int("limit", &q.Limit).BindError(); err != nil || q.Limit < 1 || q.Limit > 100000 {
			return fail(ec, http.StatusBadRequest, "limit", "must be a whole number from 1 to 100000")
		}
	}
	switch ec.QueryParam("order") {
	case "", "newest":
	case "oldest":
		q.Newest = false
	default:
		return fail(ec, http.StatusBadRequest, "order", "must be newest or oldest")
	}
	if s := ec.QueryParam("cursor"); s != "" {
		if q.After, err = store.ParseCursor(s); err != nil {
			return fail(ec, http.StatusBadRequest, "cursor", err.Error())
		}
	}
	rs, err := c.store.Results(ec.Request().Context(), q)
	if errors.Is(err, store.ErrNotFound) {
		rs, err = []model.Result{}, nil
	}
	if err != nil {
		return err
	}
	if rs == nil {
		rs = []model.Result{}
	}
	out := map[string]any{"check": q.Check, "results": rs}
	if len(rs) == q.Limit {
		last := rs[len(rs)-1]
		out["next_cursor"] = store.Cursor{Scheduled: last.Scheduled, Region: last.Region}.String()
	}
	return ec.JSON(http.StatusOK, out)
}

// handleLeader tells which replica this is and whether it leads.
func (c *Controller) handleLeader(ec echo.Context) error {
	return ec.JSON(http.StatusOK, map[string]any{"replica": c.replica, "leading": c.Leading(), "shared": c.elector != nil})
}

// handleReady answers 200 while the store answers, so that a load balancer
// sends probes and users to replicas that can serve them; /healthz only
// says the process runs.
func (c *Controller) handleReady(ec echo.Context) error {
	ctx, cancel := context.WithTimeout(ec.Request().Context(), 2*time.Second)
	defer cancel()
	if err := c.store.Ping(ctx); err != nil {
		c.log.Warn("not ready: the store does not answer", "err", err)
		return ec.String(http.StatusServiceUnavailable, "store unavailable\n")
	}
	// Results sent through NATS wait in their streams while no consumer
	// takes them: not ready, and why.
	if p := c.ingest.NATSProblem(); p != "" {
		return ec.String(http.StatusServiceUnavailable, p+"\n")
	}
	return ec.String(http.StatusOK, "ready\n")
}

func (c *Controller) handleSLOs(ec echo.Context) error {
	cfg := c.Config()
	now := c.now()
	out := make([]ledger.SLOReport, 0, len(cfg.SLOs))
	for i := range cfg.SLOs {
		r, err := c.ledger.SLOReport(ec.Request().Context(), &cfg.SLOs[i], now)
		if err != nil {
			return err
		}
		out = append(out, r)
	}
	return ec.JSON(http.StatusOK, map[string]any{"slos": out})
}

var errNoSLO = errors.New("no such SLO")

func (c *Controller) handleSLO(ec echo.Context) error {
	slo := c.Config().SLO(ec.Param("id"))
	if slo == nil {
		return fail(ec, http.StatusNotFound, "id", fmt.Sprintf("%v: %q", errNoSLO, ec.Param("id")))
	}
	r, err := c.ledger.SLOReport(ec.Request().Context(), slo, c.now())
	if err != nil {
		return err
	}
	return ec.JSON(http.StatusOK, r)
}

// handleIngest stores a batch of results. The whole batch is answered at
// once: every result is stored, counted as a duplicate (same check, region
// and scheduled time), or rejected for good with its index and reason; the
// probe may then delete the batch from its spool.
func (c *Controller) handleIngest(ec echo.Context) error {
	var batch model.ResultBatch
	if be := c.ingest.Decoder().Request(ec.Request(), &batch, ingest.MaxBatchBytes); be != nil {
		c.ingest.Counted(strconv.Itoa(be.Code))
		return fail(ec, be.Code, "", be.Msg)
	}
	ack, _, ierr := c.ingest.Batch(ec.Request().Context(), tokenRegion(ec), &batch, false)
	if ierr != nil {
		c.ingest.Counted(strconv.Itoa(ierr.Code))
		return fail(ec, ierr.Code, ierr.Field, ierr.Msg)
	}
	c.ingest.Counted("200")
	return ec.JSON(http.StatusOK, ack)
}

// handlePing takes a heartbeat check's ping (push.Ping): 200 "OK"; 404
// alike for an unknown check, another kind and a wrong key; 429 past the
// check's rate.
func (c *Controller) handlePing(ec echo.Context) error {
	r := ec.Request()
	body, err := io.ReadAll(io.LimitReader(r.Body, push.MaxBody))
	if err != nil {
		return fail(ec, http.StatusBadRequest, "", "read body: "+err.Error())
	}
	client := clientlimit.Key(r)
	if c.guesses.Spent(client) {
		return tooManyGuesses(ec)
	}
	err = c.push.Ping(r.Context(), ec.Param("check"), ec.Param("key"), ec.Param("action"), body)
	switch {
	case errors.Is(err, push.ErrNotFound):
		c.guesses.Allow(client) // a wrong key costs a guess
		return fail(ec, http.StatusNotFound, "", "not found")
	case err == nil:
		c.guesses.Trust(client)
	case errors.Is(err, push.ErrTooMany):
		ec.Response().Header().Set("Retry-After", "1")
		return fail(ec, http.StatusTooManyRequests, "", "too many pings for this check")
	case err != nil:
		return err
	}
	return ec.String(http.StatusOK, "OK\n")
}

// handleCounts takes an events SLO's good and valid events per minute
// (push.Counts): 200 with the minutes stored; 400 naming what is wrong;
// 404 alike for an unknown SLO, another source and a wrong key; 429 past
// the SLO's rate.
func (c *Controller) handleCounts(ec echo.Context) error {
	var counts model.EventCounts
	return c.keyedPush(ec, &counts, "too many pushes for this SLO", func(ctx context.Context) (any, error) {
		n, err := c.push.Counts(ctx, ec.Param("slo"), ec.Param("key"), &counts)
		return map[string]int{"stored": n}, err
	})
}

// handleEvent takes an event of an event rule (push.Event): 200 saying
// whether it changed the alert of its key; 400 naming what is wrong; 404
// alike for an unknown rule, another kind and a wrong key; 429 past the
// rule's rate.
func (c *Controller) handleEvent(ec echo.Context) error {
	var e model.AlertEvent
	return c.keyedPush(ec, &e, "too many events for this rule", func(ctx context.Context) (any, error) {
		changed, err := c.push.Event(ctx, ec.Param("rule"), ec.Param("key"), &e)
		return map[string]any{"key": e.Key, "action": e.Action, "changed": changed}, err
	})
}

// keyedPush answers a push whose key in the path is its credential: the
// body decoded into v, then take; a wrong key costs its client a guess.
func (c *Controller) keyedPush(ec echo.Context, v any, tooMany string, take func(context.Context) (any, error)) error {
	r := ec.Request()
	client := clientlimit.Key(r)
	if c.guesses.Spent(client) {
		return tooManyGuesses(ec)
	}
	if be := decodeJSON(ec, v); be != nil {
		return fail(ec, be.Code, "", be.Msg)
	}
	answer, err := take(r.Context())
	switch {
	case errors.Is(err, push.ErrNotFound):
		c.guesses.Allow(client) // a wrong key costs a guess
		return fail(ec, http.StatusNotFound, "", "not found")
	case errors.Is(err, push.ErrTooMany):
		ec.Response().Header().Set("Retry-After", "1")
		return fail(ec, http.StatusTooManyRequests, "", tooMany)
	case errors.Is(err, push.ErrBadCounts), errors.Is(err, push.ErrBadEvent):
		c.guesses.Trust(client)
		return fail(ec, http.StatusBadRequest, "", err.Error())
	case err != nil:
		return err
	}
	c.guesses.Trust(client)
	return ec.JSON(http.StatusOK, answer)
}

// handleConfirm answers a probe's long-poll with the on-demand runs asked
// of it (controller/confirm) as soon as there are some, or empty after
// confirm.Wait.
func (c *Controller) handleConfirm(ec echo.Context) error {
	probe := ec.QueryParam("probe")
	if !fleet.ValidProbeID(probe) {
		return fail(ec, http.StatusBadRequest, "probe", fleet.ProbeIDRule)
	}
	region := tokenRegion(ec)
	// Only a probe that registered (and heartbeats) waits here: made-up
	// ids take no room.
	if !c.probes.Known(probe, region) {
		return fail(ec, http.StatusConflict, "probe", "register first (POST /api/v1/probes/register)")
	}
	key := region + "/" + probe
	if _, busy := c.polling.LoadOrStore(key, true); busy {
		ec.Response().Header().Set("Retry-After", "1")
		return fail(ec, http.StatusTooManyRequests, "probe", "this probe is already waiting for confirmation rounds")
	}
	defer c.polling.Delete(key)
	reqs := c.confirm.Take(ec.Request().Context(), region, probe, 20, confirm.Wait)
	return ec.JSON(http.StatusOK, model.ConfirmRequests{Requests: append([]model.ConfirmRequest{}, reqs...)})
}
