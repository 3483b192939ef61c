package controller

import (
	"bytes"
	"context"
	"crypto/sha256"
	"github.com/nines-sre/nines/model"
	"os"
	"sync"
	"time"

	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/controller/live"
)

// reloader swaps the configuration when its file changes or on request. A
// configuration that does not load keeps the old one in force; the error
// is logged, counted and shown in the status API.
type reloader struct {
	mu      sync.Mutex
	lastErr string
	lastAt  time.Time
	sum     [32]byte
}

func (c *Controller) reloadStatus() live.ReloadStatus {
	cfg := c.Config()
	c.reload.mu.Lock()
	defer c.reload.mu.Unlock()
	// The error is public (the status document): no URL in it, whatever
	// its scheme, keeps a path, a query or a password.
	rs := live.ReloadStatus{Version: cfg.Version, File: cfg.File, Error: model.RedactSecretURLs(c.reload.lastErr), Succeeded: c.reload.lastErr == ""}
	if !c.reload.lastAt.IsZero() {
		at := c.reload.lastAt
		rs.ReloadAt = &at
	}
	return rs
}

// ReloadFile loads path and, when it is valid, puts it in force.
func (c *Controller) ReloadFile(path string) error {
	raw, err := os.ReadFile(path)
	if err == nil {
		sum := sha256.Sum256(raw)
		c.reload.mu.Lock()
		c.reload.sum = sum
		c.reload.mu.Unlock()
	}
	var cfg *config.Config
	if err == nil {
		cfg, err = config.Parse(path, raw)
	}
	now := c.now()
	c.reload.mu.Lock()
	c.reload.lastAt = now
	if err != nil {
		c.reload.lastErr = err.Error()
		c.changed()
		c.reload.mu.Unlock()
		c.metrics.reloads.WithLabelValues("failure").Inc()
		c.metrics.reloadOK.Set(0)
		c.log.Error("configuration not reloaded; the previous one stays in force", "file", path, "err", err)
		return err
	}
	c.reload.lastErr = ""
	c.reload.mu.Unlock()
	old := c.Config()
	c.install(cfg)
	c.changed()
	c.metrics.reloads.WithLabelValues("success").Inc()
	c.metrics.reloadOK.Set(1)
	c.metrics.reloadTime.Set(float64(now.Unix()))
	c.log.Info("configuration reloaded", "file", path, "old_version", old.Version, "version", cfg.Version,
		"checks", len(cfg.AllChecks()), "slos", len(cfg.SLOs))
	c.logWarnings(cfg)
	return nil
}

// watchConfig reloads path on a request on reload and whenever its
// content changes (polled: this also sees a Kubernetes ConfigMap's symlink
// swap).
func (c *Controller) watchConfig(ctx context.Context, path string, every time.Duration, reload <-chan struct{}) {
	if raw, err := os.ReadFile(path); err == nil {
		c.reload.mu.Lock()
		c.reload.sum = sha256.Sum256(raw)
		c.reload.mu.Unlock()
		// The file may have changed between its loading and now: what is
		// in it now is what must be in force.
		if cfg, err := config.Parse(path, raw); err != nil || cfg.Version != c.Config().Version {
			c.log.Info("configuration file changed since it was loaded: reloading", "file", path)
			_ = c.ReloadFile(path)
		}
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-reload:
			c.log.Info("reload requested: reloading the configuration", "file", path)
			_ = c.ReloadFile(path)
		case <-t.C:
			raw, err := os.ReadFile(path)
			if err != nil {
				continue // mid-replace; the next tick sees it
			}
			sum := sha256.Sum256(raw)
			c.reload.mu.Lock()
			changed := !bytes.Equal(sum[:], c.reload.sum[:])
			c.reload.mu.Unlock()
			if changed {
				c.log.Info("configuration file changed: reloading", "file", path)
				_ = c.ReloadFile(path)
			}
		}
	}
}

// logWarnings logs what in cfg loads but will probably not do what was
// meant.
func (c *Controller) logWarnings(cfg *config.Config) {
	for _, w := range cfg.Warnings {
		c.log.Warn("configuration warning", "file", w.File, "line", w.Line, "field", w.Field, "warning", w.Msg)
	}
}
