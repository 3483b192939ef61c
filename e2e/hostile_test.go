//go:build linux

package e2e

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	procfs "github.com/nines-sre/nines/internal/proc"
	"github.com/nines-sre/nines/internal/testwait"
)

// peakRSS reads a process's peak resident set (VmHWM), in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	n, err := procfs.PeakRSS(pid)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestHostileBodiesKeepTheControllerSmall sends the real controller two
// 300 MB PagerDuty webhook bodies and six gzip bombs (200 MiB each as
// decoded) at once: each is refused with 413, and the process's peak RSS
// stays within 200 MiB.
func TestHostileBodiesKeepTheControllerSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	dir := t.TempDir()
	ctl := freeAddr(t)
	rs, toks := layOutRegions(t, dir)
	cfg := fmt.Sprintf(configHead, rs, toks, "127.0.0.1:9") + `alerting:
  pagerduty_webhook_secret: e2e-webhook-secret
`
	cfgPath := filepath.Join(dir, "nines.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	controller := start(t, dir, "controller", "controller", "--config", cfgPath, "--data", filepath.Join(dir, "ctl"), "--listen", ctl)
	answering(t, "http://"+ctl+"/healthz", controller)
	before := peakRSS(t, controller.Cmd.Process.Pid)
	var bomb bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&bomb, gzip.BestCompression)
	zw.Write([]byte(`{"probe":"p","results":[],"pad":"`))
	chunk := bytes.Repeat([]byte("a"), 1<<20)
	for range 200 {
		zw.Write(chunk)
	}
	zw.Write([]byte(`"}`))
	zw.Close()
	var wg sync.WaitGroup
	codes := make(chan string, 8)
	send := func(what, path string, body io.Reader, size int64, hdr map[string]string) {
		defer wg.Done()
		req, _ := http.NewRequest("POST", "http://"+ctl+path, body)
		req.ContentLength = size
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			codes <- what + ": " + err.Error()
			return
		}
		resp.Body.Close()
		codes <- what + ": " + strconv.Itoa(resp.StatusCode)
	}
	zero, err := os.Open("/dev/zero")
	if err != nil {
		t.Fatal(err)
	}
	defer zero.Close()
	for i := range 2 {
		wg.Add(1)
		go send(fmt.Sprintf("webhook %d", i), "/api/v1/webhooks/pagerduty", io.LimitReader(zero, 300<<20), -1, map[string]string{"X-PagerDuty-Signature": "v1=00"})
	}
	for i := range 6 {
		wg.Add(1)
		go send(fmt.Sprintf("bomb %d", i), "/api/v1/results", bytes.NewReader(bomb.Bytes()), int64(bomb.Len()),
			map[string]string{"Authorization": "Bearer " + token("eu-london"), "Content-Type": "application/json", "Content-Encoding": "gzip"})
	}
	wg.Wait()
	close(codes)
	var got []string
	for c := range codes {
		got = append(got, c)
		if !strings.HasSuffix(c, ": 413") {
			t.Errorf("%s, want 413", c)
		}
	}
	peak := peakRSS(t, controller.Cmd.Process.Pid)
	t.Logf("answers %v; controller peak RSS %d MiB before, %d MiB with two 300 MB webhook bodies and six gzip bombs in flight", got, before>>20, peak>>20)
	if peak > 200<<20 {
		t.Fatalf("peak RSS %d MiB, more than 200 MiB", peak>>20)
	}
}

// TestHostileSlowClientsAreCutOff: fifty clients that send a request body one
// byte every five seconds are cut off by the controller's read timeout,
// while it keeps answering everyone else.
func TestHostileSlowClientsAreCutOff(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	t.Parallel()
	dir := t.TempDir()
	ctl := freeAddr(t)
	rs, toks := layOutRegions(t, dir)
	cfgPath := filepath.Join(dir, "nines.yaml")
	if err := os.WriteFile(cfgPath, fmt.Appendf(nil, configHead, rs, toks, "127.0.0.1:9"), 0o644); err != nil {
		t.Fatal(err)
	}
	controller := start(t, dir, "controller", "controller", "--config", cfgPath, "--data", filepath.Join(dir, "ctl"), "--listen", ctl)
	answering(t, "http://"+ctl+"/healthz", controller)
	const slow = 50
	began := time.Now()
	closed := make(chan time.Duration, slow)
	for range slow {
		conn, err := net.Dial("tcp", ctl)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST /api/v1/results HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n", ctl, token("eu-london"))
		go func() {
			// One byte every five seconds until the controller hangs up.
			for i := 0; i < 30; i++ {
				if _, err := conn.Write([]byte("{")); err != nil {
					closed <- time.Since(began)
					return
				}
				// An answer (the request refused) or a hang-up both end it.
				buf := make([]byte, 1)
				conn.SetReadDeadline(time.Now().Add(5 * time.Second))
				if n, err := conn.Read(buf); n > 0 || (err != nil && !errors.Is(err, os.ErrDeadlineExceeded)) {
					closed <- time.Since(began)
					return
				}
			}
			closed <- -1
		}()
	}
	// Everyone else is served meanwhile.
	testwait.Throughout(t, 15*time.Second, fmt.Sprintf("the status API served with %d slow clients", slow), func() error {
		var s status
		return getJSON("http://"+ctl+"/api/v1/status", &s)
	})
	var longest time.Duration
	for range slow {
		d := <-closed
		if d < 0 {
			t.Fatal("a slow client was never cut off")
		}
		longest = max(longest, d)
	}
	t.Logf("%d clients sending a byte every 5 s: all cut off, the last after %s", slow, longest.Round(time.Second))
	if longest > 90*time.Second {
		t.Fatalf("the last slow client was cut off after %s", longest)
	}
}
