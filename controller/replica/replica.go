// Package replica opens the controller's store and keeps a replica in
// step with the others that share it: it takes in the heartbeats and the
// results that other replicas received, and tells who leads.
package replica

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/controller/fleet"
	"github.com/nines-sre/nines/controller/live"
	"github.com/nines-sre/nines/controller/store"
	"github.com/nines-sre/nines/controller/store/postgres"
	"github.com/nines-sre/nines/controller/store/sqlite"
	"github.com/nines-sre/nines/model"
)

// IsPostgres reports whether database names a PostgreSQL database rather
// than a SQLite file.
func IsPostgres(database string) bool {
	return strings.HasPrefix(database, "postgres://") || strings.HasPrefix(database, "postgresql://")
}

// Open opens the store that database names: PostgreSQL for a postgres://
// URL (shared by replicas), otherwise SQLite at database or, when it is
// empty, dataDir/nines.db.
func Open(ctx context.Context, database, dataDir string) (store.Store, error) {
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

// Shared is what a store that controller replicas share (store/postgres)
// offers besides the contract: reading only what other replicas ingested
// since a cursor, telling who leads, keeping day partitions of raw results
// and packing the closed ones.
type Shared interface {
	LatestSince(ctx context.Context, cursor int64) ([]model.Result, int64, error)
	Leader(ctx context.Context) (holder string, valid bool, err error)
	MaintainPartitions(ctx context.Context, from, to time.Time) (int, error)
	PackResults(ctx context.Context, before time.Time) (int64, error)
}

var _ Shared = (*postgres.Store)(nil)

// LeaderElsewhere reports whether a controller replica other than self
// holds a valid leader lease on st (never with SQLite).
func LeaderElsewhere(ctx context.Context, st store.Store, self string) bool {
	shared, ok := st.(Shared)
	if !ok {
		return false
	}
	holder, valid, err := shared.Leader(ctx)
	return err == nil && valid && holder != self
}

// Sync takes into a replica's probe registry and newest results what the
// store holds that it has not seen.
type Sync struct {
	Store  store.Store
	Probes *fleet.Registry
	Latest *live.Latest
	Config func() *config.Config
	Now    func() time.Time
	// Took, when set, is given the results each sync took in.
	Took func([]model.Result)

	mu     sync.Mutex
	cursor int64 // where the last sync read up to (store/postgres)
}

// healthReach is how far back a sync takes in region health: as far as a
// controller outage that probes vouch for afterwards is likely to reach.
const healthReach = 24 * time.Hour

// Run syncs once: at start everything, then what other replicas received
// (heartbeats of probes that talk to them, results they ingested).
func (s *Sync) Run(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cfg := s.Config()
	// Probes silent for long are forgotten here too (the leader removes
	// them from the store): only those heard from since are taken in.
	since := s.Now().Add(-cfg.ForgetAfter())
	s.Probes.DropSilent(since)
	ps, err := s.Store.Probes(ctx, since)
	if err != nil {
		return err
	}
	gap := cfg.UnhealthyAfter()
	for _, p := range ps {
		s.Probes.Merge(p, gap)
	}
	// Region health another replica learned, a probe's account of a
	// controller outage among it.
	spans, err := s.Store.Health(ctx, s.Now().Add(-healthReach))
	if err != nil {
		return err
	}
	s.Probes.LoadHealth(spans)
	var rs []model.Result
	if shared, ok := s.Store.(Shared); ok {
		rs, s.cursor, err = shared.LatestSince(ctx, s.cursor)
	} else {
		rs, err = s.Store.Latest(ctx)
	}
	if err != nil {
		return err
	}
	for _, r := range rs {
		s.Latest.Offer(r)
	}
	if s.Took != nil {
		s.Took(rs)
	}
	return nil
}
