package demo

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nines-sre/nines/contentsvc"
	"github.com/nines-sre/nines/internal/testwait"
)

// renders reads contentsvc_renders_total by level from /metrics.
func renders(base string) (map[string]int, error) {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, line := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, `contentsvc_renders_total{level="`)
		if !ok {
			continue
		}
		level, v, _ := strings.Cut(rest, `"} `)
		n, _ := strconv.Atoi(v)
		out[level] = n
	}
	return out, nil
}

// The simulated users render through the SDK and their renders reach
// contentsvc's counts; with segments slow, first visits fall back to
// everyone (default) while returning users keep their cached segments.
func TestUsersRenderAndReport(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc, err := contentsvc.New(contentsvc.Options{DataDir: t.TempDir(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler())
	ctx, cancel := context.WithCancel(context.Background())
	consumed := make(chan error, 1)
	go func() { consumed <- svc.Consume(ctx) }()
	users := make(chan struct{})
	go func() {
		defer close(users)
		Users{Users: 7, RendersPerSecond: 40, Log: quiet}.Run(ctx, srv.URL)
	}()
	t.Cleanup(func() { cancel(); <-users; <-consumed; srv.Close(); svc.Close() })

	testwait.Eventually(t, 60*time.Second, "fresh renders counted", func() error {
		n, err := renders(srv.URL)
		if err != nil || n["fresh"] < 20 {
			return fmt.Errorf("%v %v", n, err)
		}
		return nil
	})
	resp, err := http.Post(srv.URL+"/admin/faults", "application/json", strings.NewReader(`{"target":"segments","latency_ms":2500}`))
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("fault: %v %v", resp, err)
	}
	resp.Body.Close()
	testwait.Eventually(t, 60*time.Second, "first visits fall back to everyone, returning users keep theirs", func() error {
		n, err := renders(srv.URL)
		if err != nil || n["default"] < 5 || n["cached"] < 5 {
			return fmt.Errorf("%v %v", n, err)
		}
		return nil
	})
}
