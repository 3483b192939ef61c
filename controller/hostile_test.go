package controller

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/dashboard"
	"github.com/nines-sre/nines/internal/testwait"
	"github.com/nines-sre/nines/model"
)

// allocatedDuring reports how many bytes the process allocated while fn
// ran: a bound on the memory a request could take.
func allocatedDuring(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// zeros is a reader of n zero bytes, made as it is read.
type zeros struct{ n int64 }

func (z *zeros) Read(p []byte) (int, error) {
	if z.n <= 0 {
		return 0, io.EOF
	}
	k := min(int64(len(p)), z.n)
	clear(p[:k])
	z.n -= k
	return int(k), nil
}

// gzipBomb is a small gzip body that expands to n bytes of JSON-looking
// text.
func gzipBomb(t *testing.T, n int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write([]byte(`{"probe":"p","results":[],"pad":"`))
	if _, err := io.Copy(zw, io.LimitReader(strings.NewReader(strings.Repeat("a", 1<<20)), 1<<20)); err != nil {
		t.Fatal(err)
	}
	for written := int64(1 << 20); written < n; written += 1 << 20 {
		zw.Write(bytes.Repeat([]byte("a"), 1<<20))
	}
	zw.Write([]byte(`"}`))
	zw.Close()
	return buf.Bytes()
}

// A decompression bomb is refused with 413 as the decoder passes the
// limit: it never expands the whole body, whatever it would expand to,
// and the controller keeps serving.
func TestHostileGzipBombsAreRefused(t *testing.T) {
	h := newHarness(t)
	bomb := gzipBomb(t, 200<<20)
	t.Logf("bomb: %d bytes of gzip, 200 MiB expanded", len(bomb))
	var codes []int
	var mu sync.Mutex
	alloc := allocatedDuring(func() {
		var wg sync.WaitGroup
		for range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, body := h.do("POST", "/api/v1/results", "eu-london", bomb, "Content-Encoding", "gzip")
				mu.Lock()
				codes = append(codes, resp.StatusCode)
				mu.Unlock()
				if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), "more than the 8388608 bytes allowed") {
					t.Errorf("bomb: %d %s", resp.StatusCode, body)
				}
			}()
		}
		wg.Wait()
	})
	t.Logf("six bombs at once: answers %v, %d MiB allocated in all", codes, alloc>>20)
	if alloc > 6*40<<20 {
		t.Fatalf("six bombs took %d MiB: the decoder expanded past its limit", alloc>>20)
	}
	// The controller still serves.
	if ack := h.ship("eu-london", h.result("api-health", "eu-london", 0, model.OutcomeUp)); ack.Stored != 1 {
		t.Fatalf("after the bombs: %+v", ack)
	}
}

func TestHostileBodiesAreNamed(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		name string
		body []byte
		hdr  []string
		code int
		want string
	}{
		{"plain body labelled gzip", []byte(`{"results":[]}`), []string{"Content-Encoding", "gzip"}, 400, "is not gzip"},
		{"not JSON", []byte(`probe=p`), []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, "is not application/json"},
		{"unknown encoding", []byte(`{}`), []string{"Content-Encoding", "br"}, 415, `br\" is not gzip`},
		{"trailing garbage", []byte(`{"results":[]} {"results":[]}`), nil, 400, "more after the JSON value"},
		{"empty", []byte(``), nil, 400, "empty"},
	} {
		resp, body := h.do("POST", "/api/v1/results", "eu-london", tc.body, tc.hdr...)
		if resp.StatusCode != tc.code || !strings.Contains(string(body), tc.want) {
			t.Errorf("%s: %d %s, want %d with %q", tc.name, resp.StatusCode, body, tc.code, tc.want)
		}
	}
	// A gzip body of the right kind is taken.
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(`{"probe":"p-eu-london","results":[]}`))
	zw.Close()
	if resp, body := h.do("POST", "/api/v1/results", "eu-london", buf.Bytes(), "Content-Encoding", "gzip"); resp.StatusCode != 200 {
		t.Fatalf("a good gzip body: %d %s", resp.StatusCode, body)
	}
}

// The PagerDuty webhook bounds its body before reading it: a body over
// PagerDuty's own 2 MB limit is refused with 413, sized or streamed, and
// costs no more than the limit.
func TestHostileWebhookBodyIsBounded(t *testing.T) {
	h := newAlertHarness(t)
	send := func(body io.Reader, size int64) (int, uint64) {
		var code int
		alloc := allocatedDuring(func() {
			req, _ := http.NewRequest("POST", h.srv.URL+"/api/v1/webhooks/pagerduty", body)
			req.ContentLength = size
			req.Header.Set("X-PagerDuty-Signature", "v1=00")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				code = -1
				return
			}
			resp.Body.Close()
			code = resp.StatusCode
		})
		return code, alloc
	}
	if code, alloc := send(&zeros{300 << 20}, 300<<20); code != http.StatusRequestEntityTooLarge || alloc > 16<<20 {
		t.Fatalf("a 300 MB webhook body with its length: %d, %d MiB allocated", code, alloc>>20)
	}
	if code, alloc := send(&zeros{300 << 20}, -1); code != http.StatusRequestEntityTooLarge || alloc > 16<<20 {
		t.Fatalf("a 300 MB webhook body streamed: %d, %d MiB allocated", code, alloc>>20)
	}
	if code, _ := send(strings.NewReader(`{"event":{}}`), -1); code != http.StatusUnauthorized {
		t.Fatalf("a small body with a wrong signature: %d", code)
	}
}

// Implausible results are refused one by one, naming the field; the
// plausible ones of the same batch are stored.
func TestHostileImplausibleResultsAreRefused(t *testing.T) {
	h := newHarness(t)
	now := h.clock.Now()
	good := h.result("api-health", "eu-london", 0, model.OutcomeUp)
	bad := func(at time.Duration, edit func(*model.Result)) model.Result {
		r := h.result("api-health", "eu-london", at, model.OutcomeUp)
		edit(&r)
		return r
	}
	batch := []model.Result{
		good,
		bad(time.Second, func(r *model.Result) { r.DurationUS = math.MaxInt64 }),
		bad(2*time.Second, func(r *model.Result) { r.Bytes = -1 }),
		bad(3*time.Second, func(r *model.Result) { r.Phases.TTFB = -5 }),
		bad(4*time.Second, func(r *model.Result) { r.HTTPStatus = -200 }),
		bad(5*time.Second, func(r *model.Result) { r.Started = r.Scheduled.Add(3 * time.Hour) }),
		bad(0, func(r *model.Result) { r.Scheduled, r.Started = now.Add(-15*24*time.Hour), now.Add(-15*24*time.Hour) }),
		bad(0, func(r *model.Result) { r.Scheduled, r.Started = now.Add(5*time.Minute), now.Add(5*time.Minute) }),
	}
	ack := h.ship("eu-london", batch...)
	if ack.Stored != 1 || len(ack.Rejected) != len(batch)-1 {
		t.Fatalf("ack %+v", ack)
	}
	for i, want := range []string{"duration_us", "bytes", "phases.ttfb_us", "http_status", "started", "older than", "ahead of the controller's clock"} {
		if got := ack.Rejected[i].Error; ack.Rejected[i].Index != i+1 || !strings.Contains(got, want) {
			t.Errorf("rejection %d: %+v, want %q", i, ack.Rejected[i], want)
		}
	}
}

// One region's token cannot register probes without end: ids are bounded
// in length and characters, a region has at most probes.max_per_region,
// and probes silent for long are forgotten with their metric series; the
// real probe keeps its checks.
func TestHostileProbeIdentitiesAreBounded(t *testing.T) {
	h := newHarnessWith(t, strings.Replace(testConfig, "rate_limit: 100000", "rate_limit: 100000\n  max_per_region: 3", 1))
	beat := func(id string) (int, string) {
		resp, body := h.do("POST", "/api/v1/probes/heartbeat", "eu-london", model.Heartbeat{Probe: id, Region: "eu-london", StartedAt: h.clock.Now()})
		return resp.StatusCode, string(body)
	}
	if code, _ := beat("real-london-1"); code != 200 {
		t.Fatalf("the real probe: %d", code)
	}
	if code, body := beat(strings.Repeat("x", 1<<20)); code != 413 {
		t.Fatalf("a heartbeat of more than 1 MiB: %d %s", code, body)
	}
	for _, id := range []string{strings.Repeat("x", 200), "", "a b", "../etc", "é"} {
		if code, body := beat(id); code != 400 || !strings.Contains(body, `"field":"probe"`) {
			t.Fatalf("probe id %.20q: %d %s", id, code, body)
		}
	}
	for i := range 300 {
		code, body := beat(fmt.Sprintf("made-up-%d", i))
		if i < 2 && code != 200 {
			t.Fatalf("made-up-%d: %d %s", i, code, body)
		}
		if i >= 2 && (code != 403 || !strings.Contains(body, "probes.max_per_region")) {
			t.Fatalf("made-up-%d past the limit: %d %s", i, code, body)
		}
	}
	seriesOf := func(id string) bool {
		_, body := h.do("GET", "/metrics", "", nil)
		return strings.Contains(string(body), `probe="`+id+`"`)
	}
	if !seriesOf("made-up-0") {
		t.Fatal("no metric series for a registered probe")
	}
	// Silent for ten heartbeats, the made-up probes are forgotten; the real
	// one, heartbeating, keeps every check of its region.
	for range 11 {
		h.clock.Add(10 * time.Second)
		beat("real-london-1")
	}
	if err := h.c.ForgetSilentProbes(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := h.c.probes.Count("eu-london"); n != 1 {
		t.Fatalf("%d probes in eu-london after forgetting the silent ones", n)
	}
	if a := h.c.probes.Assignment(h.c.Config(), "eu-london", "real-london-1", h.c.now()); len(a.Checks) != 2 {
		t.Fatalf("the real probe runs %d of 2 checks", len(a.Checks))
	}
	if seriesOf("made-up-0") || !seriesOf("real-london-1") {
		t.Fatal("a forgotten probe's series stays, or the real one's went")
	}
}

// Behind a proxy that serves HTTPS (dashboard.behind_tls), the SRE view's
// cookies are Secure.
func TestHostileSignInCookiesAreSecureBehindTLS(t *testing.T) {
	for _, behind := range []bool{false, true} {
		h := newHarnessWith(t, testConfig+fmt.Sprintf("dashboard:\n  behind_tls: %v\n", behind))
		resp, _ := h.do("GET", "/sre/login", "", nil)
		cookie := resp.Header.Get("Set-Cookie")
		if cookie == "" || strings.Contains(cookie, "Secure") != behind {
			t.Fatalf("behind_tls %v: Set-Cookie %q", behind, cookie)
		}
	}
}

// Secrets never leave: an api_key in a check URL's query, seen in a
// result's message, and a Slack URL (itself the credential) in a failed
// delivery, appear in no API answer and no log line.
func TestHostileSecretsNeverLeaveTheAPI(t *testing.T) {
	closed := "127.0.0.1:9" // discard port: nothing listens there
	var logs bytes.Buffer
	yaml := testConfig + fmt.Sprintf(`alerting:
  group_wait: 0s
  api_tokens: [%s]
  notifiers:
    - {id: chat, slack: {url: "http://%s/services/T0000/B0000/SLACKSECRETPART"}}
  policies: [{id: page, levels: [{delay: 0s, targets: [chat]}]}]
  rules: [{id: down, kind: check_down, policy: page}]
`, apiToken, closed)
	h := newHarnessAt(t, yaml, t.TempDir(), &clock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}, func(o *Options) {
		o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		o.NotifyClient = &http.Client{Timeout: time.Second}
	})
	h.clock.Add(time.Minute)
	for region := range tokens {
		h.heartbeat(region)
		r := h.result("api-health", region, 0, model.OutcomeDown)
		r.ErrorClass, r.HTTPStatus = model.ErrConnect, 0
		r.Message = `Get "https://bob:PASSWORDSECRET@api.example.com/health?api_key=APIKEYSECRET": dial tcp: connection refused`
		h.ship(region, r)
	}
	if err := h.c.EvaluateAlerts(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := h.c.Dispatcher().DeliverDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	var seen strings.Builder
	for _, path := range []string{"/api/v1/status", "/api/v1/results?check=api-health", "/api/v1/alerts", "/api/v1/alerts/down:api-health", "/api/v1/alerts/group:page"} {
		_, body := h.do("GET", path, "", nil, "Authorization", "Bearer "+apiToken)
		seen.Write(body)
	}
	if !strings.Contains(seen.String(), "attempts_log") || !strings.Contains(seen.String(), "api.example.com") ||
		!strings.Contains(seen.String(), "127.0.0.1:9/REDACTED") || !strings.Contains(seen.String(), "api_key=REDACTED") {
		t.Fatalf("the answers lack what they should show:\n%s", seen.String())
	}
	seen.Write(logs.Bytes())
	for _, secret := range []string{"PASSWORDSECRET", "APIKEYSECRET", "SLACKSECRETPART"} {
		if strings.Contains(seen.String(), secret) {
			t.Fatalf("%s leaked:\n%s", secret, seen.String())
		}
	}
}

// Links come from the configuration, never from a request's Host header
// (feeds and v2 are published, and cached by others); an error echoes at
// most a short piece of what was asked.
func TestHostileHostHeaderAndEchoes(t *testing.T) {
	h := newAlertHarnessOf(t, alertingConfig)
	h.minute(all(model.OutcomeDown))
	h.minute(all(model.OutcomeDown))
	for _, path := range []string{"/history.atom", "/history.rss", "/api/v2/summary.json", "/api/v2/incidents.json"} {
		resp, body := h.do("GET", path, "", nil, "Host", "evil.example")
		if resp.StatusCode != 200 || strings.Contains(string(body), "evil.example") || !strings.Contains(string(body), "127.0.0.1:8080") {
			t.Errorf("%s with a forged Host: %d, links %v", path, resp.StatusCode, strings.Contains(string(body), "evil.example"))
		}
	}
	long := strings.Repeat("x", 256<<10)
	for _, path := range []string{"/badge/" + long + ".svg", "/api/v1/status?check=" + long, "/sre/alerts/" + long} {
		resp, body := h.do("GET", path, "", nil)
		if len(body) > 1024 {
			t.Errorf("%.40s…: %d answered %d bytes", path, resp.StatusCode, len(body))
		}
	}
}

// Guessing is limited: past a burst of wrong ping keys or wrong tokens a
// client is answered 429 before what it sends is even looked at, so 1,800
// guesses learn at most a burst's worth.
func TestHostileGuessingIsLimited(t *testing.T) {
	h := newAlertHarnessOf(t, heartbeatConfig)
	answers := map[int]int{}
	for i := range 900 {
		resp, _ := h.do("POST", fmt.Sprintf("/ping/nightly/guess-%04d-0123456789", i), "", nil)
		answers[resp.StatusCode]++
		req, _ := http.NewRequest("POST", h.srv.URL+"/api/v1/probes/heartbeat", strings.NewReader("{}"))
		req.Header.Set("Authorization", fmt.Sprintf("Bearer guessed-token-%04d", i))
		if resp, err := http.DefaultClient.Do(req); err == nil {
			answers[resp.StatusCode]++
			resp.Body.Close()
		}
	}
	t.Logf("1,800 guesses answered %v", answers)
	if answers[http.StatusNotFound]+answers[http.StatusUnauthorized] > guessLimit.burst+5 || answers[http.StatusTooManyRequests] < 1700 {
		t.Fatalf("1,800 guesses: %v, want at most a burst (%d) looked at", answers, guessLimit.burst)
	}
	// A probe behind the same address, with its good token, is not locked
	// out by its neighbour's bad ones: a client that presented a good
	// credential is trusted for an hour.
	h.waitOutGuesses()
	h.heartbeat("eu-london")
	for range 50 {
		req, _ := http.NewRequest("POST", h.srv.URL+"/api/v1/probes/heartbeat", strings.NewReader("{}"))
		req.Header.Set("Authorization", "Bearer a-neighbour's-old-token-0000")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	h.heartbeat("eu-london") // fails the test unless 200
}

// waitOutGuesses forgets the guesses counted, as time would.
func (h *alertHarness) waitOutGuesses() { h.c.guesses = newGuessLimits() }

// The confirmation long-poll holds no room for made-up probe ids, and one
// place for each registered probe.
func TestHostileLongPollSquatting(t *testing.T) {
	h := newHarness(t)
	h.heartbeat("eu-london")
	for i := range 15 {
		if resp, _ := h.do("GET", fmt.Sprintf("/api/v1/probes/confirm?probe=made-up-%d", i), "eu-london", nil); resp.StatusCode != http.StatusConflict {
			t.Fatalf("a made-up probe id waited: %d", resp.StatusCode)
		}
	}
	first := make(chan int, 1)
	go func() {
		resp, _ := h.do("GET", "/api/v1/probes/confirm?probe=p-eu-london", "eu-london", nil)
		first <- resp.StatusCode
	}()
	testwait.Eventually(t, 5*time.Second, "the first long-poll waiting", func() error {
		if _, ok := h.c.polling.Load("eu-london/p-eu-london"); !ok {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	if resp, _ := h.do("GET", "/api/v1/probes/confirm?probe=p-eu-london", "eu-london", nil); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a second long-poll of the same probe: %d", resp.StatusCode)
	}
	h.c.confirm.Close()
	if code := <-first; code != http.StatusOK {
		t.Fatalf("the first long-poll: %d", code)
	}
}

// A credential in a check URL's path, marked {secret:…}, is run as it is
// and kept out of every message the check's results carry, on the API,
// the SRE view and alerts alike.
func TestHostileSecretInACheckPath(t *testing.T) {
	const secret = "0c3e7f2a-5b1d-4e8f-a1b2"
	h := newHarnessWith(t, strings.Replace(testConfig, `http: {url: "http://127.0.0.1:9/healthz"}`,
		`http: {url: "http://127.0.0.1:9/ping/{secret:`+secret+`}/healthz"}`, 1))
	ch := h.c.Config().Check("api-health")
	if ch.HTTP.URL != "http://127.0.0.1:9/ping/"+secret+"/healthz" || len(ch.Secrets()) != 1 {
		t.Fatalf("the check runs %q with secrets %v", ch.HTTP.URL, ch.Secrets())
	}
	if m := h.c.Config().Model(ch, "eu-london"); len(m.Secrets) != 1 {
		t.Fatalf("the probe is not told what to redact: %+v", m)
	}
	h.heartbeat("eu-london")
	r := h.result("api-health", "eu-london", 0, model.OutcomeDown)
	r.ErrorClass, r.Message = model.ErrConnect, `Get "http://127.0.0.1:9/ping/`+secret+`/healthz": connection refused`
	h.ship("eu-london", r)
	for _, path := range []string{"/api/v1/status", "/api/v1/results?check=api-health"} {
		if _, body := h.do("GET", path, "", nil); strings.Contains(string(body), secret) {
			t.Errorf("%s shows the secret", path)
		}
	}
	p, err := h.c.pages.CheckPage(context.Background(), "api-health", dashboard.CheckQuery{Range: "1h"})
	if err != nil || len(p.Results) == 0 || strings.Contains(p.Results[0].Message, secret) || !strings.Contains(p.Results[0].Message, model.Redacted) {
		t.Fatalf("the SRE check page: %+v %v", p.Results, err)
	}
}

// A token that names its probes lets no other id register: a holder of
// the token cannot make up probes to take the region's checks.
func TestHostileProbeIDsBoundToTheirToken(t *testing.T) {
	h := newHarnessWith(t, strings.Replace(testConfig, "{region: eu-london, token: london-token-0123456789}",
		"{region: eu-london, token: london-token-0123456789, probes: [p-eu-london]}", 1))
	h.heartbeat("eu-london") // p-eu-london: named, admitted
	for i := range 15 {
		hb := model.Heartbeat{Probe: fmt.Sprintf("made-up-%d", i), Region: "eu-london", StartedAt: h.clock.Now(), SentAt: h.clock.Now()}
		if resp, body := h.do("POST", "/api/v1/probes/register", "eu-london", hb); resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), `"probe"`) {
			t.Fatalf("a made-up probe id: %d %s", resp.StatusCode, body)
		}
	}
	if resp, _ := h.do("GET", "/api/v1/assignment?probe=made-up-1", "eu-london", nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a made-up probe's assignment: %d", resp.StatusCode)
	}
	var a model.Assignment
	_, body := h.do("GET", "/api/v1/assignment?probe=p-eu-london", "eu-london", nil)
	if err := json.Unmarshal(body, &a); err != nil || len(a.Checks) != 2 {
		t.Fatalf("the named probe's assignment: %+v %v", a, err)
	}
	if _, err := config.Parse("bad.yaml", []byte(strings.Replace(testConfig, "{region: eu-london, token: london-token-0123456789}",
		"{region: eu-london, token: london-token-0123456789, probes: [\"not an id\"]}", 1))); err == nil || !strings.Contains(err.Error(), "probes.tokens[0].probes[0]") {
		t.Fatalf("a bad probe id in the configuration: %v", err)
	}
}

// A token that names no probes lets any id register, but made-up ids only
// stand by: the probe that has heartbeat longest keeps every check of its
// region, across its own restart, and another holder of the token cannot
// deregister it.
func TestHostileSquattersTakeNoChecks(t *testing.T) {
	h := newHarness(t)
	started := h.clock.Now()
	beat := func(id string, started time.Time) {
		t.Helper()
		hb := model.Heartbeat{Probe: id, Region: "eu-london", StartedAt: started, SentAt: h.clock.Now()}
		if resp, body := h.do("POST", "/api/v1/probes/heartbeat", "eu-london", hb); resp.StatusCode != http.StatusOK {
			t.Fatalf("heartbeat of %s: %d %s", id, resp.StatusCode, body)
		}
	}
	checks := func(id string) int {
		t.Helper()
		var a model.Assignment
		_, body := h.do("GET", "/api/v1/assignment?probe="+id, "eu-london", nil)
		if err := json.Unmarshal(body, &a); err != nil {
			t.Fatalf("assignment of %s: %v %s", id, err, body)
		}
		return len(a.Checks)
	}
	beat("real-london-1", started)
	h.clock.Add(time.Second)
	for i := range 15 {
		beat(fmt.Sprintf("made-up-%d", i), h.clock.Now())
	}
	for i := range 15 {
		if n := checks(fmt.Sprintf("made-up-%d", i)); n != 0 {
			t.Fatalf("made-up-%d took %d checks from a probe that heartbeats", i, n)
		}
	}
	if n := checks("real-london-1"); n != 2 {
		t.Fatalf("the real probe runs %d of its region's 2 checks beside 15 made-up ids", n)
	}
	// Deregistering it takes knowing when it started.
	forged := model.Heartbeat{Probe: "real-london-1", Region: "eu-london", StartedAt: h.clock.Now()}
	if resp, body := h.do("POST", "/api/v1/probes/deregister", "eu-london", forged); resp.StatusCode != http.StatusConflict || !strings.Contains(string(body), "started_at") {
		t.Fatalf("a forged deregistration: %d %s", resp.StatusCode, body)
	}
	if n := checks("real-london-1"); n != 2 {
		t.Fatalf("after a forged deregistration the real probe runs %d checks", n)
	}
	// Its own restart: while it is gone the longest-standing stand-in runs
	// the checks; back, it has them all again.
	if resp, body := h.do("POST", "/api/v1/probes/deregister", "eu-london", model.Heartbeat{Probe: "real-london-1", Region: "eu-london", StartedAt: started}); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("its own deregistration: %d %s", resp.StatusCode, body)
	}
	if n := checks("made-up-0"); n != 2 {
		t.Fatalf("with the real probe gone, the longest-standing stand-in runs %d of 2 checks", n)
	}
	h.clock.Add(time.Second)
	beat("real-london-1", h.clock.Now())
	if a, b := checks("real-london-1"), checks("made-up-0"); a != 2 || b != 0 {
		t.Fatalf("back from a restart the real probe runs %d checks and made-up-0 %d", a, b)
	}
}

// A key in a path is a credential: logs show the route with its other
// parameters, never the key (pings, pushed counts, events alike).
func TestHostileKeysStayOutOfLoggedPaths(t *testing.T) {
	e := echo.New()
	for _, route := range []string{"/ping/:check/:key/:action", "/sli/:slo/:key", "/events/:rule/:key", "/api/v1/alerts/*"} {
		e.POST(route, func(echo.Context) error { return nil })
	}
	for path, want := range map[string]string{
		"/ping/nightly/s3cret-ping-key-0123/fail": "/ping/nightly/REDACTED/fail",
		"/sli/renders/s3cret-sli-key-01234567":    "/sli/renders/REDACTED",
		"/events/new-errors/s3cret-events-key-01": "/events/new-errors/REDACTED",
		"/api/v1/alerts/down:api/ack":             "/api/v1/alerts/down:api/ack",
	} {
		ec := e.NewContext(httptest.NewRequest("POST", path, nil), httptest.NewRecorder())
		e.Router().Find("POST", path, ec)
		if got := loggedPath(ec); got != want {
			t.Errorf("%s logged as %s, want %s", path, got, want)
		}
	}
}
