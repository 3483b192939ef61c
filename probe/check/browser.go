package check

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/nines-sre/nines/model"
)

// BrowserRunner runs a browser check's steps in a browser (probe/browser
// on a probe started with one). The interface keeps Chromium's driver out
// of probes that run none.
type BrowserRunner interface {
	RunSteps(ctx context.Context, steps []model.BrowserStep) BrowserRun
	Close()
}

// NewBrowser starts a BrowserRunner of Chromium at exec with at most
// pages runs at once, started again past maxMemory bytes. It is set by
// probe/browser when a binary links it (nines does, the lean nines-probe
// does not); nil otherwise.
var NewBrowser func(exec string, pages int, maxMemory int64, log *slog.Logger) BrowserRunner

// BrowserRun is what one browser run saw: the page's facts (times in
// milliseconds from the start of the last navigation), a JPEG of it when
// a step failed, the step that failed and why, and whether the browser
// itself failed (never the target's fault).
type BrowserRun struct {
	model.BrowserFacts
	Screenshot    []byte
	Err           error
	BrowserFailed bool
}

// Browser drives the probe's browser through the check's steps, in a
// browser context of its own, and reports what the page did. A step that
// fails is the target's failure; the browser failing is the probe's own
// (a probe problem, never downtime).
func Browser(ctx context.Context, c *model.Check, env Env) Observation {
	switch {
	case c.Browser == nil:
		return Observation{Class: model.ErrInternal, Err: errors.New("browser check without a browser block")}
	case env.Browser == nil:
		return Observation{Class: model.ErrInternal, ProbeFault: true, Err: errors.New("this probe runs no browser (start it with --browser)")}
	}
	r := env.Browser.RunSteps(ctx, c.Browser.Steps)
	f := r.BrowserFacts
	if len(f.Values) == 0 {
		f.Values = nil
	}
	var obs Observation
	obs.Subject.Browser = &f
	obs.Phases.TTFB = int64(f.TTFBMS * 1000)
	shots := env.Keep(c.ID, "screenshots", func() any { return &shotPolicy{} }).(*shotPolicy)
	if r.Err != nil {
		obs.Err, obs.Class = r.Err, model.ErrAssertion
		if r.BrowserFailed {
			obs.Class, obs.ProbeFault = model.ErrInternal, true
		} else if shots.take(time.Now()) {
			obs.Screenshot = r.Screenshot
		}
	} else {
		shots.passed()
	}
	return obs
}

// shotEvery is how often a check that keeps failing sends a screenshot
// after the first.
const shotEvery = 10 * time.Minute

// shotPolicy says which failed runs of a check send their screenshot: the
// first after a pass, then one every shotEvery (a failed assertion sends
// none: the page did what was asked, the figures say the rest).
type shotPolicy struct {
	mu      sync.Mutex
	failing bool
	last    time.Time
}

func (p *shotPolicy) take(now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failing && now.Sub(p.last) < shotEvery {
		return false
	}
	p.failing, p.last = true, now
	return true
}

func (p *shotPolicy) passed() {
	p.mu.Lock()
	p.failing = false
	p.mu.Unlock()
}
