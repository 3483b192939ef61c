// Package promsource counts one service's real users twice, through the
// two sources of a request-based SLO: contentsvc's /metrics scraped by
// Debian's prometheus and read by nines (the prometheus source), and
// contentsvc pushing its counts to nines (the push intake). Both SLOs
// must tell the same story, on the API, the SRE view and `nines sla`.
package promsource

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nines-sre/nines/contentsvc/sdk"
	"github.com/nines-sre/nines/e2e/internal/harness"
	"github.com/nines-sre/nines/internal/promtest"
	"github.com/nines-sre/nines/internal/testwait"
)

func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }

const pushKey = "e2e-renders-key-000001"

const configTmpl = `regions: [{id: eu-london}]
quorum: 1
probes:
  tokens: [{region: eu-london, token: e2e-token-for-eu-london}]
components:
  - id: app
    name: In-app content
    checks:
      - {id: content-health, kind: http, http: {url: "http://%[1]s/healthz"}}
slos:
  - id: renders-push
    name: Renders, pushed by contentsvc
    sli: events
    checks: [content-health]
    target: 95
    events: {push: {key: ` + pushKey + `}}
  - id: renders-prom
    name: Renders, from Prometheus
    sli: events
    checks: [content-health]
    target: 95
    events:
      prometheus:
        url: %[2]s
        good: sum(increase(contentsvc_renders_total{level=~"fresh|cached"}[1m]))
        valid: sum(increase(contentsvc_renders_total[1m]))
        delay: 15s
dashboard:
  users:
    - name: sre
      password_hash: "$2a$10$DqXrvdHsSNQ8.noeAACvwezkv7Z.UolXgK6jAr4KTvIbsqgYRNDs2"
`

type sloDoc struct {
	ID           string `json:"id"`
	Source       string `json:"source"`
	Events       *struct{ Good, Bad, Total int }
	NewestCounts *time.Time              `json:"newest_counts"`
	ErrorBudget  struct{ Total float64 } `json:"error_budget"`
}

// renders sends n renders through the Go SDK's reporter, bad of them
// empty and the rest fresh, and waits until contentsvc took them.
func renders(t *testing.T, cs string, n, bad int) {
	t.Helper()
	r := sdk.NewReporter(sdk.ReporterOptions{BaseURL: "http://" + cs, Key: "e2e-app"})
	for i := range n {
		level := sdk.Fresh
		if i%(n/bad) == 0 {
			level = sdk.Empty
		}
		r.Render(fmt.Sprintf("user-%d", i%40), "GB", sdk.Render{Level: level}, 20*time.Millisecond, time.Now())
	}
	testwait.Eventually(t, time.Minute, "the renders taken", func() error {
		if _, err := r.Flush(t.Context()); err != nil {
			return err
		}
		if waiting, dropped := r.Pending(); waiting != 0 || dropped != 0 {
			return fmt.Errorf("%d waiting, %d dropped", waiting, dropped)
		}
		return nil
	})
}

func TestPrometheusAndPushSourcesAgree(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	promtest.Need(t, "prometheus")
	t.Parallel()
	dir := t.TempDir()
	cs, ctl := harness.FreeAddr(t), harness.FreeAddr(t)
	contentsvc := harness.Start(t, dir, "contentsvc", "contentsvc", "--listen", cs, "--data", filepath.Join(dir, "cs"),
		"--renders-sli", "http://"+ctl+"/sli/renders-push/"+pushKey)
	harness.Answering(t, "http://"+cs+"/healthz", contentsvc)
	prom := promtest.Start(t, fmt.Sprintf("global: {scrape_interval: 1s}\nscrape_configs:\n  - job_name: contentsvc\n    static_configs: [{targets: [%q]}]\n", cs),
		filepath.Join(dir, "tsdb"))
	cfgPath := filepath.Join(dir, "nines.yaml")
	if err := os.WriteFile(cfgPath, fmt.Appendf(nil, configTmpl, cs, prom), 0o644); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	controller := harness.Start(t, dir, "controller", "controller", "--config", cfgPath, "--data", data, "--listen", ctl)
	harness.Answering(t, "http://"+ctl+"/api/v1/status", controller)
	// Prometheus has scraped contentsvc's series for a minute before the
	// first render: increase() extrapolates a minute's samples to the
	// whole minute, by far more when a series is seconds old.
	testwait.Eventually(t, 3*time.Minute, "a minute of contentsvc's renders scraped", func() error {
		var q struct {
			Data struct {
				Result []struct{ Value []any }
			}
		}
		if err := harness.GetJSON(prom+`/api/v1/query?query=min(count_over_time(contentsvc_renders_total[1m]))`, &q); err != nil {
			return err
		}
		if len(q.Data.Result) != 1 || len(q.Data.Result[0].Value) != 2 {
			return fmt.Errorf("%+v", q.Data.Result)
		}
		if n, _ := strconv.Atoi(fmt.Sprint(q.Data.Result[0].Value[1])); n < 50 {
			return fmt.Errorf("%d samples in the last minute", n)
		}
		return nil
	})

	const sent, bad = 600, 30
	start := time.Now()
	renders(t, cs, sent, bad)
	// Both SLOs count the renders: the push exactly; Prometheus through
	// increase(), which extrapolates each minute's samples to the whole
	// minute, within a few percent.
	slos := map[string]sloDoc{}
	testwait.Eventually(t, 5*time.Minute, "both SLOs counting every render", func() error {
		for _, id := range []string{"renders-push", "renders-prom"} {
			var d sloDoc
			if err := harness.GetJSON("http://"+ctl+"/api/v1/slo/"+id, &d); err != nil {
				return err
			}
			if d.Events == nil || d.NewestCounts == nil || !d.NewestCounts.After(start.Truncate(time.Minute)) && d.Source == "prometheus" {
				return fmt.Errorf("%s: %+v", id, d)
			}
			slos[id] = d
		}
		if p := slos["renders-push"].Events; p.Total != sent {
			return fmt.Errorf("push counted %d of %d", p.Total, sent)
		}
		if p := slos["renders-prom"].Events; math.Abs(float64(p.Total-sent)) > 0.05*sent {
			return fmt.Errorf("prometheus counted %d of %d", p.Total, sent)
		}
		return nil
	})
	push, prm := slos["renders-push"], slos["renders-prom"]
	t.Logf("sent %d renders, %d empty: push counted %d good of %d; prometheus %d good of %d", sent, bad,
		push.Events.Good, push.Events.Total, prm.Events.Good, prm.Events.Total)
	if push.Source != "push" || prm.Source != "prometheus" || push.Events.Bad != bad {
		t.Fatalf("sources: push %+v, prometheus %+v", push, prm)
	}
	if share := float64(prm.Events.Bad) / float64(prm.Events.Total); math.Abs(share-float64(bad)/sent) > 0.01 {
		t.Fatalf("prometheus counted %.2f %% bad, %.2f %% were", 100*share, 100*float64(bad)/sent)
	}
	// Both are young SLOs with a whole window's budget at the rate
	// counted since their first events: minutes the Prometheus source
	// read from before contentsvc had traffic do not make it older.
	if p, q := push.ErrorBudget.Total, prm.ErrorBudget.Total; p <= float64(sent)*0.05 || math.Abs(p-q) > 0.05*p {
		t.Fatalf("error budgets: push %.1f events, prometheus %.1f", p, q)
	}

	// The SRE view shows both, each with its source.
	sre, err := harness.GetTextWith(harness.SignIn(t, "http://"+ctl, "sre", "nines-demo"), "http://"+ctl+"/sre")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []sloDoc{push, prm} {
		want := fmt.Sprintf("Real users (%s): %d good of %d events", d.Source, d.Events.Good, d.Events.Total)
		if !strings.Contains(sre, want) {
			t.Errorf("the SRE view lacks %q", want)
		}
	}
	// So does `nines sla`, from the same store.
	out, err := harness.SLATable(cfgPath, data, start.Add(-time.Hour), time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("nines sla:\n%s", out)
	for _, want := range []string{"events (push)", "events (prometheus)"} {
		if !strings.Contains(out, want) {
			t.Errorf("nines sla lacks %q:\n%s", want, out)
		}
	}
}
