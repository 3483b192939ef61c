// Command browser measures what browser checks cost a probe: CPU-seconds
// and the browser's peak memory per run, and how many such checks a minute
// one probe sustains with its pages busy. The page is served in this
// process, on loopback: the demo host application (contentsvc's /app with
// its SDK, -page app), a storefront-weight page (-page heavy: 40 images,
// 2,000 cards built by script, a 50 ms script task, a late layout shift),
// or a page saved from a browser ("Save page as…, complete") into a
// directory whose index.html it opens (-page DIR).
//
//	go run ./bench/browser -runs 60 -pages 2 -page heavy
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nines-sre/nines/contentsvc"
	"github.com/nines-sre/nines/internal/proc"
	"github.com/nines-sre/nines/probe/browser"
)

func main() {
	runs := flag.Int("runs", 60, "browser runs in all (bounded)")
	pages := flag.Int("pages", 2, "runs at once (the probe's --browser-pages)")
	exe := flag.String("chromium", "/usr/bin/chromium", "Chromium")
	limit := flag.Duration("limit", 10*time.Minute, "stop after this long, whatever is left")
	which := flag.String("page", "app", "the page: app, heavy, or a directory holding a saved page's index.html")
	flag.Parse()
	if *runs < 1 || *runs > 10000 || *pages < 1 || *pages > 16 {
		log.Fatal("-runs: 1 to 10000; -pages: 1 to 16")
	}
	if _, err := os.Stat(*exe); err != nil {
		log.Fatalf("-chromium: %v (apt-get install chromium)", err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	tg, err := page(*which, quiet)
	if err != nil {
		log.Fatalf("-page: %v", err)
	}
	srv := httptest.NewServer(tg.handler)
	defer srv.Close()
	b := browser.New(browser.Options{Exec: *exe, MaxPages: *pages, Logger: quiet})
	defer b.Close()
	steps := tg.steps(srv.URL)
	fmt.Printf("page %s: %s\n", *which, tg.about)
	ctx, cancel := context.WithTimeout(context.Background(), *limit)
	defer cancel()

	// The first run starts the browser: measured apart.
	start := time.Now()
	if r := b.Run(ctx, steps); r.Err != nil {
		log.Fatalf("first run: %v", r.Err)
	}
	fmt.Printf("browser start and first run: %.2f s, browser memory (PSS of its processes) %.0f MiB\n", time.Since(start).Seconds(), float64(proc.TreeMemory(b.PID()))/(1<<20))

	var peak atomic.Int64
	stop := make(chan struct{})
	go func() { // the browser's memory, sampled
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if n := proc.TreeMemory(b.PID()); n > peak.Load() {
					peak.Store(n)
				}
			}
		}
	}()
	self := os.Getpid()
	cpu0 := proc.TreeCPUSeconds(self) // this process and the browser it started
	start = time.Now()
	var next atomic.Int64
	var mu sync.Mutex
	var took []float64
	failed := 0
	var wg sync.WaitGroup
	for range *pages {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(*runs) && ctx.Err() == nil {
				t := time.Now()
				r := b.Run(ctx, steps)
				mu.Lock()
				took = append(took, time.Since(t).Seconds())
				if r.Err != nil || !tg.ok(r) {
					failed++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	cpu := proc.TreeCPUSeconds(self) - cpu0
	close(stop)
	sort.Float64s(took)
	n := len(took)
	fmt.Printf("runs %d (failed %d) with %d pages at once on %d cores, in %.1f s\n", n, failed, *pages, runtime.NumCPU(), wall.Seconds())
	fmt.Printf("per run: %.3f CPU-seconds (browser and checker), wall p50 %.2f s, p95 %.2f s\n", cpu/float64(n), took[n/2], took[min(n-1, n*95/100)])
	fmt.Printf("browser peak memory (PSS of all its processes) %.0f MiB\n", float64(peak.Load())/(1<<20))
	fmt.Printf("sustained: %.0f browser checks a minute with the cores busy\n", float64(n)/wall.Minutes())
	fmt.Printf("restarts %d\n", b.Restarts())
}

// target is a page to measure: what serves it, the check's steps, and
// what a good run reads.
type target struct {
	about   string
	handler http.Handler
	steps   func(base string) []browser.Step
	ok      func(*browser.Report) bool
}

func page(which string, logger *slog.Logger) (*target, error) {
	switch which {
	case "app":
		dir, err := os.MkdirTemp("", "bench-browser")
		if err != nil {
			return nil, err
		}
		svc, err := contentsvc.New(contentsvc.Options{DataDir: dir, Logger: logger})
		if err != nil {
			return nil, err
		}
		return &target{about: "the demo host application with the SDK (five steps)", handler: svc.Handler(),
			steps: func(base string) []browser.Step {
				return []browser.Step{{Action: "goto", URL: base + "/app"}, {Action: "wait_for", Selector: "#in-app-content[data-content-level]"},
					{Action: "expect_text", Selector: "#app-header h1", Text: "Acme Notes"},
					{Action: "read", Name: "level", Selector: "#in-app-content", Attribute: "data-content-level"}}
			},
			ok: func(r *browser.Report) bool { return r.Values["level"] == "fresh" }}, nil
	case "heavy":
		return &target{about: fmt.Sprintf("a storefront-weight page (%d images, %d cards built by script)", heavyImages, heavyItems), handler: heavyPage(),
			steps: func(base string) []browser.Step {
				return []browser.Step{{Action: "goto", URL: base + "/"}, {Action: "wait_for", Selector: "#catalogue[data-ready]"},
					{Action: "expect_text", Selector: "header h1", Text: "Catalogue"},
					{Action: "read", Name: "items", Selector: "#catalogue", Attribute: "data-items"}}
			},
			ok: func(r *browser.Report) bool { return r.Values["items"] == fmt.Sprint(heavyItems) }}, nil
	}
	if _, err := os.Stat(filepath.Join(which, "index.html")); err != nil {
		return nil, fmt.Errorf("%q is neither app, heavy nor a directory with index.html: %w", which, err)
	}
	return &target{about: "the saved page in " + which, handler: http.FileServer(http.Dir(which)),
		steps: func(base string) []browser.Step {
			return []browser.Step{{Action: "goto", URL: base + "/index.html"}, {Action: "wait_for", Selector: "body"}}
		},
		ok: func(r *browser.Report) bool { return len(r.JSErrors) == 0 }}, nil
}
