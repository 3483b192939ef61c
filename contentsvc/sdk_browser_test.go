package contentsvc

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/nines-sre/nines/internal/chrometest"
	"github.com/nines-sre/nines/internal/testwait"
)

// customerPage is a customer's application on an origin of its own: its
// header, navigation and notes, and a slot for the SDK, which it loads
// from its own copy (so that the CDN's faults reach only what the SDK
// fetches) and points at contentsvc across origins.
const customerPage = `<!doctype html><html><head><meta charset="utf-8"><title>Acme Notes</title></head><body>
<header id="app-header"><h1>Acme Notes</h1><nav id="app-nav"><a href="#a">Notes</a><a href="#b">Shared</a><a href="#c">Settings</a></nav></header>
<main><section id="app-notes"><article class="note">Release checklist</article><article class="note">On-call handover</article><article class="note">Groceries</article></section>
<aside id="in-app-content"><p id="placeholder">loading</p></aside></main>
<script src="/sdk.js"></script>
<script>
if (location.search.indexOf("patch=append") >= 0) {
  // A browser (or another script) that breaks a DOM method the SDK relies on.
  var append = Element.prototype.appendChild;
  Element.prototype.appendChild = function (n) {
    if (n && n.className === "cs-content") throw new Error("appendChild is broken on this page");
    return append.call(this, n);
  };
}
// The SDK's 300 ms for the segment call where a test stages a slow one;
// elsewhere a wait no busy machine exceeds, so that "fresh" means fresh.
var q = new URLSearchParams(location.search);
var timeout = Number(q.get("segment_timeout_ms")) || 10000;
// The application's client key turns the SDK's events on; events= points
// them elsewhere (an intake that is away).
if (window.ContentSDK) ContentSDK.init({base: %q, slot: "#in-app-content", user: "alice", segmentTimeoutMs: timeout,
  key: q.get("key") || undefined, events: q.get("events") || undefined, country: "GB"});
</script></body></html>`

// visit is what one page load showed.
type visit struct {
	Level, Errors, Contained, Killed string
	Items                            []string
	HostIntact                       bool
	PageErrors                       []string
	SlotChildren                     int
}

const readVisit = `(() => {
  const slot = document.querySelector("#in-app-content");
  return {
    Level: slot.getAttribute("data-content-level") || "",
    Errors: slot.getAttribute("data-content-errors") || "",
    Contained: slot.getAttribute("data-content-contained") || "",
    Killed: slot.getAttribute("data-content-killed") || "",
    Items: Array.from(slot.querySelectorAll(".cs-item")).map(e => e.dataset.contentId + "@" + e.dataset.contentVersion),
    HostIntact: document.querySelector("#app-header h1").textContent === "Acme Notes" &&
      document.querySelectorAll("#app-nav a").length === 3 && document.querySelectorAll("#app-notes .note").length === 3,
    PageErrors: window.__pageErrors || [],
    SlotChildren: slot.children.length,
  };
})()`

// TestBrowserSDKKeepsTheHostPageIntact drives the SDK in headless Chromium
// through its fallback chain, its error boundaries and its kill switch:
// the host page's own content is whole every time, and no error escapes
// to the page.
func TestBrowserSDKKeepsTheHostPageIntact(t *testing.T) {
	exe := chrometest.Path(t)
	svc, err := New(Options{DataDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	cs := httptest.NewServer(svc.Handler())
	defer cs.Close()
	cctx, stop := context.WithCancel(context.Background())
	consumed := make(chan error, 1)
	go func() { consumed <- svc.Consume(cctx) }()
	defer func() { stop(); <-consumed; svc.Close() }()
	sdkJS, err := web.ReadFile("web/sdk/contentsvc-" + sdkVersion + ".js")
	if err != nil {
		t.Fatal(err)
	}
	customer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/sdk.js" {
			w.Header().Set("Content-Type", "text/javascript")
			w.Write(sdkJS)
			return
		}
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, customerPage, cs.URL)
	}))
	defer customer.Close()

	ctx, cancel := chrometest.New(t, exe, 2*time.Minute)
	defer cancel()
	// Every load counts the errors that reach the page, and fetches what
	// it asks for anew (the HTTP cache would hide the CDN's faults).
	if _, err := chromedp.Run(ctx, func(ctx context.Context, tab *chromedp.Target) (chromedp.Void, error) {
		if _, err := cdp.Call(ctx, tab, network.Enable, network.EnableParams{}); err != nil {
			return chromedp.Void{}, err
		}
		if _, err := cdp.Call(ctx, tab, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: true}); err != nil {
			return chromedp.Void{}, err
		}
		_, err := cdp.Call(ctx, tab, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: `window.__pageErrors = [];
addEventListener("error", e => __pageErrors.push(String(e.message)));
addEventListener("unhandledrejection", e => __pageErrors.push(String(e.reason)));`})
		return chromedp.Void{}, err
	}); err != nil {
		t.Fatal(err)
	}
	load := func(t *testing.T, query string) visit {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.Navigate(customer.URL+"/"+query), chromedp.WaitVisible("#in-app-content[data-content-level]")); err != nil {
			t.Fatalf("load %s: %v", query, err)
		}
		v, err := chromedp.Run(ctx, chromedp.Evaluate[visit](readVisit))
		if err != nil {
			t.Fatalf("read %s: %v", query, err)
		}
		if !v.HostIntact || len(v.PageErrors) > 0 {
			t.Fatalf("the host page after %s: intact %v, errors %v", query, v.HostIntact, v.PageErrors)
		}
		return v
	}
	forget := func(t *testing.T) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](`localStorage.clear()`)); err != nil {
			t.Fatal(err)
		}
	}
	fault := func(t *testing.T, body string) {
		t.Helper()
		resp, err := http.Post(cs.URL+"/admin/faults", "application/json", strings.NewReader(body))
		if err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("fault %s: %v %v", body, err, resp)
		}
		resp.Body.Close()
	}
	clear := func(t *testing.T) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodDelete, cs.URL+"/admin/faults", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	publish := func(t *testing.T, id, draft string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPut, cs.URL+"/v1/content/"+id+"/draft", strings.NewReader(draft))
		if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode/100 != 2 {
			t.Fatalf("draft %s: %v %v", id, err, resp)
		}
		if resp, err := http.Post(cs.URL+"/v1/content/"+id+"/publish", "application/json", strings.NewReader(`{"segments":["everyone"]}`)); err != nil || resp.StatusCode/100 != 2 {
			t.Fatalf("publish %s: %v %v", id, err, resp)
		}
	}
	reported := func(t *testing.T) []SDKError {
		t.Helper()
		var got struct{ Errors []SDKError }
		resp, err := http.Get(cs.URL + "/admin/errors")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
			t.Fatal(err)
		}
		return got.Errors
	}
	want := func(t *testing.T, v visit, level string, items int) {
		t.Helper()
		if v.Level != level || len(v.Items) != items {
			t.Fatalf("level %s with %d items %v, want %s with %d (%+v)", v.Level, len(v.Items), v.Items, level, items, v)
		}
	}

	t.Run("fresh", func(t *testing.T) {
		v := load(t, "")
		want(t, v, "fresh", 1)
		if v.Items[0] != "welcome@1" || v.Errors != "0" {
			t.Fatalf("%+v", v)
		}
	})
	t.Run("segments slow, seen before: cached", func(t *testing.T) {
		fault(t, `{"target":"segments","latency_ms":3000}`)
		defer clear(t)
		want(t, load(t, "?segment_timeout_ms=300"), "cached", 1)
	})
	t.Run("segments failing, never seen: default", func(t *testing.T) {
		forget(t)
		fault(t, `{"target":"segments","error_status":503}`)
		defer clear(t)
		want(t, load(t, ""), "default", 1)
	})
	t.Run("CDN down, seen before: cached", func(t *testing.T) {
		load(t, "") // a visit that fills the cache
		fault(t, `{"target":"cdn","outage":true}`)
		defer clear(t)
		want(t, load(t, ""), "cached", 1)
	})
	t.Run("CDN down, never seen: empty", func(t *testing.T) {
		forget(t)
		fault(t, `{"target":"cdn","outage":true}`)
		defer clear(t)
		v := load(t, "")
		want(t, v, "empty", 0)
		if v.SlotChildren != 0 {
			t.Fatalf("the slot holds %d elements with nothing to show", v.SlotChildren)
		}
	})
	t.Run("a component that throws is contained and reported", func(t *testing.T) {
		before := len(reported(t))
		// A block type this SDK version does not know.
		publish(t, "promo", `{"title": "Spring sale", "blocks": [{"type": "text", "text": "20% off"}, {"type": "countdown", "until": "2027-03-21"}]}`)
		v := load(t, "")
		want(t, v, "fresh", 1) // welcome drawn; promo held by its boundary
		if v.Contained != "1" {
			t.Fatalf("contained %q, want 1 (%+v)", v.Contained, v)
		}
		waitReported(t, reported, before, "component promo")
	})
	t.Run("an unexpected error stops the SDK", func(t *testing.T) {
		before := len(reported(t))
		v := load(t, "?patch=append")
		if v.Killed != "true" || v.Level != "empty" || v.SlotChildren != 0 {
			t.Fatalf("after the kill switch: %+v", v)
		}
		waitReported(t, reported, before, "render")
	})
	t.Run("events wait in the page while the intake is away, then count once", func(t *testing.T) {
		queued := func(t *testing.T) int {
			t.Helper()
			n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`(JSON.parse(localStorage.getItem("contentsvc:v1:events")) || []).length`))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		var totals struct {
			Processed   map[string]int `json:"processed"`
			ErrorGroups []struct {
				Component, SDK string
				Count          int
			} `json:"error_groups"`
		}
		// The promo's unknown block makes each render an error too.
		load(t, "?key=acme-notes&events="+url.QueryEscape("http://127.0.0.1:9/v1/events"))
		if n := queued(t); n != 2 {
			t.Fatalf("%d events queued in the page, want its render and its error", n)
		}
		load(t, "?key=acme-notes")
		testwait.Eventually(t, 30*time.Second, "the queued events and the new ones counted", func() error {
			resp, err := http.Get(cs.URL + "/admin/events")
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if err := json.NewDecoder(resp.Body).Decode(&totals); err != nil {
				return err
			}
			if totals.Processed["render"] != 2 || totals.Processed["error"] != 2 || queued(t) != 0 {
				return fmt.Errorf("%+v, %d queued", totals, queued(t))
			}
			return nil
		})
		if len(totals.ErrorGroups) != 1 || totals.ErrorGroups[0].Component != "component promo" || totals.ErrorGroups[0].SDK != "contentsvc-js/"+sdkVersion {
			t.Fatalf("error groups: %+v", totals.ErrorGroups)
		}
	})
}

// sdkVersion is the browser SDK the tests drive: the newest.
const sdkVersion = "1.1.0"

// waitReported waits until one of the errors reported after the first
// before is from where (reports of one page load arrive in any order).
func waitReported(t *testing.T, reported func(*testing.T) []SDKError, before int, where string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := reported(t)
		for _, e := range got[min(before, len(got)):] {
			if e.Where == where && e.SDKVersion == sdkVersion && e.Stack != "" {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("reported %+v, want one after the first %d from %s", got, before, where)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
