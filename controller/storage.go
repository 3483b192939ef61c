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

// openStore opens the store that o names, with a leader elector when it is
// shared by replicas (PostgreSQL).
func openStore(ctx context.Context, o Options) (store.Store, elector, error) {
	st, err := OpenStore(ctx, o.Database, o.DataDir)
	if err != nil {
		return nil, nil, err
	}
	if pg, ok := st.(*postgres.Store); ok {
		return st, pg.NewElector(o.Replica, o.LeaseTTL, o.Logger), nil
	}
	return st, nil, nil
}

// OpenStore opens the store that database names: PostgreSQL for a
// postgres:// URL (shared by replicas), otherwise SQLite at database or,
// when it is empty, dataDir/nines.db.
func OpenStore(ctx context.Context, database, dataDir string) (store.Store, error) {
	if IsPostgres(database) {
		st, err := postgres.Open(ctx, database)
		if err != nil {
			return nil, err
		}
		return st, nil
	}
	path := database
	if path == "" {
		if err := os.MkdirAll(dataDir, 0o750); err != nil {
			return nil, fmt.Errorf("data directory: %w", err)
		}
		path = filepath.Join(dataDir, "nines.db")
	}
	return sqlite.Open(ctx, path)
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
	c.probes.DropSilent(since)
	ps, err := c.store.Probes(ctx, since)
	if err != nil {
		return err
	}
	gap := cfg.UnhealthyAfter()
	for _, p := range ps {
		c.probes.Merge(p, gap)
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
		c.latest.Offer(r)
	}
	return nil
}

// OtherLeaderAlive reports whether a controller replica holds a valid
// leader lease on the shared database (never with SQLite).
func (c *Controller) OtherLeaderAlive(ctx context.Context) bool {
	return LeaderElsewhere(ctx, c.store, c.replica)
}

// LeaderElsewhere reports whether a controller replica other than self
// holds a valid leader lease on st (never with SQLite).
func LeaderElsewhere(ctx context.Context, st store.Store, self string) bool {
	shared, ok := st.(sharedStore)
	if !ok {
		return false
	}
	holder, valid, err := shared.Leader(ctx)
	return err == nil && valid && holder != self
}

// ForgetSilentProbes forgets the probes silent for longer than the
// configuration allows (ForgetAfter), with their metric series and their
// share of the checks, and removes them from the store.
func (c *Controller) ForgetSilentProbes(ctx context.Context) error {
	for _, p := range c.probes.DropSilent(c.now().Add(-c.Config().ForgetAfter())) {
		c.log.Info("silent probe forgotten", "probe", p.ID, "region", p.Region, "last_heartbeat", p.LastHeartbeat)
		if err := c.store.ForgetProbe(ctx, p.ID, p.Region); err != nil {
			return err
		}
	}
	return nil
}
