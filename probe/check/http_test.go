package check

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nines-sre/nines/model"
)

func run(t *testing.T, c model.Check) model.Result {
	t.Helper()
	if c.Kind == "" {
		c.Kind = model.KindHTTP
	}
	if c.Timeout == 0 {
		c.Timeout = 2 * time.Second
	}
	cc, err := NewRunner().Compile(c)
	if err != nil {
		t.Fatal(err)
	}
	var r model.Result
	cc.Run(context.Background(), Env{Region: "eu-frankfurt", UserAgent: "nines-test"}, &r)
	if err := (&r).Validate(); err != nil && r.Check != "" {
		t.Fatalf("invalid result: %v", err)
	}
	return r
}

func TestHTTPUpWithPhasesAndRegionHeader(t *testing.T) {
	var region, agent string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		region, agent = r.Header.Get(model.RegionHeader), r.UserAgent()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"items":[1,2]}`)
	}))
	defer srv.Close()
	r := run(t, model.Check{ID: "api", HTTP: &model.HTTPSpec{URL: srv.URL, Method: "GET"},
		Asserts: []string{"status == 200", "body.json.items.len == 2", `header.content-type contains "json"`, "latency < 2s"}})
	if r.Outcome != model.OutcomeUp || r.HTTPStatus != 200 || r.Bytes != 15 {
		t.Fatalf("result %+v", r)
	}
	if r.Phases.Connect <= 0 || r.Phases.TTFB <= 0 || r.DurationUS < r.Phases.TTFB {
		t.Fatalf("phases %+v, duration %dµs", r.Phases, r.DurationUS)
	}
	if region != "eu-frankfurt" || agent != "nines-test" {
		t.Fatalf("region header %q, user agent %q", region, agent)
	}
}

func TestHTTPFailureClasses(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	status := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "nope", http.StatusServiceUnavailable)
	}))
	defer status.Close()
	body := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"items":[]}`) }))
	defer body.Close()
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))
	defer tlsSrv.Close()
	dropped := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close() // no answer, the connection closed
		}
	}))
	defer dropped.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()

	// answered lists the failures to which the target's host answered.
	answered := map[string]bool{"connect": true, "dropped": true, "tls untrusted": true}
	for _, tc := range []struct {
		name    string
		c       model.Check
		class   model.ErrorClass
		message string
	}{
		{"timeout", model.Check{ID: "t", Timeout: 200 * time.Millisecond, HTTP: &model.HTTPSpec{URL: slow.URL, Method: "GET"}}, model.ErrTimeout, "deadline"},
		{"connect", model.Check{ID: "c", HTTP: &model.HTTPSpec{URL: closed, Method: "GET"}}, model.ErrConnect, "refused"},
		{"dropped", model.Check{ID: "x", HTTP: &model.HTTPSpec{URL: dropped.URL, Method: "GET"}}, model.ErrConnect, "EOF"},
		{"dns", model.Check{ID: "d", HTTP: &model.HTTPSpec{URL: "http://no-such-host.invalid/", Method: "GET"}}, model.ErrDNS, "no-such-host.invalid"},
		{"status default", model.Check{ID: "s", HTTP: &model.HTTPSpec{URL: status.URL, Method: "GET"}}, model.ErrStatus, "status 503 is not 2xx or 3xx"},
		{"status assertion", model.Check{ID: "s2", HTTP: &model.HTTPSpec{URL: status.URL, Method: "GET"}, Asserts: []string{"status == 200"}}, model.ErrStatus, "status == 200: saw 503"},
		{"assertion", model.Check{ID: "a", HTTP: &model.HTTPSpec{URL: body.URL, Method: "GET"}, Asserts: []string{"status == 200", "body.json.items.len > 0"}}, model.ErrAssertion, "body.json.items.len > 0: saw 0"},
		{"tls untrusted", model.Check{ID: "tls", HTTP: &model.HTTPSpec{URL: tlsSrv.URL, Method: "GET"}}, model.ErrTLS, "certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, tc.c)
			if r.Outcome != model.OutcomeDown || r.ErrorClass != tc.class || !strings.Contains(r.Message, tc.message) {
				t.Fatalf("got %s/%s %q, want down/%s containing %q", r.Outcome, r.ErrorClass, r.Message, tc.class, tc.message)
			}
			if network := r.ErrorClass != model.ErrStatus && r.ErrorClass != model.ErrAssertion; network && r.HostAnswered != answered[tc.name] {
				t.Fatalf("host answered: %v, want %v", r.HostAnswered, answered[tc.name])
			}
		})
	}
}

func TestHTTPInsecureTLSAndCertExpiry(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))
	defer srv.Close()
	r := run(t, model.Check{ID: "tls", HTTP: &model.HTTPSpec{URL: srv.URL, Method: "GET", InsecureTLS: true},
		Asserts: []string{"status == 200", "cert.expires_in > 1d"}})
	if r.Outcome != model.OutcomeUp || r.Phases.TLS <= 0 {
		t.Fatalf("result %+v", r)
	}
}

func TestHTTPRedirectPolicy(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/old" {
			http.Redirect(w, r, "/new", http.StatusMovedPermanently)
			return
		}
		fmt.Fprint(w, "new")
	}))
	defer srv.Close()
	follow := run(t, model.Check{ID: "f", HTTP: &model.HTTPSpec{URL: srv.URL + "/old", Method: "GET", FollowRedirects: true}, Asserts: []string{"status == 200"}})
	stay := run(t, model.Check{ID: "s", HTTP: &model.HTTPSpec{URL: srv.URL + "/old", Method: "GET"}, Asserts: []string{"status == 301"}})
	if follow.Outcome != model.OutcomeUp || stay.Outcome != model.OutcomeUp {
		t.Fatalf("follow %+v, stay %+v", follow, stay)
	}
}

func TestHTTPSendsMethodHeadersAndBody(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 64)
		n, _ := r.Body.Read(b)
		got = r.Method + " " + r.Header.Get("X-Api-Key") + " " + string(b[:n])
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	r := run(t, model.Check{ID: "p", HTTP: &model.HTTPSpec{URL: srv.URL, Method: "POST", Headers: map[string]string{"X-Api-Key": "k1"}, Body: `{"ping":1}`}})
	if r.Outcome != model.OutcomeUp || got != `POST k1 {"ping":1}` {
		t.Fatalf("result %+v, server saw %q", r, got)
	}
}

func TestHTTPThroughProxy(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "direct") }))
	defer target.Close()
	var proxied string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxied = r.URL.String() // absolute-form: the request came as to a proxy
		fmt.Fprint(w, "via proxy")
	}))
	defer proxy.Close()
	r := run(t, model.Check{ID: "p", HTTP: &model.HTTPSpec{URL: target.URL + "/x", Method: "GET", Proxy: proxy.URL}, Asserts: []string{`body == "via proxy"`}})
	if r.Outcome != model.OutcomeUp || proxied != target.URL+"/x" {
		t.Fatalf("result %+v, proxy saw %q", r, proxied)
	}
}

// A {secret:…} part of a check's URL never reaches the result's message.
func TestHostileCheckSecretsStayOutOfMessages(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	const secret = "0c3e7f2a-5b1d-4e8f-a1b2"
	r := run(t, model.Check{ID: "s", Secrets: []string{secret}, HTTP: &model.HTTPSpec{URL: "http://" + addr + "/ping/" + secret, Method: "GET"}})
	if r.Outcome != model.OutcomeDown || strings.Contains(r.Message, secret) || !strings.Contains(r.Message, model.Redacted) {
		t.Fatalf("message %q", r.Message)
	}
}

// degrade assertions make a run that passes its assertions degraded, not
// down, when they fail; a down run stays down.
func TestDegradeAssertions(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Served-From", "cache")
		if r.URL.Path == "/down" {
			w.WriteHeader(503)
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	r := run(t, model.Check{ID: "c", HTTP: &model.HTTPSpec{URL: srv.URL + "/"}, Degrade: []string{`header.x-served-from == "origin"`}})
	if r.Outcome != model.OutcomeDegraded || r.ErrorClass != model.ErrAssertion || !strings.Contains(r.Message, `degraded: header.x-served-from == "origin": saw "cache"`) {
		t.Fatalf("degraded: %+v", r)
	}
	r = run(t, model.Check{ID: "c", HTTP: &model.HTTPSpec{URL: srv.URL + "/"}, Degrade: []string{`header.x-served-from == "cache"`}})
	if r.Outcome != model.OutcomeUp {
		t.Fatalf("up: %+v", r)
	}
	r = run(t, model.Check{ID: "c", HTTP: &model.HTTPSpec{URL: srv.URL + "/down"}, Degrade: []string{`header.x-served-from == "origin"`}})
	if r.Outcome != model.OutcomeDown || r.ErrorClass != model.ErrStatus {
		t.Fatalf("down: %+v", r)
	}
}
