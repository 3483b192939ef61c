package controller

import (
	"context"

	"github.com/nines-sre/nines/controller/replica"
	"github.com/nines-sre/nines/controller/store"
	"github.com/nines-sre/nines/controller/store/postgres"
)

// elector is how a replica learns whether it leads (store/postgres).
type elector interface {
	Run(ctx context.Context, changed func(leading bool))
	Leading() bool
}

// openStore opens the store that o names, with a leader elector when it is
// shared by replicas (PostgreSQL).
func openStore(ctx context.Context, o Options) (store.Store, elector, error) {
	st, err := replica.Open(ctx, o.Database, o.DataDir)
	if err != nil {
		return nil, nil, err
	}
	if pg, ok := st.(*postgres.Store); ok {
		return st, pg.NewElector(o.Replica, o.LeaseTTL, o.Logger), nil
	}
	return st, nil, nil
}

// Leading reports whether this controller runs the rules, the slicer and
// the dispatcher: always with SQLite, when it holds the lease with
// PostgreSQL.
func (c *Controller) Leading() bool { return c.elector == nil || c.elector.Leading() }

// OtherLeaderAlive reports whether a controller replica holds a valid
// leader lease on the shared database (never with SQLite).
func (c *Controller) OtherLeaderAlive(ctx context.Context) bool {
	return replica.LeaderElsewhere(ctx, c.store, c.replica)
}

// ForgetSilentProbes forgets the probes silent for longer than the
// configuration allows (ForgetAfter), with their metric series and their
// share of the checks, and removes them from the store.
func (c *Controller) ForgetSilentProbes(ctx context.Context) error {
	return c.probes.ForgetSilent(ctx, c.now().Add(-c.Config().ForgetAfter()))
}
