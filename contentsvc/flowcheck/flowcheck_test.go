package flowcheck

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nines-sre/nines/contentsvc"
	"github.com/nines-sre/nines/model"
	"github.com/nines-sre/nines/probe/check"
)

// run compiles and runs c once by runner, from eu-frankfurt, as the probe
// does.
func run(t *testing.T, runner *check.Runner, c model.Check) model.Result {
	t.Helper()
	c.Timeout = 2 * time.Second
	cc, err := runner.Compile(c)
	if err != nil {
		t.Fatal(err)
	}
	var r model.Result
	cc.Run(context.Background(), check.Env{Region: "eu-frankfurt", UserAgent: "nines-test"}, &r)
	return r
}

// Importing the package makes the kind runnable.
func TestRegistered(t *testing.T) {
	if _, err := check.NewRunner().Compile(model.Check{ID: "f", Kind: model.KindFlow, Asserts: []string{`flow.level == "fresh"`}}); err != nil {
		t.Fatal(err)
	}
}

func TestFlowLevels(t *testing.T) {
	svc, err := contentsvc.New(contentsvc.Options{DataDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler())
	defer srv.Close()
	faultOn := func(body string) {
		method := "POST"
		if body == "" {
			method = "DELETE"
		}
		req, _ := http.NewRequest(method, srv.URL+"/admin/faults", strings.NewReader(body))
		if _, err := http.DefaultClient.Do(req); err != nil {
			t.Fatal(err)
		}
	}
	runner := check.NewRunner()
	flow := model.Check{ID: "flow-" + t.Name(), Kind: model.KindFlow, Flow: &model.FlowSpec{URL: srv.URL, UserID: "ann"},
		Asserts: []string{`flow.segments < 1s`}}
	if r := run(t, runner, flow); r.Outcome != model.OutcomeUp || r.Bytes != 1 || r.Flow == nil || r.Flow.Level != "fresh" || r.Flow.StepsMS["segments"] <= 0 {
		t.Fatalf("fresh: %+v (flow %+v)", r, r.Flow)
	}
	faultOn(`{"target":"segments","error_status":503,"region":"eu-frankfurt"}`)
	if r := run(t, runner, flow); r.Outcome != model.OutcomeDegraded || r.ErrorClass != model.ErrStatus || !strings.Contains(r.Message, "cached") || r.Flow.Level != "cached" {
		t.Fatalf("segments failing for a returning user: %+v", r)
	}
	faultOn("")
	faultOn(`{"target":"cdn","outage":true}`)
	cold := flow
	cold.ID = "cold-" + t.Name()
	if r := run(t, runner, cold); r.Outcome != model.OutcomeDown || !strings.HasPrefix(r.Message, "empty") {
		t.Fatalf("CDN down for a new user: %+v", r)
	}
	fresh := flow
	fresh.Asserts = []string{`flow.level == "fresh"`}
	if r := run(t, runner, fresh); r.Outcome != model.OutcomeDown || r.ErrorClass != model.ErrAssertion {
		t.Fatalf("asserting fresh while the CDN is down: %+v", r)
	}
	// A check no longer assigned loses its client: assigned again, it is
	// a new user, who gets nothing while the CDN is down.
	runner.Retain([]model.Check{cold})
	if _, _, kept := runner.Sizes(); kept != 1 {
		t.Fatalf("%d checks with kept state after retaining one", kept)
	}
	if r := run(t, runner, flow); r.Outcome != model.OutcomeDown || !strings.HasPrefix(r.Message, "empty") {
		t.Fatalf("a check assigned anew with the CDN down: %+v", r)
	}
}
