package controller

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/controller/live"
	"github.com/nines-sre/nines/model"
)

const testConfig = `regions:
  - id: eu-london
  - id: eu-frankfurt
  - id: ap-tokyo
probes:
  heartbeat_interval: 10s
  rate_limit: 100000
  tokens:
    - {region: eu-london, token: london-token-0123456789}
    - {region: eu-frankfurt, token: frankfurt-token-0123456789}
    - {region: ap-tokyo, token: tokyo-token-0123456789}
defaults: {interval: 1m, timeout: 5s}
components:
  - id: api
    checks:
      - id: api-health
        kind: http
        http: {url: "http://127.0.0.1:9/healthz"}
      - id: api-docs
        kind: http
        regions: [eu-london, ap-tokyo]
        http: {url: "http://127.0.0.1:9/docs"}
`

var tokens = map[string]string{"eu-london": "london-token-0123456789", "eu-frankfurt": "frankfurt-token-0123456789", "ap-tokyo": "tokyo-token-0123456789"}

// clock is a fake clock tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type harness struct {
	t     *testing.T
	c     *Controller
	srv   *httptest.Server
	clock *clock
	reg   *prometheus.Registry
}

func newHarness(t *testing.T) *harness { return newHarnessWith(t, testConfig) }

func newHarnessWith(t *testing.T, yaml string) *harness {
	return newHarnessAt(t, yaml, t.TempDir(), &clock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)})
}

// newHarnessAt runs a controller on dir with a fake clock behind httptest.
// Its public documents are rendered per request, so that they follow the
// fake clock; tune changes the options.
func newHarnessAt(t *testing.T, yaml, dir string, clk *clock, tune ...func(*Options)) *harness {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	o := Options{Config: cfg, DataDir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Registry: reg, Now: clk.Now, PublishEvery: -1}
	for _, f := range tune {
		f(&o)
	}
	c, err := New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler())
	t.Cleanup(func() { srv.Close(); c.Close() })
	return &harness{t: t, c: c, srv: srv, clock: clk, reg: reg}
}

func (h *harness) do(method, path, region string, body any, hdr ...string) (*http.Response, []byte) {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		js, _ := json.Marshal(b)
		rd = bytes.NewReader(js)
	}
	req, _ := http.NewRequest(method, h.srv.URL+path, rd)
	if region != "" {
		req.Header.Set("Authorization", "Bearer "+tokens[region])
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, out
}

func (h *harness) heartbeat(region string) {
	h.t.Helper()
	resp, body := h.do("POST", "/api/v1/probes/heartbeat", region, model.Heartbeat{Probe: "p-" + region, Region: region, StartedAt: h.clock.Now(), SentAt: h.clock.Now()})
	if resp.StatusCode != 200 {
		h.t.Fatalf("heartbeat %s: %d %s", region, resp.StatusCode, body)
	}
}

func (h *harness) result(check, region string, ago time.Duration, outcome model.Outcome) model.Result {
	at := h.clock.Now().Add(-ago).Truncate(time.Second)
	r := model.Result{Check: check, Region: region, Scheduled: at, Started: at, Probe: "p-" + region, DurationUS: 1200, Outcome: outcome, HTTPStatus: 200}
	if outcome == model.OutcomeDown {
		r.ErrorClass, r.HTTPStatus = model.ErrStatus, 503
	}
	return r
}

func (h *harness) ship(region string, rs ...model.Result) model.IngestAck {
	h.t.Helper()
	resp, body := h.do("POST", "/api/v1/results", region, model.ResultBatch{Probe: "p-" + region, Results: rs})
	if resp.StatusCode != 200 {
		h.t.Fatalf("ship %s: %d %s", region, resp.StatusCode, body)
	}
	var ack model.IngestAck
	if err := json.Unmarshal(body, &ack); err != nil {
		h.t.Fatal(err)
	}
	return ack
}

func (h *harness) stored() int64 {
	n, err := h.c.store.CountResults(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	return n
}

func TestIngestBadInputLosesNothing(t *testing.T) {
	h := newHarness(t)
	ack := h.ship("eu-london", h.result("api-health", "eu-london", 0, model.OutcomeUp))
	if ack.Stored != 1 {
		t.Fatalf("ack %+v", ack)
	}

	for _, tc := range []struct {
		name   string
		region string
		token  string
		body   any
		code   int
		want   string
	}{
		{"no token", "", "", model.ResultBatch{}, 401, "probe token is required"},
		{"unknown token", "", "Bearer not-a-token-at-all-000", model.ResultBatch{}, 401, "unknown probe token"},
		{"malformed JSON", "eu-london", "", []byte(`{"results": [{"check": "api-health",}]}`), 400, "not valid JSON at byte"},
		{"wrong type", "eu-london", "", []byte(`{"results": {"check": 1}}`), 400, "field results"},
		{"token for another region", "eu-london", "", model.ResultBatch{Results: []model.Result{
			h.result("api-health", "eu-london", time.Minute, model.OutcomeUp),
			h.result("api-health", "ap-tokyo", time.Minute, model.OutcomeDown)}}, 403,
			`this token belongs to region eu-london and cannot submit results for \"ap-tokyo\"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			if tc.token != "" {
				hdr = []string{"Authorization", tc.token}
			}
			resp, body := h.do("POST", "/api/v1/results", tc.region, tc.body, hdr...)
			if resp.StatusCode != tc.code || !strings.Contains(string(body), tc.want) {
				t.Fatalf("got %d %s, want %d containing %q", resp.StatusCode, body, tc.code, tc.want)
			}
			if n := h.stored(); n != 1 {
				t.Fatalf("%d results stored after a refused batch, want 1", n)
			}
		})
	}
	_, body := h.do("POST", "/api/v1/results", "eu-london", model.ResultBatch{Results: []model.Result{{Region: "eu-london"}}})
	if !strings.Contains(string(body), "results[0].check: must not be empty") {
		t.Fatalf("per-result rejection: %s", body)
	}
}

func TestIngestCountsDuplicatesAndRejectsPerResult(t *testing.T) {
	h := newHarness(t)
	batch := []model.Result{
		h.result("api-health", "eu-frankfurt", 2*time.Minute, model.OutcomeUp),
		h.result("api-health", "eu-frankfurt", time.Minute, model.OutcomeDown),
	}
	if ack := h.ship("eu-frankfurt", batch...); ack.Stored != 2 || ack.Duplicates != 0 {
		t.Fatalf("first %+v", ack)
	}
	bad := h.result("api-health", "eu-frankfurt", 0, model.OutcomeUp)
	bad.Outcome = "sideways"
	unknown := h.result("no-such-check", "eu-frankfurt", 0, model.OutcomeUp)
	future := h.result("api-health", "eu-frankfurt", -2*time.Hour, model.OutcomeUp)
	fresh := h.result("api-health", "eu-frankfurt", 0, model.OutcomeUp)
	ack := h.ship("eu-frankfurt", batch[0], batch[1], bad, unknown, future, fresh)
	if ack.Stored != 1 || ack.Duplicates != 2 || len(ack.Rejected) != 3 {
		t.Fatalf("retry %+v", ack)
	}
	for i, want := range []string{`results[2].outcome: "sideways" is not up, down or degraded`, `results[3].check: "no-such-check" is not in the configuration`, "results[4].scheduled"} {
		if !strings.Contains(ack.Rejected[i].Error, want) {
			t.Errorf("rejection %d = %q, want %q", i, ack.Rejected[i].Error, want)
		}
	}
	if n := h.stored(); n != 3 {
		t.Fatalf("%d stored, want 3", n)
	}
	want := `
# HELP nines_ingest_results_total Results received from probes, by outcome: stored, duplicate or rejected.
# TYPE nines_ingest_results_total counter
nines_ingest_results_total{outcome="duplicate"} 2
nines_ingest_results_total{outcome="rejected"} 3
nines_ingest_results_total{outcome="stored"} 3
`
	if err := testutil.GatherAndCompare(h.reg, strings.NewReader(want), "nines_ingest_results_total"); err != nil {
		t.Fatal(err)
	}
}

func TestIngestAcceptsGzip(t *testing.T) {
	h := newHarness(t)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	json.NewEncoder(zw).Encode(model.ResultBatch{Results: []model.Result{h.result("api-health", "ap-tokyo", 0, model.OutcomeUp)}})
	zw.Close()
	resp, body := h.do("POST", "/api/v1/results", "ap-tokyo", buf.Bytes(), "Content-Encoding", "gzip")
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"stored":1`) {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}

func TestHeartbeatForAnotherRegionIsRefused(t *testing.T) {
	h := newHarness(t)
	resp, body := h.do("POST", "/api/v1/probes/register", "eu-london", model.Heartbeat{Probe: "x", Region: "ap-tokyo"})
	if resp.StatusCode != 403 || !strings.Contains(string(body), "belongs to region eu-london, not ap-tokyo") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	resp, body = h.do("POST", "/api/v1/probes/register", "eu-london", []byte(`{"probe":`))
	if resp.StatusCode != 400 {
		t.Fatalf("malformed heartbeat: %d %s", resp.StatusCode, body)
	}
}

func TestAssignmentIsPerRegionWithETag(t *testing.T) {
	h := newHarness(t)
	resp, body := h.do("GET", "/api/v1/assignment", "eu-frankfurt", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	var a model.Assignment
	json.Unmarshal(body, &a)
	if len(a.Checks) != 1 || a.Checks[0].ID != "api-health" || a.Region != "eu-frankfurt" {
		t.Fatalf("frankfurt runs %+v; api-docs is not assigned there", a)
	}
	etag := resp.Header.Get("ETag")
	if resp, _ := h.do("GET", "/api/v1/assignment", "eu-frankfurt", nil, "If-None-Match", etag); resp.StatusCode != 304 {
		t.Fatalf("unchanged assignment: %d", resp.StatusCode)
	}
	_, body = h.do("GET", "/api/v1/assignment", "ap-tokyo", nil)
	var tokyo model.Assignment
	json.Unmarshal(body, &tokyo)
	if len(tokyo.Checks) != 2 || tokyo.Checks[0].Offset == a.Checks[0].Offset {
		t.Fatalf("tokyo %+v: regions must be staggered", tokyo.Checks)
	}
}

func statusOf(t *testing.T, h *harness) live.StatusResponse {
	t.Helper()
	resp, body := h.do("GET", "/api/v1/status", "", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("status: %d %s", resp.StatusCode, body)
	}
	var s live.StatusResponse
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func findCheck(s live.StatusResponse, id string) live.CheckStatus {
	for _, c := range s.Components {
		for _, ch := range c.Checks {
			if ch.ID == id {
				return ch
			}
		}
	}
	return live.CheckStatus{}
}

// A region whose probe went silent is unhealthy: its old failure stops
// counting, and the check is never called down on its account.
func TestSilentRegionIsAProbeProblemNotDowntime(t *testing.T) {
	h := newHarness(t)
	for r := range tokens {
		h.heartbeat(r)
	}
	h.ship("eu-london", h.result("api-health", "eu-london", 0, model.OutcomeDown))
	h.ship("eu-frankfurt", h.result("api-health", "eu-frankfurt", 0, model.OutcomeDown))
	h.ship("ap-tokyo", h.result("api-health", "ap-tokyo", 0, model.OutcomeUp))
	if c := findCheck(statusOf(t, h), "api-health"); c.Status != model.StatusDown || c.Failing != 2 {
		t.Fatalf("two failing regions: %+v", c)
	}
	// Frankfurt's probe goes silent for three heartbeats; the others keep beating.
	h.clock.Add(31 * time.Second)
	h.heartbeat("eu-london")
	h.heartbeat("ap-tokyo")
	s := statusOf(t, h)
	c := findCheck(s, "api-health")
	if c.Status != model.StatusDegraded || c.Regions["eu-frankfurt"].Status != model.StatusUnknown || c.Regions["eu-frankfurt"].Healthy {
		t.Fatalf("with frankfurt silent: %+v", c)
	}
	for _, p := range s.Probes {
		if p.Region == "eu-frankfurt" && p.Healthy {
			t.Fatalf("frankfurt probe still healthy: %+v", p)
		}
	}
	if c.Regions["eu-frankfurt"].LastResultAt == nil {
		t.Fatal("the last result seen from frankfurt should still be shown")
	}
}

func TestMetricsExposeVerdicts(t *testing.T) {
	h := newHarness(t)
	for r := range tokens {
		h.heartbeat(r)
	}
	for r := range tokens {
		h.ship(r, h.result("api-health", r, 0, model.OutcomeUp))
	}
	if got := testutil.ToFloat64(gaugeOf(t, h.reg, "nines_check_status", map[string]string{"check": "api-health", "status": "up"})); got != 1 {
		t.Fatalf("nines_check_status{up} = %v", got)
	}
}

// gaugeOf gathers one series as a collector testutil can read.
func gaugeOf(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue next
				}
			}
			g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name})
			g.Set(m.GetGauge().GetValue())
			return g
		}
	}
	t.Fatalf("no %s%v", name, labels)
	return nil
}

// A probe that crashes (no deregistration) loses its checks to the region's
// other probe once it has missed a heartbeat. Named probes share checks.
func TestCrashedProbeChecksMoveAfterOneMissedHeartbeat(t *testing.T) {
	h := newHarnessWith(t, strings.Replace(testConfig, "{region: eu-london, token: london-token-0123456789}",
		"{region: eu-london, token: london-token-0123456789, probes: [london-1, london-2]}", 1))
	beat := func(probe string) {
		resp, body := h.do("POST", "/api/v1/probes/heartbeat", "eu-london", model.Heartbeat{Probe: probe, Region: "eu-london", StartedAt: h.clock.Now()})
		if resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	}
	assigned := func(probe string) (int, string) {
		resp, body := h.do("GET", "/api/v1/assignment?probe="+probe, "eu-london", nil)
		var a model.Assignment
		json.Unmarshal(body, &a)
		return len(a.Checks), resp.Header.Get("ETag")
	}
	beat("london-1")
	beat("london-2")
	na, _ := assigned("london-1")
	nb, etagB := assigned("london-2")
	if na != 1 || nb != 1 {
		t.Fatalf("london-1 runs %d and london-2 %d of the 2 london checks, want one each", na, nb)
	}
	h.clock.Add(10 * time.Second)
	beat("london-2")
	if n, etag := assigned("london-2"); n != nb || etag != etagB {
		t.Fatal("one heartbeat interval of silence already moved checks")
	}
	h.clock.Add(6 * time.Second) // london-1 has now missed a heartbeat
	beat("london-2")
	if n, etag := assigned("london-2"); n != 2 || etag == etagB {
		t.Fatalf("london-2 runs %d checks after london-1 went silent, want 2 and a new ETag", n)
	}
}

func TestProbeAPIGuards(t *testing.T) {
	sum := sha256.Sum256([]byte("tokyo-token-0123456789"))
	yaml := strings.Replace(testConfig, "rate_limit: 100000", "rate_limit: 2", 1)
	yaml = strings.Replace(yaml, "{region: ap-tokyo, token: tokyo-token-0123456789}", "{region: ap-tokyo, token_sha256: "+hex.EncodeToString(sum[:])+"}", 1)
	h := newHarnessWith(t, yaml)
	// A token given only as its hash authenticates.
	h.heartbeat("ap-tokyo")
	// Past the rate limit a probe gets 429 with Retry-After.
	limited := 0
	for range 10 {
		resp, _ := h.do("POST", "/api/v1/probes/heartbeat", "eu-london", model.Heartbeat{Probe: "p", Region: "eu-london"})
		if resp.StatusCode == http.StatusTooManyRequests {
			limited++
			if resp.Header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
		}
	}
	if limited == 0 {
		t.Fatal("ten requests at once passed a limit of 2 a second (burst 4)")
	}
	// The limit follows a reload.
	file := filepath.Join(t.TempDir(), "nines.yaml")
	if err := os.WriteFile(file, []byte(strings.Replace(yaml, "rate_limit: 2", "rate_limit: 1000", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := h.c.ReloadFile(file); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if resp, _ := h.do("POST", "/api/v1/probes/heartbeat", "eu-london", model.Heartbeat{Probe: "p", Region: "eu-london"}); resp.StatusCode == http.StatusTooManyRequests {
			t.Fatalf("request %d of 50 limited after the limit was reloaded at 1,000 a second", i)
		}
	}
	// Oversized bodies are refused before they are read.
	resp, _ := h.do("POST", "/api/v1/probes/heartbeat", "ap-tokyo", bytes.Repeat([]byte("x"), 17<<20))
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("17 MiB heartbeat: %d", resp.StatusCode)
	}
	if _, err := config.Parse("bad.yaml", []byte(strings.Replace(yaml, hex.EncodeToString(sum[:]), "abc", 1))); err == nil ||
		!strings.Contains(err.Error(), "token_sha256: must be 64 hexadecimal digits") {
		t.Fatalf("bad hash: %v", err)
	}
}

func TestReadyWhileTheStoreAnswers(t *testing.T) {
	h := newHarness(t)
	if resp, body := h.do("GET", "/readyz", "", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("readyz: %d %s", resp.StatusCode, body)
	}
	h.c.store.Close()
	if resp, body := h.do("GET", "/readyz", "", nil); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("readyz with the store closed: %d %s", resp.StatusCode, body)
	}
	if resp, _ := h.do("GET", "/healthz", "", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz with the store closed: %d, want the process alive", resp.StatusCode)
	}
}

func TestNoOtherLeaderOnSQLite(t *testing.T) {
	if newHarness(t).c.OtherLeaderAlive(context.Background()) {
		t.Fatal("a controller on its own SQLite file sees another leader")
	}
}
