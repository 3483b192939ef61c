package browser

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nines-sre/nines/internal/chrometest"
	"github.com/nines-sre/nines/model"
	"github.com/nines-sre/nines/probe/check"
)

const appPage = `<!doctype html><html><body><header><h1>Acme Notes</h1></header>
<aside id="slot"></aside>
<script>setTimeout(() => document.querySelector("#slot").setAttribute("data-content-level", "fresh"), 20);</script>
</body></html>`

// A browser check is up when its steps and assertions pass, down naming
// the step or assertion that did not, and a probe problem when the probe
// has no browser; what the page did travels with the result.
func TestBrowserKind(t *testing.T) {
	exe := chrometest.Path(t)
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, appPage)
	}))
	defer site.Close()
	b := New(Options{Exec: exe})
	defer b.Close()
	browserCheck := func(asserts []string, steps ...model.BrowserStep) model.Check {
		return model.Check{ID: "home", Kind: model.KindBrowser, Timeout: 30 * time.Second, Asserts: asserts, Browser: &model.BrowserSpec{Steps: steps}}
	}
	steps := []model.BrowserStep{{Action: "goto", URL: site.URL + "/"}, {Action: "wait_for", Selector: "#slot[data-content-level]"},
		{Action: "read", Name: "level", Selector: "#slot", Attribute: "data-content-level"}}
	runWith := func(env check.Env, c model.Check) model.Result {
		t.Helper()
		cc, err := check.NewRunner().Compile(c)
		if err != nil {
			t.Fatal(err)
		}
		var r model.Result
		cc.Run(context.Background(), env, &r)
		if err := (&model.Result{Check: "home", Region: "eu-london", Scheduled: r.Started, Started: r.Started, Outcome: r.Outcome,
			ErrorClass: r.ErrorClass, DurationUS: r.DurationUS, Browser: r.Browser, Message: r.Message, Screenshot: r.Screenshot}).Validate(); err != nil {
			t.Fatalf("the controller would refuse the result: %v", err)
		}
		return r
	}
	env := check.Env{Region: "eu-london", Browser: b}

	r := runWith(env, browserCheck([]string{`browser.value.level == "fresh"`, "browser.js_errors == 0", "browser.lcp < 30s"}, steps...))
	if r.Outcome != model.OutcomeUp || r.Browser == nil || r.Browser.Values["level"] != "fresh" || r.Browser.TTFBMS <= 0 || r.Phases.TTFB <= 0 {
		t.Fatalf("a passing run: %+v %+v", r, r.Browser)
	}
	r = runWith(env, browserCheck([]string{`browser.value.level == "cached"`}, steps...))
	if r.Outcome != model.OutcomeDown || r.ErrorClass != model.ErrAssertion || !strings.Contains(r.Message, `saw "fresh"`) {
		t.Fatalf("a failing assertion: %+v", r)
	}
	r = runWith(env, browserCheck(nil, steps[0], model.BrowserStep{Action: "expect_text", Selector: "h1", Text: "Globex"}))
	if r.Outcome != model.OutcomeDown || r.ErrorClass != model.ErrAssertion || !strings.Contains(r.Message, "step 2 (expect_text)") || r.ProbeIsolated ||
		len(r.Screenshot) == 0 {
		t.Fatalf("a failing step: %+v", r)
	}
	r = runWith(check.Env{Region: "eu-london"}, browserCheck(nil, steps...))
	if r.Outcome != model.OutcomeDown || !r.ProbeIsolated || !strings.Contains(r.Message, "--browser") {
		t.Fatalf("a probe without a browser: %+v", r)
	}
}
