package alerts

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nines-sre/nines/model"
)

// Deadman calls the configured dead man's switch (alerting.deadman) every
// interval until ctx is done, so that a service watching for the calls
// pages when this controller (or, with replicas, every leader) is gone.
// The configuration is read at every call: a reload that adds, changes or
// removes the switch takes effect at once.
func (a *Alerts) Deadman(ctx context.Context, client *http.Client, calls *prometheus.CounterVec) {
	var last time.Time
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		if d := a.o.Config().Alerting.Deadman; d != nil && time.Since(last) >= d.Every.D() {
			last = time.Now()
			outcome := "ok"
			if err := callDeadman(ctx, client, d.URL); err != nil {
				outcome = "error"
				if ctx.Err() == nil {
					a.o.Log.Warn("dead man's switch not reached; trying again at the next interval", "url", model.RedactURL(d.URL, true), "err", err)
				}
			}
			calls.WithLabelValues(outcome).Inc()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func callDeadman(ctx context.Context, client *http.Client, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "nines-controller")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("GET: %s", model.RedactSecretURLs(err.Error()))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("answered %d", resp.StatusCode)
	}
	return nil
}
