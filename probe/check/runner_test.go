package check

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/nines-sre/nines/model"
)

// A runner shares transports and parsed assertions among the checks it
// runs, and lets go of what the checks retained no longer use.
func TestRunnerKeepsWhatAssignedChecksUse(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	r := NewRunner()
	checks := []model.Check{
		{ID: "a", Kind: model.KindHTTP, Timeout: time.Second, HTTP: &model.HTTPSpec{URL: srv.URL, Method: "GET"}, Asserts: []string{"status == 200"}},
		{ID: "b", Kind: model.KindHTTP, Timeout: time.Second, HTTP: &model.HTTPSpec{URL: srv.URL, Method: "GET"}, Asserts: []string{"status == 200"}},
		{ID: "c", Kind: model.KindHTTP, Timeout: time.Second, HTTP: &model.HTTPSpec{URL: srv.URL, Method: "GET", KeepAlive: true},
			Asserts: []string{"latency < 5s"}},
	}
	var compiled []*Compiled
	for _, c := range checks {
		cc, err := r.Compile(c)
		if err != nil {
			t.Fatal(err)
		}
		compiled = append(compiled, cc)
		var res model.Result
		cc.Run(context.Background(), Env{Region: "eu-london"}, &res)
		if res.Outcome != model.OutcomeUp {
			t.Fatalf("%s: %+v", c.ID, res)
		}
	}
	if compiled[0].Asserts[0] != compiled[1].Asserts[0] {
		t.Error("the same assertion text parsed twice")
	}
	if tr, as, _ := r.Sizes(); tr != 2 || as != 2 {
		t.Fatalf("%d transports and %d assertions, want 2 and 2", tr, as)
	}
	r.Retain(checks[:1])
	if tr, as, _ := r.Sizes(); tr != 1 || as != 1 {
		t.Fatalf("after retaining one check: %d transports and %d assertions, want 1 and 1", tr, as)
	}
	r.Retain(nil)
	if tr, as, kept := r.Sizes(); tr+as+kept != 0 {
		t.Fatalf("after retaining none: %d transports, %d assertions, %d kept", tr, as, kept)
	}
}
