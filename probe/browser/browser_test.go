package browser

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nines-sre/nines/internal/chrometest"
)

const homePage = `<!doctype html><html><head><title>Acme</title></head><body>
<h1 id="title">Acme Notes: a long enough heading to be the largest paint</h1>
<div id="slot" data-level="fresh">hello</div>
<p id="seen"></p>
<button id="btn" onclick="document.querySelector('#out').textContent = 'clicked ' + document.querySelector('#name').value">go</button>
<input id="name"><p id="out"></p>
<img src="/slow" width="1" height="1">
<script>
document.querySelector("#seen").textContent = localStorage.getItem("seen") || document.cookie ? "returning" : "new";
localStorage.setItem("seen", "yes"); document.cookie = "seen=yes";
setTimeout(() => { const r = document.createElement("p"); r.id = "ready"; r.textContent = "ready"; document.body.appendChild(r); }, 50);
</script></body></html>`

const brokenPage = `<!doctype html><html><body><h1>Broken</h1>
<img src="/missing.png"><img src="http://%s/refused.png">
<script>console.error("console says no"); setTimeout(() => { throw new Error("boom from the page"); }, 10);</script>
<p id="ready">ready</p></body></html>`

type site struct {
	*httptest.Server
	slow, maxSlow atomic.Int32
}

func newSite(t *testing.T) *site {
	t.Helper()
	// A port nothing listens on, for a request that is refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := ln.Addr().String()
	ln.Close()
	s := &site{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/":
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, homePage)
		case "/broken":
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprintf(w, brokenPage, refused)
		case "/slow":
			n := s.slow.Add(1)
			for {
				m := s.maxSlow.Load()
				if n <= m || s.maxSlow.CompareAndSwap(m, n) {
					break
				}
			}
			time.Sleep(300 * time.Millisecond)
			s.slow.Add(-1)
			w.Header().Set("Content-Type", "image/gif")
			w.Write([]byte("GIF89a"))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func newBrowser(t *testing.T, o Options) *Browser {
	t.Helper()
	o.Exec = chrometest.Path(t)
	b := New(o)
	t.Cleanup(b.Close)
	return b
}

func run(t *testing.T, b *Browser, steps ...Step) *Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return b.Run(ctx, steps)
}

// A run reports the values it read, the navigation's timings and Core Web
// Vitals, and nothing failed.
func TestRunReportsWhatThePageDid(t *testing.T) {
	s := newSite(t)
	b := newBrowser(t, Options{})
	r := run(t, b,
		Step{Action: "goto", URL: s.URL + "/"},
		Step{Action: "wait_for", Selector: "#ready"},
		Step{Action: "type", Selector: "#name", Text: "ada"},
		Step{Action: "click", Selector: "#btn"},
		Step{Action: "expect_text", Selector: "#out", Text: "clicked ada"},
		Step{Action: "read", Name: "level", Selector: "#slot", Attribute: "data-level"},
		Step{Action: "read", Name: "title", Selector: "#title"})
	if r.Err != nil {
		t.Fatalf("run: %v", r.Err)
	}
	if r.Values["level"] != "fresh" || !strings.HasPrefix(r.Values["title"], "Acme Notes") {
		t.Fatalf("values %v", r.Values)
	}
	if r.TTFBMS <= 0 || r.DOMContentLoadedMS < r.TTFBMS || r.LoadMS < r.DOMContentLoadedMS || r.LCPMS <= 0 || r.CLS < 0 {
		t.Fatalf("timings %+v", r)
	}
	if len(r.JSErrors)+len(r.ConsoleErrors)+len(r.FailedRequests) > 0 || r.Screenshot != nil || len(r.StepsMS) != 7 {
		t.Fatalf("a clean run reported %+v", r)
	}
}

// A failed step says which and why, and keeps a bounded JPEG of the page.
func TestRunFailureKeepsAScreenshot(t *testing.T) {
	s := newSite(t)
	b := newBrowser(t, Options{})
	r := run(t, b, Step{Action: "goto", URL: s.URL + "/"}, Step{Action: "expect_text", Selector: "#title", Text: "Globex"})
	if r.Err == nil || !strings.Contains(r.Err.Error(), "step 2 (expect_text)") || !strings.Contains(r.Err.Error(), `not "Globex"`) || r.BrowserFailed {
		t.Fatalf("err %v (browser failed %v)", r.Err, r.BrowserFailed)
	}
	if !bytes.HasPrefix(r.Screenshot, []byte{0xff, 0xd8}) || len(r.Screenshot) > MaxScreenshot {
		t.Fatalf("screenshot of %d bytes, starting % x", len(r.Screenshot), r.Screenshot[:min(4, len(r.Screenshot))])
	}
}

// Uncaught errors, console errors and failed requests are reported.
func TestRunSeesErrorsAndFailedRequests(t *testing.T) {
	s := newSite(t)
	b := newBrowser(t, Options{})
	r := run(t, b, Step{Action: "goto", URL: s.URL + "/broken"}, Step{Action: "wait_for", Selector: "#ready"})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(strings.Join(r.JSErrors, "\n"), "boom from the page") && time.Now().Before(deadline) {
		r = run(t, b, Step{Action: "goto", URL: s.URL + "/broken"}, Step{Action: "wait_for", Selector: "#ready"},
			Step{Action: "wait_for", Selector: "h1"})
	}
	if !strings.Contains(strings.Join(r.JSErrors, "\n"), "boom from the page") {
		t.Errorf("js errors %q", r.JSErrors)
	}
	if !strings.Contains(strings.Join(r.ConsoleErrors, "\n"), "console says no") {
		t.Errorf("console errors %q", r.ConsoleErrors)
	}
	var missing, refused bool
	for _, f := range r.FailedRequests {
		missing = missing || strings.HasSuffix(f.URL, "/missing.png") && f.Status == 404
		refused = refused || strings.HasSuffix(f.URL, "/refused.png") && f.Error != ""
	}
	if !missing || !refused {
		t.Errorf("failed requests %+v", r.FailedRequests)
	}
}

// Runs share no cookie or storage: each is a new visitor.
func TestRunsShareNothing(t *testing.T) {
	s := newSite(t)
	b := newBrowser(t, Options{})
	for i := range 2 {
		r := run(t, b, Step{Action: "goto", URL: s.URL + "/"}, Step{Action: "read", Name: "seen", Selector: "#seen"})
		if r.Err != nil || r.Values["seen"] != "new" {
			t.Fatalf("run %d: %v %v", i, r.Values, r.Err)
		}
	}
}

// At most MaxPages pages at once; the rest wait their turn.
func TestPagesAreBounded(t *testing.T) {
	s := newSite(t)
	b := newBrowser(t, Options{MaxPages: 1})
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := run(t, b, Step{Action: "goto", URL: s.URL + "/"}, Step{Action: "wait_for", Selector: "#ready"})
			errs <- r.Err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if m := s.maxSlow.Load(); m != 1 {
		t.Fatalf("%d pages loaded at once, want 1", m)
	}
}

// A browser that died, or outgrew its memory bound, is started again and
// the next run goes on.
func TestBrowserStartsAgain(t *testing.T) {
	s := newSite(t)
	b := newBrowser(t, Options{})
	steps := []Step{{Action: "goto", URL: s.URL + "/"}, {Action: "wait_for", Selector: "#ready"}}
	if r := run(t, b, steps...); r.Err != nil {
		t.Fatal(r.Err)
	}
	pid := b.PID()
	if pid == 0 {
		t.Fatal("no browser process")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	var r *Report
	for r = run(t, b, steps...); r.Err != nil && time.Now().Before(deadline); r = run(t, b, steps...) {
		if !r.BrowserFailed {
			t.Fatalf("a dead browser's run blamed the page: %v", r.Err)
		}
	}
	if r.Err != nil || b.Restarts() != 1 || b.PID() == pid {
		t.Fatalf("after the browser died: %v, %d restarts, pid %d (was %d)", r.Err, b.Restarts(), b.PID(), pid)
	}

	small := newBrowser(t, Options{MaxMemory: 1})
	for range 2 {
		if r := run(t, small, steps...); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	if n := small.Restarts(); n != 1 {
		t.Fatalf("%d restarts for a browser always over its bound after two runs, want 1 (before the second)", n)
	}
}

// A step that cannot finish ends with the run's time, saying so, and
// leaves the run the time for the page's screenshot and figures.
func TestRunEndsWithItsTime(t *testing.T) {
	s := newSite(t)
	b := newBrowser(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Second)
	defer cancel()
	r := b.Run(ctx, []Step{{Action: "goto", URL: s.URL + "/"}, {Action: "wait_for", Selector: "#never"}})
	if r.Err == nil || !strings.Contains(r.Err.Error(), "step 2 (wait_for)") || !strings.Contains(r.Err.Error(), "timed out") {
		t.Fatalf("err %v", r.Err)
	}
	if !bytes.HasPrefix(r.Screenshot, []byte{0xff, 0xd8}) || r.TTFBMS <= 0 || r.LoadMS <= 0 {
		t.Fatalf("after the time ran out: screenshot of %d bytes, TTFB %v ms, load %v ms", len(r.Screenshot), r.TTFBMS, r.LoadMS)
	}
}
