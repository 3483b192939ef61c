package dashboard

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// A brute force is refused after a few failures, with Retry-After and
// growing waits, per address and per user name; the right password works
// again once the wait is over, and an unknown user costs what a wrong
// password costs.
func TestHostileSignInResistsGuessing(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	hash, _ := bcrypt.GenerateFromPassword([]byte("correct horse"), bcrypt.DefaultCost)
	s := New(Options{Source: &fakeSource{page: samplePage(1, 1)}, Users: func() []User { return []User{{Name: "alice", PasswordHash: string(hash)}} },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: clock})
	srv := httptest.NewServer(s)
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	c := noRedirect(jar)
	try := func(user, password string) (*http.Response, time.Duration) {
		t.Helper()
		tok := csrfOf(t, c, srv.URL+"/sre/login")
		began := time.Now()
		resp, err := c.PostForm(srv.URL+"/sre/login", url.Values{"csrf": {tok}, "user": {user}, "password": {password}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp, time.Since(began)
	}
	refusedAt := 0
	for attempt := 1; attempt <= 10; attempt++ {
		resp, _ := try("alice", "guess-"+strconv.Itoa(attempt))
		if resp.StatusCode == http.StatusTooManyRequests {
			if resp.Header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
			refusedAt = attempt
			break
		}
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", attempt, resp.StatusCode)
		}
	}
	t.Logf("a brute force is refused at attempt %d", refusedAt)
	if refusedAt != freeFailures+1 {
		t.Fatalf("refused at attempt %d, want %d (after %d free failures)", refusedAt, freeFailures+1, freeFailures)
	}
	// Even the right password waits its turn...
	if resp, _ := try("alice", "correct horse"); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("right password during the wait: %d", resp.StatusCode)
	}
	// ...and works once the wait is over.
	advance(time.Minute)
	if resp, _ := try("alice", "correct horse"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("right password after the wait: %d", resp.StatusCode)
	}
	// An unknown user takes as long as a wrong password (bcrypt either way).
	median := func(user string) time.Duration {
		var ds []time.Duration
		for i := range 5 {
			advance(time.Hour) // no lockout in the way
			_, d := try(user, "nope-"+strconv.Itoa(i))
			ds = append(ds, d)
		}
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		return ds[2]
	}
	wrong, unknown := median("alice"), median("mallory")
	t.Logf("wrong password %s, unknown user %s (medians of 5)", wrong, unknown)
	if unknown < wrong/3 {
		t.Fatalf("an unknown user answers in %s against %s for a wrong password: names can be told apart", unknown, wrong)
	}
}

// The SRE view is never cached, and a change's CSRF token is taken from
// the form body only.
func TestHostileSREViewIsNotCachedAndTakesCSRFFromTheBody(t *testing.T) {
	srv, src := newTestServer(t)
	jar, _ := cookiejar.New(nil)
	c := noRedirect(jar)
	tok := csrfOf(t, c, srv.URL+"/sre/login")
	if resp, _ := c.PostForm(srv.URL+"/sre/login", url.Values{"csrf": {tok}, "user": {"alice"}, "password": {"correct horse"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	resp, err := c.Get(srv.URL + "/sre")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("SRE view Cache-Control %q", cc)
	}
	sessionCSRF := csrfOf(t, c, srv.URL+"/sre")
	resp, _ = c.PostForm(srv.URL+"/sre/alerts/ack?csrf="+url.QueryEscape(sessionCSRF), url.Values{"key": {"down:api"}})
	if resp.StatusCode != http.StatusForbidden || len(src.acked) != 0 {
		t.Fatalf("a CSRF token in the URL was taken: %d %v", resp.StatusCode, src.acked)
	}
}
