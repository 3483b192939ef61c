package browser

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/nines-sre/nines/model"
	"github.com/nines-sre/nines/probe/check"
)

// Step is one thing a browser check does (model.BrowserStep: goto,
// wait_for, click, type, expect_text, read).
type Step = model.BrowserStep

// Report is what one run saw (its screenshot at most MaxScreenshot bytes).
type Report = check.BrowserRun

// afterSteps is how much of a run's time (at most a quarter of it) is
// kept from its steps for the screenshot and the page's figures.
const afterSteps = 3 * time.Second

// Bounds of what a report keeps.
const (
	MaxScreenshot = model.MaxScreenshot
	maxListed     = model.MaxBrowserList
	maxText       = 300
)

// instrument runs in every document before its own scripts: it keeps the
// page's uncaught errors and the performance entries Core Web Vitals are
// made of.
const instrument = `(() => {
  const n = window.__nines = {errors: [], lcp: 0, cls: 0, inp: 0};
  addEventListener("error", e => n.errors.push(String(e.message || e.type)));
  addEventListener("unhandledrejection", e => n.errors.push("unhandled rejection: " + String(e.reason)));
  const watch = (type, f, o) => { try { new PerformanceObserver(l => l.getEntries().forEach(f)).observe(Object.assign({type, buffered: true}, o || {})); } catch (e) {} };
  watch("largest-contentful-paint", e => { n.lcp = e.renderTime || e.loadTime || e.startTime; });
  watch("layout-shift", e => { if (!e.hadRecentInput) n.cls += e.value; });
  watch("event", e => { if (e.interactionId) n.inp = Math.max(n.inp, e.duration); }, {durationThreshold: 16});
})()`

// measure waits for the page's load and two frames (so that its largest
// paint is reported), at most 2 s, then reads the figures.
const measure = `(async () => {
  const frame = () => new Promise(r => requestAnimationFrame(() => r()));
  const loaded = document.readyState === "complete" ? Promise.resolve() : new Promise(r => addEventListener("load", r, {once: true}));
  await Promise.race([loaded.then(frame).then(frame).then(() => new Promise(r => setTimeout(r, 0))), new Promise(r => setTimeout(r, 2000))]);
  const n = window.__nines || {errors: [], lcp: 0, cls: 0, inp: 0};
  const nav = performance.getEntriesByType("navigation")[0] || {};
  return {ttfb: nav.responseStart || 0, dcl: nav.domContentLoadedEventEnd || 0, load: nav.loadEventEnd || 0,
    lcp: n.lcp, cls: n.cls, inp: n.inp, errors: n.errors.slice(0, 20)};
})()`

type measured struct {
	TTFB   float64  `json:"ttfb"`
	DCL    float64  `json:"dcl"`
	Load   float64  `json:"load"`
	LCP    float64  `json:"lcp"`
	CLS    float64  `json:"cls"`
	INP    float64  `json:"inp"`
	Errors []string `json:"errors"`
}

// events gathers what the page's target reports while a run goes on.
type events struct {
	mu       sync.Mutex
	console  []string
	thrown   []string
	failed   []model.BrowserFailedRequest
	requests map[network.RequestID]string
}

func (e *events) on(ev any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError && len(e.console) < maxListed {
			var parts []string
			for _, a := range ev.Args {
				if len(a.Value) > 0 {
					parts = append(parts, strings.Trim(string(a.Value), `"`))
				} else if a.Description != "" {
					parts = append(parts, a.Description)
				}
			}
			e.console = append(e.console, clip(strings.Join(parts, " ")))
		}
	case *runtime.EventExceptionThrown:
		if len(e.thrown) < maxListed && ev.ExceptionDetails != nil {
			msg := ev.ExceptionDetails.Text
			if ex := ev.ExceptionDetails.Exception; ex != nil && ex.Description != "" {
				msg = ex.Description
			}
			e.thrown = append(e.thrown, clip(firstLine(msg)))
		}
	case *network.EventRequestWillBeSent:
		if ev.Request != nil {
			e.requests[ev.RequestID] = ev.Request.URL
		}
	case *network.EventResponseReceived:
		// The browser's own favicon request is not the page's.
		if ev.Response != nil && ev.Response.Status >= 400 && len(e.failed) < maxListed && !isFavicon(ev.Response.URL) {
			e.failed = append(e.failed, model.BrowserFailedRequest{URL: clip(ev.Response.URL), Status: int(ev.Response.Status)})
		}
	case *network.EventLoadingFailed:
		if u, ok := e.requests[ev.RequestID]; ok && len(e.failed) < maxListed {
			if u = clip(u); !slices.ContainsFunc(e.failed, func(f model.BrowserFailedRequest) bool { return f.URL == u }) {
				e.failed = append(e.failed, model.BrowserFailedRequest{URL: u, Error: clip(ev.ErrorText)})
			}
		}
	}
}

// Run runs steps in a browser context of its own, within ctx, and reports
// what the page did; it fails only by Report.Err.
func (b *Browser) Run(ctx context.Context, steps []Step) *Report {
	r := &Report{BrowserFacts: model.BrowserFacts{Values: map[string]string{}}}
	root, err := b.acquire(ctx)
	if err != nil {
		r.Err, r.BrowserFailed = fmt.Errorf("%w: %w", errBrowser, err), true
		return r
	}
	defer b.release()
	ev := &events{requests: map[network.RequestID]string{}}
	tab, closeTab := chromedp.NewContext(root, chromedp.WithNewBrowserContext(), chromedp.WithListener(ev.on))
	defer closeTab()
	tab, cancel := context.WithTimeout(tab, timeLeft(ctx, time.Minute))
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	if _, err := chromedp.Run(tab, func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		if _, err := cdp.Call(ctx, t, network.Enable, network.EnableParams{}); err != nil {
			return chromedp.Void{}, err
		}
		_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: instrument})
		return chromedp.Void{}, err
	}); err != nil {
		r.Err, r.BrowserFailed = fmt.Errorf("%w: open a page: %w", errBrowser, err), true
		return r
	}
	// The steps stop short of the run's deadline: the screenshot of a
	// step that waited in vain, and what the page measured, need the
	// rest of it.
	left := timeLeft(ctx, time.Minute)
	sctx, scancel := context.WithTimeout(tab, left-min(afterSteps, left/4))
	defer scancel()
	for i, s := range steps {
		start := time.Now()
		err := b.step(sctx, s, r)
		r.StepsMS = append(r.StepsMS, float64(time.Since(start).Microseconds())/1000)
		if err != nil {
			if sctx.Err() != nil {
				err = fmt.Errorf("%w (timed out)", err)
			}
			r.Err = fmt.Errorf("step %d (%s): %w", i+1, s.Action, err)
			break
		}
	}
	// The page as the failed step left it, and what it measured and saw,
	// whatever became of the steps.
	if r.Err != nil {
		if shot, err := screenshot(tab); err == nil {
			r.Screenshot = shot
		}
	}
	if m, err := chromedp.Run(tab, chromedp.Evaluate[measured](measure, chromedp.EvalAwaitPromise)); err == nil {
		r.TTFBMS, r.DOMContentLoadedMS, r.LoadMS, r.LCPMS, r.CLS, r.INPMS = m.TTFB, m.DCL, m.Load, m.LCP, m.CLS, m.INP
		for _, e := range m.Errors {
			r.JSErrors = appendNew(r.JSErrors, clip(firstLine(e)))
		}
	}
	ev.mu.Lock()
	for _, e := range ev.thrown {
		r.JSErrors = appendNew(r.JSErrors, e)
	}
	r.ConsoleErrors, r.FailedRequests = ev.console, ev.failed
	ev.mu.Unlock()
	if len(r.JSErrors) > maxListed {
		r.JSErrors = r.JSErrors[:maxListed]
	}
	if tab.Err() != nil && errors.Is(context.Cause(root), context.Canceled) {
		r.BrowserFailed = true
	}
	return r
}

func (b *Browser) step(tab context.Context, s Step, r *Report) error {
	switch s.Action {
	case "goto":
		if u, err := url.Parse(s.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			return fmt.Errorf("%q is not an http(s) URL", s.URL)
		}
		return chromedp.Do(tab, chromedp.Navigate(s.URL))
	case "wait_for":
		return chromedp.Do(tab, chromedp.WaitVisible(s.Selector))
	case "click":
		return chromedp.Do(tab, chromedp.Click(s.Selector))
	case "type":
		return chromedp.Do(tab, chromedp.SendKeys(s.Selector, s.Text))
	case "expect_text":
		got, err := chromedp.Run(tab, chromedp.Text(s.Selector))
		if err != nil {
			return err
		}
		if !strings.Contains(got, s.Text) {
			return fmt.Errorf("%s says %q, not %q", s.Selector, clip(got), s.Text)
		}
		return nil
	case "read":
		if s.Attribute != "" {
			v, err := chromedp.Run(tab, chromedp.AttributeValue(s.Selector, s.Attribute))
			if err != nil {
				return err
			}
			r.Values[s.Name] = clip(v.Value)
			return nil
		}
		got, err := chromedp.Run(tab, chromedp.Text(s.Selector))
		if err != nil {
			return err
		}
		r.Values[s.Name] = clip(strings.TrimSpace(got))
		return nil
	}
	return fmt.Errorf("no action %q (one of %s)", s.Action, strings.Join(model.BrowserActions, ", "))
}

// screenshot takes a JPEG of the viewport, at a lower quality until it
// fits MaxScreenshot.
func screenshot(ctx context.Context) ([]byte, error) {
	for _, q := range []int64{70, 40, 15} {
		shot, err := chromedp.Run(ctx, func(ctx context.Context, t *chromedp.Target) ([]byte, error) {
			res, err := cdp.Call(ctx, t, page.CaptureScreenshot, page.CaptureScreenshotParams{Format: page.CaptureScreenshotFormatJpeg, Quality: &q})
			if err != nil {
				return nil, err
			}
			return res.Data, nil
		})
		if err != nil {
			return nil, err
		}
		if len(shot) <= MaxScreenshot {
			return shot, nil
		}
	}
	return nil, fmt.Errorf("no screenshot under %d KiB", MaxScreenshot>>10)
}

func isFavicon(u string) bool {
	p, err := url.Parse(u)
	return err == nil && p.Path == "/favicon.ico"
}

func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}

func clip(s string) string { return model.Clip(s, maxText) }

// RunSteps runs a browser check's steps (check.BrowserRunner).
func (b *Browser) RunSteps(ctx context.Context, steps []model.BrowserStep) check.BrowserRun {
	return *b.Run(ctx, steps)
}
