package snapshot

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The document is built once per change of its version, not per request;
// an unchanged body keeps its ETag.
func TestBuiltOncePerChange(t *testing.T) {
	var version atomic.Uint64
	var text atomic.Value
	text.Store(strings.Repeat("all systems operational ", 100))
	c := New("text/plain", Options{Version: version.Load, MaxAge: time.Hour}, func(context.Context) (string, []byte, error) {
		s := text.Load().(string)
		return s, []byte(s), nil
	})
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				if _, err := c.Get(ctx); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if n := c.Builds.Load(); n != 1 {
		t.Fatalf("6,400 requests built the document %d times, want 1", n)
	}
	e1, _ := c.Get(ctx)
	version.Add(1) // something changed, but not what it shows
	if e, _ := c.Get(ctx); e != e1 {
		t.Fatal("a due document was not served as it was while it is rebuilt")
	}
	settle(c)
	e2, _ := c.Get(ctx)
	if c.Builds.Load() != 2 || e2.ETag != e1.ETag {
		t.Fatalf("rebuilt %d times; ETag %s then %s", c.Builds.Load(), e1.ETag, e2.ETag)
	}
	text.Store("major outage")
	version.Add(1)
	c.Get(ctx)
	settle(c)
	e3, _ := c.Get(ctx)
	if e3.Value != "major outage" || e3.ETag == e2.ETag || e3.Gzip != nil {
		t.Fatalf("after a change: %q %s (gzip %d bytes for a short body)", e3.Value, e3.ETag, len(e3.Gzip))
	}
}

// settle waits for a background build to end.
func settle[T any](c *Cache[T]) {
	c.mu.Lock()
	defer c.mu.Unlock() // waiting for the lock is the point
}

// Under a stream of changes the document is rebuilt at most once per
// MinInterval; MaxAge rebuilds it with no change at all.
func TestIntervals(t *testing.T) {
	var version atomic.Uint64
	c := New("text/plain", Options{Version: version.Load, MinInterval: time.Hour}, func(context.Context) (int, []byte, error) { return 0, []byte("x"), nil })
	for range 10 {
		version.Add(1)
		c.Get(context.Background())
	}
	if n := c.Builds.Load(); n != 1 {
		t.Fatalf("ten changes within MinInterval: %d builds, want 1", n)
	}
	aged := New("text/plain", Options{Version: version.Load, MaxAge: time.Nanosecond}, func(context.Context) (int, []byte, error) { return 0, []byte("x"), nil })
	aged.Get(context.Background())
	time.Sleep(time.Millisecond)
	aged.Get(context.Background())
	settle(aged)
	if n := aged.Builds.Load(); n != 2 {
		t.Fatalf("past MaxAge: %d builds, want 2", n)
	}
}

// A failed build keeps serving the last document; with none, the error.
func TestBuildErrors(t *testing.T) {
	var version atomic.Uint64
	var failing atomic.Bool
	c := New("text/plain", Options{Version: version.Load}, func(context.Context) (int, []byte, error) {
		if failing.Load() {
			return 0, nil, fmt.Errorf("store down")
		}
		return 1, []byte("ok"), nil
	})
	failing.Store(true)
	if _, err := c.Get(context.Background()); err == nil {
		t.Fatal("no document and a failing build: want the error")
	}
	failing.Store(false)
	c.Get(context.Background())
	failing.Store(true)
	version.Add(1)
	c.Get(context.Background())
	settle(c)
	if e, err := c.Get(context.Background()); err != nil || string(e.Body) != "ok" {
		t.Fatalf("failing rebuild: %v %v", e, err)
	}
}

// Serve answers 304 to the ETag, gzip to who accepts it, the body to
// everyone else, over a real HTTP server.
func TestServe(t *testing.T) {
	r := Render([]byte(strings.Repeat(`{"status":"operational"}`, 200)), "application/json")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { r.Serve(w, req, "public, max-age=5") }))
	defer srv.Close()
	get := func(hdr map[string]string) (*http.Response, []byte) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultTransport.RoundTrip(req) // no transparent gzip
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	resp, body := get(nil)
	if resp.StatusCode != 200 || string(body) != string(r.Body) || resp.Header.Get("Content-Encoding") != "" || resp.Header.Get("Cache-Control") != "public, max-age=5" {
		t.Fatalf("plain: %d %q %v", resp.StatusCode, resp.Header.Get("Content-Encoding"), resp.Header)
	}
	resp, body = get(map[string]string{"Accept-Encoding": "br, gzip;q=0.8"})
	if resp.Header.Get("Content-Encoding") != "gzip" || len(body) >= len(r.Body) {
		t.Fatalf("gzip: %q, %d bytes", resp.Header.Get("Content-Encoding"), len(body))
	}
	zr, err := gzip.NewReader(strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(zr)
	if string(plain) != string(r.Body) {
		t.Fatal("the gzip form is another document")
	}
	if resp, _ = get(map[string]string{"Accept-Encoding": "gzip;q=0"}); resp.Header.Get("Content-Encoding") != "" {
		t.Fatal("gzip;q=0 got gzip")
	}
	for _, inm := range []string{r.ETag, `"other", ` + r.ETag, "W/" + r.ETag, "*"} {
		if resp, body = get(map[string]string{"If-None-Match": inm}); resp.StatusCode != http.StatusNotModified || len(body) != 0 || resp.Header.Get("ETag") != r.ETag {
			t.Fatalf("If-None-Match %s: %d, %d bytes", inm, resp.StatusCode, len(body))
		}
	}
	if resp, _ = get(map[string]string{"If-None-Match": `"stale"`}); resp.StatusCode != 200 {
		t.Fatalf("a stale ETag: %d", resp.StatusCode)
	}
}

// An urgent change rebuilds within a tenth of MinInterval.
func TestUrgent(t *testing.T) {
	var version, urgent atomic.Uint64
	c := New("text/plain", Options{Version: version.Load, Urgent: urgent.Load, MinInterval: 100 * time.Millisecond},
		func(context.Context) (int, []byte, error) { return 0, []byte("x"), nil })
	c.Get(context.Background())
	version.Add(1)
	c.Get(context.Background())
	if n := c.Builds.Load(); n != 1 {
		t.Fatalf("a change within MinInterval: %d builds, want 1", n)
	}
	time.Sleep(15 * time.Millisecond)
	urgent.Add(1)
	c.Get(context.Background())
	settle(c)
	if n := c.Builds.Load(); n != 2 {
		t.Fatalf("an urgent change after a tenth of MinInterval: %d builds, want 2", n)
	}
}

// The first reader after an idle period never reads old news: a due
// document older than StaleFor is built before it is served (a younger
// one is served while it is rebuilt: TestBuiltOncePerChange).
func TestFirstReaderAfterIdleGetsTheChange(t *testing.T) {
	var version atomic.Uint64
	var text atomic.Value
	text.Store("all systems operational")
	c := New("text/plain", Options{Version: version.Load, StaleFor: 50 * time.Millisecond, MaxAge: time.Hour},
		func(context.Context) (string, []byte, error) {
			s := text.Load().(string)
			return s, []byte(s), nil
		})
	ctx := context.Background()
	if e, _ := c.Get(ctx); e.Value != "all systems operational" {
		t.Fatal(e.Value)
	}
	time.Sleep(60 * time.Millisecond) // nobody reads: the copy grows older than StaleFor
	text.Store("major outage")
	version.Add(1)
	if e, _ := c.Get(ctx); e.Value != "major outage" {
		t.Fatalf("the first read after an idle period got %q", e.Value)
	}
}
