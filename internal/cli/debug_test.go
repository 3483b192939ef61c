package cli

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

// The profiler answers on the address asked for, and stops with ctx; an
// address that cannot be listened on is an error naming the flag.
func TestServeDebug(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	addr, err := ServeDebug(ctx, "127.0.0.1:0", quiet)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + addr + "/debug/pprof/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("cmdline: %d", resp.StatusCode)
	}
	cancel()
	if _, err := ServeDebug(context.Background(), "256.0.0.1:1", quiet); err == nil || !strings.Contains(err.Error(), "--debug-listen") {
		t.Fatalf("bad address: %v", err)
	}
	if addr, err := ServeDebug(context.Background(), "", quiet); addr != "" || err != nil {
		t.Fatalf("off: %q %v", addr, err)
	}
}
