package sdk

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
)

// service runs the real contentsvc on loopback.
func service(t *testing.T) *httptest.Server {
	t.Helper()
	s, err := contentsvc.New(contentsvc.Options{DataDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv
}

func fault(t *testing.T, srv *httptest.Server, body string) {
	t.Helper()
	resp, err := http.Post(srv.URL+"/admin/faults", "application/json", strings.NewReader(body))
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("fault %s: %v %v", body, err, resp.Status)
	}
}

func clear(t *testing.T, srv *httptest.Server) {
	req, _ := http.NewRequest(http.MethodDelete, srv.URL+"/admin/faults", nil)
	if _, err := http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
}

func client(srv *httptest.Server) *Client {
	return New(Options{BaseURL: srv.URL, HTTP: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

func render(c *Client) Render {
	return c.Render(context.Background(), "ann", map[string]string{"plan": "pro"})
}

func TestFreshRender(t *testing.T) {
	srv := service(t)
	r := render(client(srv))
	if r.Level != Fresh || len(r.Items) != 1 || r.Items[0].ID != "welcome" || r.Segments[0] != "everyone" || len(r.Errors) != 0 {
		t.Fatalf("render %+v", r)
	}
	if r.Steps["segments"] <= 0 || r.Steps["content"] <= 0 {
		t.Fatalf("steps %v", r.Steps)
	}
}

func TestSegmentsDownUsesTheCachedSegments(t *testing.T) {
	srv := service(t)
	c := client(srv)
	render(c)
	fault(t, srv, `{"target":"segments","error_status":503}`)
	r := render(c)
	if r.Level != Cached || len(r.Items) != 1 || len(r.Errors) != 1 || !strings.Contains(r.Errors[0].Error(), "status 503") {
		t.Fatalf("render %+v", r)
	}
}

func TestSegmentsDownWithoutCacheFallsBackToEveryone(t *testing.T) {
	srv := service(t)
	fault(t, srv, `{"target":"segments","outage":true}`)
	r := render(client(srv))
	if r.Level != Default || len(r.Segments) != 1 || r.Segments[0] != "everyone" || len(r.Items) != 1 {
		t.Fatalf("render %+v", r)
	}
}

func TestSlowSegmentsTimeOutQuickly(t *testing.T) {
	srv := service(t)
	fault(t, srv, `{"target":"segments","latency_ms":2000}`)
	start := time.Now()
	r := render(client(srv))
	if r.Level != Default || time.Since(start) > time.Second {
		t.Fatalf("render %+v after %s", r, time.Since(start))
	}
}

func TestCDNDownServesTheLastVersionSeen(t *testing.T) {
	srv := service(t)
	c := client(srv)
	render(c)
	fault(t, srv, `{"target":"cdn","outage":true}`)
	r := render(c)
	if r.Level != Cached || len(r.Items) != 1 || r.Items[0].Version != 1 {
		t.Fatalf("render %+v", r)
	}
	clear(t, srv)
	if r := render(c); r.Level != Fresh {
		t.Fatalf("after the fault: %+v", r)
	}
}

func TestNothingCachedRendersNothing(t *testing.T) {
	srv := service(t)
	fault(t, srv, `{"target":"cdn","error_status":500}`)
	r := render(client(srv))
	if r.Level != Empty || len(r.Items) != 0 || len(r.Errors) == 0 {
		t.Fatalf("render %+v", r)
	}
}

type panicky struct{}

func (panicky) RoundTrip(*http.Request) (*http.Response, error) { panic("broken transport") }

func TestPanicIsRecovered(t *testing.T) {
	c := New(Options{BaseURL: "http://127.0.0.1:9", HTTP: &http.Client{Transport: panicky{}}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	r := c.Render(context.Background(), "ann", nil)
	if r.Level != Empty || len(r.Errors) != 1 || !strings.Contains(r.Errors[0].Error(), "panic: broken transport") {
		t.Fatalf("render %+v", r)
	}
}
