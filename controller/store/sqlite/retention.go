package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/nines-sre/nines/controller/sla"
)

// PruneResults deletes raw results scheduled before before. It works one
// check and region at a time, along the primary key, taking the write lock
// per statement so that ingest goes on in between; it returns how many rows
// went.
func (s *Store) PruneResults(ctx context.Context, before time.Time) (int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT c.id, r.id FROM checks c, regions r`)
	if err != nil {
		return 0, fmt.Errorf("prune results: %w", err)
	}
	var pairs [][2]int64
	for rows.Next() {
		var p [2]int64
		if err := rows.Scan(&p[0], &p[1]); err != nil {
			rows.Close()
			return 0, err
		}
		pairs = append(pairs, p)
	}
	rows.Close()
	var total int64
	for _, p := range pairs {
		n, err := s.exec(ctx, `DELETE FROM results WHERE check_id = ? AND region_id = ? AND scheduled < ?`, p[0], p[1], before.UnixMilli())
		if err != nil {
			return total, fmt.Errorf("prune results: %w", err)
		}
		total += n
	}
	return total, nil
}

// PruneSlices deletes minute slices before before; the hourly and daily
// rollups made from them stay.
func (s *Store) PruneSlices(ctx context.Context, before sla.Minute) (int64, error) {
	s.mu.Lock()
	ids := make([]int64, 0, len(s.names["checks"]))
	for _, id := range s.names["checks"] {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	var total int64
	for _, id := range ids {
		n, err := s.exec(ctx, `DELETE FROM slices WHERE check_id = ? AND minute < ?`, id, int64(before))
		if err != nil {
			return total, fmt.Errorf("prune slices: %w", err)
		}
		total += n
		if _, err := s.exec(ctx, `DELETE FROM latency_events WHERE check_id = ? AND span = 1 AND bucket < ?`, id, int64(before)); err != nil {
			return total, fmt.Errorf("prune latency events: %w", err)
		}
	}
	return total, nil
}

// write runs fn in a transaction under the writer lock and commits it
// when fn succeeds; the store's writes go one at a time.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	s.wr.Lock()
	defer s.wr.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// exec runs one write statement under the writer lock.
func (s *Store) exec(ctx context.Context, q string, args ...any) (int64, error) {
	s.wr.Lock()
	defer s.wr.Unlock()
	res, err := s.db.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
