package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Elector picks one leader among the controller replicas sharing the
// database: the replica holding a session advisory lock on a connection of
// its own. The holder renews a lease row every Renew; when it cannot, it
// steps down before the lease runs out. A replica that is killed loses the
// lock with its connection at once; one that hangs keeps its session, so a
// replica that finds the lease expired by more than a TTL ends the holder's
// session, which frees the lock. Failover thus takes at most Renew after a
// crash, and 2·TTL + Renew after a hang.
type Elector struct {
	pool   *pgxpool.Pool
	holder string
	ttl    time.Duration
	renew  time.Duration
	log    *slog.Logger

	leading atomic.Bool
	conn    *pgxpool.Conn // holds the lock while leading
	renewed atomic.Int64  // UnixNano of the last renewal
}

// NewElector returns an elector for this replica, named holder; the lease
// lasts ttl and is renewed every ttl/5.
func (s *Store) NewElector(holder string, ttl time.Duration, log *slog.Logger) *Elector {
	if ttl <= 0 {
		ttl = 10 * time.Second
	}
	return &Elector{pool: s.pool, holder: holder, ttl: ttl, renew: ttl / 5, log: log}
}

// Leading reports whether this replica leads now: it holds the lock and
// renewed its lease recently enough that no other replica can have taken
// over. A process that was stopped or starved past that answers false even
// before its elector runs again, so it sends nothing meanwhile.
func (e *Elector) Leading() bool {
	return e.leading.Load() && time.Since(time.Unix(0, e.renewed.Load())) < e.ttl-e.renew
}

// lockKey is the advisory lock of the current schema's leader.
const lockKey = `hashtext('nines-leader:' || current_schema())`

// Run campaigns until ctx is done, calling changed(true) on taking the
// lead and changed(false) on losing it (and when ctx ends while leading).
func (e *Elector) Run(ctx context.Context, changed func(leading bool)) {
	t := time.NewTicker(e.renew)
	defer t.Stop()
	defer func() {
		if e.leading.Load() {
			e.stepDown("stopping")
			changed(false)
		}
	}()
	for {
		was := e.leading.Load()
		if was {
			if err := e.keep(ctx); err != nil && ctx.Err() == nil {
				e.stepDown(err.Error())
			}
		} else if err := e.campaign(ctx); err != nil && ctx.Err() == nil {
			e.log.Warn("leader election", "err", err)
		}
		if now := e.leading.Load(); now != was {
			changed(now)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// campaign tries to take the lock; failing that, it ends the session of a
// holder whose lease expired long ago.
func (e *Elector) campaign(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, e.renew)
	defer cancel()
	conn, err := e.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire connection: %w", err)
	}
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(`+lockKey+`)`).Scan(&got); err != nil {
		conn.Release()
		return fmt.Errorf("try lock: %w", err)
	}
	if !got {
		conn.Release()
		return e.evictHung(ctx)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO leader_lease (name, holder, backend_pid, acquired_at, expires_at)
		VALUES ('controller', $1, pg_backend_pid(), now(), now() + $2::interval)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, backend_pid = excluded.backend_pid,
		acquired_at = excluded.acquired_at, expires_at = excluded.expires_at`, e.holder, e.ttl.String()); err != nil {
		// Closing the connection releases the lock.
		conn.Conn().Close(context.Background())
		conn.Release()
		return fmt.Errorf("write lease: %w", err)
	}
	e.conn = conn
	e.renewed.Store(time.Now().UnixNano())
	e.leading.Store(true)
	e.log.Info("leading the controller replicas", "holder", e.holder)
	return nil
}

// keep renews the lease on the lock's own connection.
func (e *Elector) keep(ctx context.Context) error {
	if time.Since(time.Unix(0, e.renewed.Load())) > e.ttl-e.renew {
		return errors.New("lease not renewed in time")
	}
	ctx, cancel := context.WithTimeout(ctx, e.renew)
	defer cancel()
	tag, err := e.conn.Exec(ctx, `UPDATE leader_lease SET expires_at = now() + $2::interval
		WHERE name = 'controller' AND holder = $1 AND backend_pid = pg_backend_pid()`, e.holder, e.ttl.String())
	if err != nil {
		return fmt.Errorf("renew lease: %w", err)
	}
	if tag.RowsAffected() != 1 {
		return errors.New("lease taken over")
	}
	e.renewed.Store(time.Now().UnixNano())
	return nil
}

func (e *Elector) stepDown(reason string) {
	e.leading.Store(false)
	if e.conn != nil {
		// Closing rather than releasing: the lock goes with the session.
		e.conn.Conn().Close(context.Background())
		e.conn.Release()
		e.conn = nil
	}
	e.log.Warn("no longer leading", "holder", e.holder, "reason", reason)
}

// evictHung ends the session of a holder whose lease expired more than a
// TTL ago: it holds the lock but has stopped renewing.
func (e *Elector) evictHung(ctx context.Context) error {
	var pid int32
	var holder string
	err := e.pool.QueryRow(ctx, `SELECT backend_pid, holder FROM leader_lease
		WHERE name = 'controller' AND expires_at < now() - $1::interval`, e.ttl.String()).Scan(&pid, &holder)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read lease: %w", err)
	}
	e.log.Warn("ending the session of a leader that stopped renewing its lease", "holder", holder, "pid", pid)
	if _, err := e.pool.Exec(ctx, `SELECT pg_terminate_backend($1)`, pid); err != nil {
		return fmt.Errorf("end session of %s: %w", holder, err)
	}
	return nil
}

// Leader returns the holder of the current lease and whether it is still
// valid, for status pages and metrics.
func (s *Store) Leader(ctx context.Context) (holder string, valid bool, err error) {
	err = s.pool.QueryRow(ctx, `SELECT holder, expires_at > now() FROM leader_lease WHERE name = 'controller'`).Scan(&holder, &valid)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	return holder, valid, err
}
