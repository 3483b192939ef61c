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

// latestSince is a store that can say what was ingested since a cursor
// (store/postgres), so that a replica need not read every check's newest
// result at every sync.
type latestSince interface {
	LatestSince(ctx context.Context, cursor int64) ([]model.Result, int64, error)
}

// syncReplica takes in what other replicas received: heartbeats of probes
// that talk to them, and results they ingested.
func (c *Controller) syncReplica(ctx context.Context) error {
	c.syncMu.Lock()
	defer c.syncMu.Unlock()
	now := c.now()
	ps, err := c.store.Probes(ctx, now.Add(-time.Hour))
	if err != nil {
		return err
	}
	for _, p := range ps {
		c.probes.merge(p)
	}
	var rs []model.Result
	if inc, ok := c.store.(latestSince); ok {
		rs, c.syncCursor, err = inc.LatestSince(ctx, c.syncCursor)
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
	l, ok := c.store.(interface {
		Leader(ctx context.Context) (string, bool, error)
	})
	if !ok {
		return false
	}
	holder, valid, err := l.Leader(ctx)
	return err == nil && valid && holder != c.replica
}
