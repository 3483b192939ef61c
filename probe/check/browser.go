package check

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/nines-sre/nines/model"
	"github.com/nines-sre/nines/probe/browser"
)

// Browser drives the probe's Chromium through the check's steps, in a
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
	steps := make([]browser.Step, len(c.Browser.Steps))
	for i, s := range c.Browser.Steps {
		steps[i] = browser.Step{Action: s.Action, URL: s.URL, Selector: s.Selector, Text: s.Text, Name: s.Name, Attribute: s.Attribute}
	}
	r := env.Browser.Run(ctx, steps)
	f := &model.BrowserFacts{TTFBMS: r.TTFBMS, DOMContentLoadedMS: r.DOMContentLoadedMS, LoadMS: r.LoadMS, LCPMS: r.LCPMS, CLS: r.CLS,
		INPMS: r.INPMS, JSErrors: r.JSErrors, ConsoleErrors: r.ConsoleErrors, Values: r.Values, StepsMS: r.StepsMS}
	for _, fr := range r.FailedRequests {
		f.FailedRequests = append(f.FailedRequests, model.BrowserFailedRequest{URL: fr.URL, Status: fr.Status, Error: fr.Error})
	}
	if len(f.Values) == 0 {
		f.Values = nil
	}
	obs := Observation{Browser: f}
	obs.Subject.Browser = f
	obs.Phases.TTFB = int64(r.TTFBMS * 1000)
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
