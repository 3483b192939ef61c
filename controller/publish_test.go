package controller

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nines-sre/nines/alerting/pagerdutytest"
	"github.com/nines-sre/nines/controller/live"
	"github.com/nines-sre/nines/internal/snapshot"
	"github.com/nines-sre/nines/internal/testwait"
	"github.com/nines-sre/nines/model"
)

const twoComponents = testConfig + `  - id: web
    checks:
      - {id: web-home, kind: http, http: {url: "http://127.0.0.1:9/"}}
`

// raw asks without the client's transparent gunzip.
func (h *harness) raw(path string, hdr ...string) (*http.Response, []byte) {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, h.srv.URL+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// The status JSON and page are rendered once per change and served as
// bytes: gzip to who accepts it, 304 to who holds them, the same bytes to
// a crowd; a new result shows within the publish interval.
func TestPublishedDocumentsFollowChangesNotRequests(t *testing.T) {
	h := newHarnessAt(t, twoComponents, t.TempDir(), &clock{t: time.Now().UTC().Truncate(time.Second)}, func(o *Options) { o.PublishEvery = 100 * time.Millisecond })
	for _, r := range []string{"eu-london", "eu-frankfurt", "ap-tokyo"} {
		h.heartbeat(r)
		h.ship(r, h.result("api-health", r, time.Second, model.OutcomeUp))
	}
	// (The compact form of two components is too small to gzip.)
	for path, gz := range map[string]bool{"/api/v1/status": true, "/api/v1/status?view=compact": false, "/": true} {
		resp, body := h.raw(path, "Accept-Encoding", "gzip")
		etag := resp.Header.Get("ETag")
		if resp.StatusCode != 200 || (resp.Header.Get("Content-Encoding") == "gzip") != gz || etag == "" || !strings.Contains(resp.Header.Get("Cache-Control"), "max-age=") {
			t.Fatalf("%s: %d %v", path, resp.StatusCode, resp.Header)
		}
		plain := body
		if gz {
			zr, err := gzip.NewReader(strings.NewReader(string(body)))
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			plain, _ = io.ReadAll(zr)
		}
		if !strings.Contains(string(plain), "api") {
			t.Fatalf("%s: %.200s", path, plain)
		}
		if resp, body := h.raw(path, "If-None-Match", etag); resp.StatusCode != http.StatusNotModified || len(body) != 0 {
			t.Fatalf("%s with its ETag: %d, %d bytes", path, resp.StatusCode, len(body))
		}
	}

	// A crowd with nothing changing: no render at all.
	time.Sleep(150 * time.Millisecond)
	h.raw("/api/v1/status") // past the interval with no change: still no render
	before := h.c.published.status.Builds.Load()
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 25 {
				h.raw("/api/v1/status")
			}
		}()
	}
	wg.Wait()
	if n := h.c.published.status.Builds.Load() - before; n > 0 {
		t.Fatalf("400 requests with nothing changed rendered the status %d times", n)
	}
	// Newer results that say the same change no verdict: they show within
	// publishMaxAge, not at once.
	h.clock.Add(time.Second)
	if ack := h.ship("eu-london", h.result("api-health", "eu-london", 0, model.OutcomeUp)); ack.Stored != 1 {
		t.Fatalf("the newer result: %+v", ack)
	}
	time.Sleep(150 * time.Millisecond)
	for range 50 {
		h.raw("/api/v1/status")
	}
	if n := h.c.published.status.Builds.Load() - before; n > 0 {
		t.Fatalf("a result that changed no verdict rendered the status %d times", n)
	}

	// A change shows within the interval.
	_, body := h.do("GET", "/api/v1/status", "", nil)
	old := string(body)
	h.clock.Add(time.Second)
	h.ship("eu-london", h.result("api-health", "eu-london", 0, model.OutcomeDown))
	h.ship("eu-frankfurt", h.result("api-health", "eu-frankfurt", 0, model.OutcomeDown))
	testwait.Eventually(t, 2*time.Second, "the outage showing", func() error {
		var st live.StatusResponse
		_, body = h.do("GET", "/api/v1/status", "", nil)
		if err := json.Unmarshal(body, &st); err != nil || st.Status != model.StatusDown {
			return fmt.Errorf("before %.300s\nnow %.300s", old, body)
		}
		return nil
	})
}

// ?component=, ?check=, ?limit= with ?cursor= and ?view=compact cut the
// document; what cannot be answered is named.
func TestStatusFiltersAndPages(t *testing.T) {
	h := newHarnessWith(t, twoComponents)
	get := func(path string, want int) map[string]any {
		t.Helper()
		resp, body := h.do("GET", path, "", nil)
		if resp.StatusCode != want {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		return m
	}
	ids := func(doc map[string]any) (comps []string, checks []string) {
		list, _ := doc["components"].([]any)
		for _, c := range list {
			cm := c.(map[string]any)
			comps = append(comps, cm["id"].(string))
			for _, ch := range cm["checks"].([]any) {
				checks = append(checks, ch.(map[string]any)["id"].(string))
			}
		}
		return
	}
	if c, ch := ids(get("/api/v1/status?check=api-docs", 200)); strings.Join(c, ",") != "api" || strings.Join(ch, ",") != "api-docs" {
		t.Fatalf("?check=api-docs: %v %v", c, ch)
	}
	if c, _ := ids(get("/api/v1/status?component=web", 200)); strings.Join(c, ",") != "web" {
		t.Fatalf("?component=web: %v", c)
	}
	page1 := get("/api/v1/status?limit=1", 200)
	c1, _ := ids(page1)
	next, _ := page1["next_cursor"].(string)
	if strings.Join(c1, ",") != "api" || next != "api" {
		t.Fatalf("first page: %v, next %q", c1, next)
	}
	page2 := get("/api/v1/status?limit=1&cursor="+next, 200)
	if c2, _ := ids(page2); strings.Join(c2, ",") != "web" || page2["next_cursor"] != nil {
		t.Fatalf("second page: %v, next %v", c2, page2["next_cursor"])
	}
	compact := get("/api/v1/status?view=compact&check=web-home", 200)
	if _, ch := ids(compact); strings.Join(ch, ",") != "web-home" || compact["probes"] != nil {
		t.Fatalf("compact: %v", compact)
	}
	for path, field := range map[string]string{"/api/v1/status?limit=0": "limit", "/api/v1/status?view=tiny": "view", "/api/v1/status?cursor=nope": "cursor"} {
		if m := get(path, 400); m["field"] != field {
			t.Fatalf("%s: %v", path, m)
		}
	}
	if m := get("/api/v1/status?check=nope", 404); m["field"] != "check" {
		t.Fatalf("unknown check: %v", m)
	}
}

// nines_slices_lag_seconds observes one evaluation per batch of arrivals:
// from the oldest unsliced result's arrival to the evaluation's end.
func TestSliceLagIsMeasured(t *testing.T) {
	h := newHarness(t)
	h.heartbeat("eu-london")
	h.ship("eu-london", h.result("api-health", "eu-london", time.Minute, model.OutcomeUp))
	count := func() string {
		_, body := h.do("GET", "/metrics", "", nil)
		for _, line := range strings.Split(string(body), "\n") {
			if strings.HasPrefix(line, "nines_slices_lag_seconds_count ") {
				return strings.TrimPrefix(line, "nines_slices_lag_seconds_count ")
			}
		}
		return "absent"
	}
	for i, want := range []string{"1", "1"} { // the second pass had nothing new
		if err := h.c.ledger.EvaluateSlices(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := count(); got != want {
			t.Fatalf("after pass %d: count %s, want %s", i+1, got, want)
		}
	}
}

// The first reader after an idle period reads the change that happened
// meanwhile, on every published document: each is read once, a while
// after the change, with no read between. A copy may be served while it
// is rebuilt only when it is younger than snapshot.DefaultStaleFor.
func TestFirstReaderAfterIdleReadsTheOutage(t *testing.T) {
	pd := pagerdutytest.New()
	t.Cleanup(pd.Close)
	hk := newHook(t)
	h := &alertHarness{harness: newHarnessAt(t, alertingConfig(pd.URL, hk.URL), t.TempDir(), &clock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)},
		func(o *Options) { o.PublishEvery = 0 }), pd: pd, hook: hk}
	docs := map[string][]string{
		"/api/v1/status":                      {`"status":"down"`},
		"/api/v1/status?view=compact":         {`"down"`},
		"/":                                   {`data-status="partial_outage"`, `data-status="major_outage"`},
		"/badge/api-health.svg":               {"down"},
		"/api/v2/summary.json":                {`"indicator":"critical"`, `"indicator":"major"`},
		"/api/v2/status.json":                 {`"indicator":"critical"`, `"indicator":"major"`},
		"/api/v2/components.json":             {`"status":"major_outage"`, `"status":"partial_outage"`},
		"/api/v2/incidents/unresolved.json":   {`"status":"investigating"`},
		"/api/v2/incidents.json":              {`"status":"investigating"`},
		"/history":                            {`href="/incidents/`},
		"/history.atom":                       {"<entry>"},
		"/history.rss":                        {"<item>"},
		"/api/v2/scheduled-maintenances.json": {`"scheduled_maintenances":[]`},
	}
	h.minute(all(model.OutcomeUp))
	for path, want := range docs {
		resp, body := h.raw(path)
		if resp.StatusCode != 200 || resp.Header.Get("ETag") == "" {
			t.Fatalf("%s: %d %v", path, resp.StatusCode, resp.Header)
		}
		for _, w := range want {
			if strings.Contains(string(body), w) && !strings.HasPrefix(w, `"scheduled`) {
				t.Fatalf("%s says %s before the outage", path, w)
			}
		}
	}
	// Nobody reads for longer than a copy may be served stale; meanwhile
	// the API goes down everywhere, and the outage opens an incident.
	time.Sleep(snapshot.DefaultStaleFor + 100*time.Millisecond)
	h.minute(all(model.OutcomeDown))
	h.minute(all(model.OutcomeDown))
	time.Sleep(snapshot.DefaultStaleFor + 100*time.Millisecond)
	for path, want := range docs {
		_, body := h.raw(path)
		if !slices.ContainsFunc(want, func(w string) bool { return strings.Contains(string(body), w) }) {
			t.Errorf("the first read of %s after the outage lacks %s: %.400s", path, want[0], body)
		}
	}
}

// The static export is written again as soon as what it shows changed,
// not on the next minute: each exportChanged after a change writes it,
// one without a change does not.
func TestStaticExportFollowsChanges(t *testing.T) {
	dir := t.TempDir()
	h := newHarnessAt(t, strings.Replace(twoComponents, "components:\n", "dashboard: {export_dir: "+dir+"}\ncomponents:\n", 1), t.TempDir(),
		&clock{t: time.Now().UTC().Truncate(time.Second)}, func(o *Options) { o.PublishEvery = 0 })
	ctx := context.Background()
	for _, r := range []string{"eu-london", "eu-frankfurt", "ap-tokyo"} {
		h.heartbeat(r)
		h.ship(r, h.result("api-health", r, time.Second, model.OutcomeUp))
	}
	read := func() string {
		t.Helper()
		if err := h.c.exportChanged(ctx); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, "index.html"))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if page := read(); strings.Contains(page, `data-status="partial_outage"`) {
		t.Fatal("the first export shows an outage")
	}
	if err := os.Remove(filepath.Join(dir, "index.html")); err != nil {
		t.Fatal(err)
	}
	if err := h.c.exportChanged(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "index.html")); err == nil {
		t.Fatal("exported again with nothing changed")
	}
	time.Sleep(snapshot.DefaultStaleFor + 100*time.Millisecond)
	h.clock.Add(time.Second)
	for _, r := range []string{"eu-london", "eu-frankfurt", "ap-tokyo"} {
		h.ship(r, h.result("api-health", r, 0, model.OutcomeDown))
	}
	if page := read(); !strings.Contains(page, `data-status="partial_outage"`) {
		t.Fatalf("the export after the outage does not show it")
	}
}
