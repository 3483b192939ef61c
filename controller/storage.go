package controller

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nines-sre/nines/controller/store"
	"github.com/nines-sre/nines/controller/store/postgres"
	"github.com/nines-sre/nines/controller/store/sqlite"
	"github.com/nines-sre/nines/model"
)

// elector is how a replica learns whether it leads (store/postgres).
type elector interface {
	Run(ctx context.Context, changed func(leading bool))
	Leading() bool
}

// IsPostgres reports whether database names a PostgreSQL database rather
// than a SQLite file.
func IsPostgres(database string) bool {
	return strings.HasPrefix(database, "postgres://") || strings.HasPrefix(database, "postgresql://")
}

// openStore opens the store that o names: PostgreSQL when Database is a
// postgres:// URL (shared by replicas, with a leader elector), otherwise
// SQLite at Database or DataDir/nines.db.
func openStore(ctx context.Context, o Options) (store.Store, elector, error) {
	if IsPostgres(o.Database) {
		st, err := postgres.Open(ctx, o.Database)
		if err != nil {
			return nil, nil, err
		}
		return st, st.NewElector(o.Replica, o.LeaseTTL, o.Logger), nil
	}
	path := o.Database
	if path == "" {
		if err := os.MkdirAll(o.DataDir, 0o750); err != nil {
			return nil, nil, fmt.Errorf("data directory: %w", err)
		}
		path = filepath.Join(o.DataDir, "nines.db")
	}
	st, err := sqlite.Open(ctx, path)
	return st, nil, err
}

// Leading reports whether this controller runs the rules, the slicer and
// the dispatcher: always with SQLite, when it holds the lease with
// PostgreSQL.
func (c *Controller) Leading() bool { return c.elector == nil || c.elector.Leading() }

// sharedStore is what a store that controller replicas share
// (store/postgres) offers besides the contract: reading only what other
// replicas ingested since a cursor, telling who leads, keeping day
// partitions of raw results and packing the closed ones.
type sharedStore interface {
	LatestSince(ctx context.Context, cursor int64) ([]model.Result, int64, error)
	Leader(ctx context.Context) (holder string, valid bool, err error)
	MaintainPartitions(ctx context.Context, from, to time.Time) (int, error)
	PackResults(ctx context.Context, before time.Time) (int64, error)
}

var _ sharedStore = (*postgres.Store)(nil)

// syncReplica takes in what the store holds that this controller has not
// seen: at start everything, then what other replicas received
// (heartbeats of probes that talk to them, results they ingested).
func (c *Controller) syncReplica(ctx context.Context) error {
	c.syncMu.Lock()
	defer c.syncMu.Unlock()
	now := c.now()
	cfg := c.Config()
	// Probes silent for long are forgotten here too (the leader removes
	// them from the store): only those heard from since are taken in.
	since := now.Add(-cfg.ForgetAfter())
	c.probes.dropSilent(since)
	ps, err := c.store.Probes(ctx, since)
	if err != nil {
		return err
	}
	gap := cfg.UnhealthyAfter()
	for _, p := range ps {
		c.probes.merge(p, gap)
	}
	var rs []model.Result
	if c.shared != nil {
		rs, c.syncCursor, err = c.shared.LatestSince(ctx, c.syncCursor)
	} else {
		rs, err = c.store.Latest(ctx)
	}
	if err != nil {
		return err
	}
	for _, r := range rs {
		c.latest.offer(r)
	}
	return nil
}

// OtherLeaderAlive reports whether a controller replica holds a valid
// leader lease on the shared database (never with SQLite).
func (c *Controller) OtherLeaderAlive(ctx context.Context) bool {
	if c.shared == nil {
		return false
	}
	holder, valid, err := c.shared.Leader(ctx)
	return err == nil && valid && holder != c.replica
}

// ForgetSilentProbes forgets the probes silent for longer than the
// configuration allows (ForgetAfter), with their metric series and their
// share of the checks, and removes them from the store.
func (c *Controller) ForgetSilentProbes(ctx context.Context) error {
	for _, p := range c.probes.dropSilent(c.now().Add(-c.Config().ForgetAfter())) {
		c.log.Info("silent probe forgotten", "probe", p.ID, "region", p.Region, "last_heartbeat", p.LastHeartbeat)
		if err := c.store.ForgetProbe(ctx, p.ID, p.Region); err != nil {
			return err
		}
	}
	return nil
}
