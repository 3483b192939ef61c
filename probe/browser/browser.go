// Package browser runs a probe's browser checks: one Chromium process per
// probe, a bounded number of pages at once, each run in a browser context
// of its own (no cookie, cache or storage shared across runs), and the
// browser started again when it dies or grows past a memory bound.
package browser

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/nines-sre/nines/internal/chromium"
	"github.com/nines-sre/nines/internal/proc"
	"github.com/nines-sre/nines/probe/check"
)

// Options configure a probe's browser.
type Options struct {
	// Exec is the Chromium binary (Debian's: /usr/bin/chromium).
	Exec string
	// MaxPages bounds the runs at once (default 2).
	MaxPages int
	// MaxMemory is the memory of the browser and its processes (the sum
	// of their proportional set sizes) past which it is started again
	// between runs (default 1 GiB).
	MaxMemory int64
	Logger    *slog.Logger
}

// Browser is a probe's Chromium, started on first use.
type Browser struct {
	o     Options
	pages chan struct{}

	mu       sync.Mutex
	running  int // runs holding a page now
	root     context.Context
	stop     context.CancelFunc
	pid      int
	restarts int
}

func init() {
	check.NewBrowser = func(exec string, pages int, maxMemory int64, log *slog.Logger) check.BrowserRunner {
		return New(Options{Exec: exec, MaxPages: pages, MaxMemory: maxMemory, Logger: log})
	}
}

// New returns a browser that starts Chromium when it is first used.
func New(o Options) *Browser {
	if o.MaxPages <= 0 {
		o.MaxPages = 2
	}
	if o.MaxMemory <= 0 {
		o.MaxMemory = 1 << 30
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Browser{o: o, pages: make(chan struct{}, o.MaxPages)}
}

// Restarts is how many times the browser was started again (it died, or
// outgrew MaxMemory).
func (b *Browser) Restarts() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.restarts
}

// PID is the browser process's id (0 while none runs).
func (b *Browser) PID() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.pid
}

// Close stops the browser.
func (b *Browser) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stop != nil {
		b.stop()
		b.root, b.stop, b.pid = nil, nil, 0
	}
}

// acquire takes a page and returns the browser context to open it in,
// starting the browser first when none runs, it died, or (with no other
// page open) it grew past MaxMemory.
func (b *Browser) acquire(ctx context.Context) (context.Context, error) {
	select {
	case b.pages <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for a page: %w", ctx.Err())
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	why := ""
	switch {
	case b.root == nil:
	case b.root.Err() != nil || !alive(b.pid):
		why = "it died"
	case b.running == 0 && proc.TreeMemory(b.pid) > b.o.MaxMemory:
		why = fmt.Sprintf("it holds more than %d MiB", b.o.MaxMemory>>20)
	}
	if b.root == nil || why != "" {
		if why != "" {
			b.o.Logger.Warn("browser started again", "why", why)
			b.restarts++
			b.stop()
		}
		if err := b.start(); err != nil {
			<-b.pages
			return nil, err
		}
	}
	b.running++
	return b.root, nil
}

func (b *Browser) release() {
	b.mu.Lock()
	b.running--
	b.mu.Unlock()
	<-b.pages
}

// start runs Chromium (internal/chromium's options). b.mu is held.
func (b *Browser) start() error {
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), chromium.Options(b.o.Exec, 1280, 900)...)
	root, cancelRoot := chromedp.NewContext(actx)
	// The first action starts the process; its context must outlive it.
	if err := chromedp.Do(root); err != nil {
		cancelRoot()
		cancelAlloc()
		return fmt.Errorf("start %s: %w", b.o.Exec, err)
	}
	pid := 0
	if c := chromedp.FromContext(root); c != nil && c.Browser != nil {
		if p := c.Browser.Process(); p != nil {
			pid = p.Pid
		}
	}
	b.root, b.pid = root, pid
	b.stop = func() { cancelRoot(); cancelAlloc() }
	return nil
}

func alive(pid int) bool {
	if pid == 0 {
		return true // not known: trust the context
	}
	_, err := proc.RSS(pid)
	return err == nil
}

// errBrowser marks a failure of the browser rather than of the page.
var errBrowser = errors.New("browser")

// timeLeft is how long ctx has, or d when it has no deadline.
func timeLeft(ctx context.Context, d time.Duration) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		return time.Until(dl)
	}
	return d
}
