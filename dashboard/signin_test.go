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
	"strings"
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

// Guessing at a user's password from anywhere does not lock the user out:
// the browser they signed in with before signs in at once, every time,
// while an attacker fails every minute for 30 minutes (and an untrusted
// browser, the attacker's, waits).
func TestHostileSignInCannotLockTheUserOut(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	hash, _ := bcrypt.GenerateFromPassword([]byte("correct horse"), bcrypt.MinCost)
	s := New(Options{Source: &fakeSource{page: samplePage(1, 1)}, Users: func() []User { return []User{{Name: "alice", PasswordHash: string(hash)}} },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: clock})
	srv := httptest.NewServer(s)
	defer srv.Close()
	browser := func() *http.Client { jar, _ := cookiejar.New(nil); return noRedirect(jar) }
	try := func(c *http.Client, password string) int {
		t.Helper()
		tok := csrfOf(t, c, srv.URL+"/sre/login")
		resp, err := c.PostForm(srv.URL+"/sre/login", url.Values{"csrf": {tok}, "user": {"alice"}, "password": {password}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	alice := browser()
	if code := try(alice, "correct horse"); code != http.StatusSeeOther {
		t.Fatalf("alice's first sign-in: %d", code)
	}
	attacker := browser()
	signedIn, refused := 0, 0
	for minute := range 30 {
		for range 3 {
			if code := try(attacker, "guess"); code == http.StatusTooManyRequests {
				refused++
			}
		}
		if code := try(alice, "correct horse"); code == http.StatusSeeOther {
			signedIn++
		} else {
			t.Errorf("minute %d: alice's own browser got %d", minute, code)
		}
		mu.Lock()
		now = now.Add(time.Minute)
		mu.Unlock()
	}
	t.Logf("alice signed in %d times of 30 while an attacker guessed 90 times (%d refused with 429)", signedIn, refused)
	if refused < 60 {
		t.Errorf("the attacker was refused %d times of 90: guessing is not slowed", refused)
	}
	if code := try(browser(), "correct horse"); code != http.StatusTooManyRequests {
		t.Errorf("a new, untrusted browser signed in during the attack: %d", code)
	}
}

// A huge user name costs a refusal and nothing more: the form is bounded
// (an 8 MiB name is not even read), the limiter keeps a digest of a long
// one, and the log says a client's refusals once a minute with the name
// cut short.
func TestHostileSignInBoundsNamesAndLogs(t *testing.T) {
	var logs strings.Builder
	hash, _ := bcrypt.GenerateFromPassword([]byte("correct horse"), bcrypt.MinCost)
	s := New(Options{Source: &fakeSource{page: samplePage(1, 1)}, Users: func() []User { return []User{{Name: "alice", PasswordHash: string(hash)}} },
		Logger: slog.New(slog.NewTextHandler(&lockedWriter{w: &logs}, nil))})
	srv := httptest.NewServer(s)
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	c := noRedirect(jar)
	codes := map[int]int{}
	for i := range 20 {
		tok := csrfOf(t, c, srv.URL+"/sre/login")
		name := strings.Repeat("n", 100) + strconv.Itoa(i) // a long name, under the bound
		if i%2 == 1 {
			name = strings.Repeat("m", 8<<20) // 8 MiB: over the form's bound
		}
		resp, err := c.PostForm(srv.URL+"/sre/login", url.Values{"csrf": {tok}, "user": {name}, "password": {"x"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		codes[resp.StatusCode]++
	}
	if codes[http.StatusSeeOther] != 0 {
		t.Fatalf("answers %v", codes)
	}
	for k := range s.signins.keys {
		if len(k) > 40 {
			t.Errorf("the limiter keeps a key of %d bytes", len(k))
		}
	}
	if logs.Len() > 1000 || strings.Count(logs.String(), "\n") != 1 || strings.Contains(logs.String(), strings.Repeat("n", 65)) {
		t.Errorf("20 refusals from one client logged %d bytes in %d lines:\n%s", logs.Len(), strings.Count(logs.String(), "\n"), logs.String())
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Flooding the limiter with new keys never drops a lockout: past its
// bound, new keys wait instead.
func TestHostileSignInLimiterCannotBeFlushed(t *testing.T) {
	l := newSigninLimiter()
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for range freeFailures + 1 {
		l.fail(now, "user:alice")
	}
	for i := range 2 * maxTracked {
		l.fail(now, "addr:"+strconv.Itoa(i))
	}
	if w := l.wait(now, "user:alice"); w <= 0 {
		t.Fatal("a flood of new keys dropped alice's lockout")
	}
	if w := l.wait(now, "addr:new"); w <= 0 {
		t.Fatal("a new key past the bound does not wait")
	}
	if n := len(l.keys); n > maxTracked {
		t.Fatalf("%d keys kept, more than %d", n, maxTracked)
	}
	// Once the flood is quiet, its keys make room again.
	later := now.Add(2 * time.Minute)
	if w := l.wait(later, "addr:new"); w > 0 {
		t.Fatalf("after the flood a new key still waits %s", w)
	}
}
