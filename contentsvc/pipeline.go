package contentsvc

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The publish pipeline is contentsvc's background job: every period it
// checks that every manifest the CDN serves is in place, and reports to a
// heartbeat check (nines' push checks) around each run: /start, then a
// plain ping with what it did, or /fail with why. No probe can see it; a
// fault with target "pipeline" stalls it (outage: no run, no ping) or
// fails it (error_status).

// runPipeline runs the pipeline until ctx is done; heartbeat gives the
// ping URL ("" while unknown: no ping).
func (s *Service) runPipeline(ctx context.Context, every time.Duration, heartbeat func() string) {
	client := &http.Client{Timeout: 10 * time.Second}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		eff := s.faults.match(TargetPipeline, "", "")
		if eff.drop {
			s.log.Warn("publish pipeline stalled (fault)")
			continue
		}
		url := heartbeat()
		if url == "" {
			continue // no heartbeat check to report to (the demo without --jobs)
		}
		s.ping(ctx, client, url+"/start", "")
		began := time.Now()
		select {
		case <-ctx.Done():
			return
		case <-time.After(eff.delay):
		}
		n, err := s.checkManifests()
		switch {
		case eff.status != 0:
			s.ping(ctx, client, url+"/fail", fmt.Sprintf("publish run failed: upstream answered %d", eff.status))
		case err != nil:
			s.ping(ctx, client, url+"/fail", "publish run failed: "+err.Error())
		default:
			s.ping(ctx, client, url, fmt.Sprintf("%d manifests in place (%s)", n, time.Since(began).Round(time.Millisecond)))
		}
	}
}

// checkManifests counts the manifests the CDN serves, each readable.
func (s *Service) checkManifests() (int, error) {
	dir := filepath.Join(s.cdnDir, "manifests")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".json") {
			if _, err := os.ReadFile(filepath.Join(dir, e.Name())); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// ping calls a heartbeat URL; a ping that fails is logged and dropped (the
// heartbeat check then says the job is late, which is the truth as nines
// sees it).
func (s *Service) ping(ctx context.Context, client *http.Client, url, body string) {
	if url == "" || strings.HasPrefix(url, "/") {
		return // no URL yet
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		s.log.Warn("pipeline ping", "err", err)
		return
	}
	resp, err := client.Do(req)
	if err != nil {
		s.log.Warn("pipeline ping", "err", err)
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		s.log.Warn("pipeline ping refused", "status", resp.StatusCode)
	}
}
