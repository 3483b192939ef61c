package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nines-sre/nines/controller/sla"
)

// PruneResults deletes raw results scheduled before before: whole days go
// with their partitions; the rest (the day before's edge, results_default)
// one check and region at a time along the primary key, so that no
// statement holds many locks for long. It returns how many rows went.
func (s *Store) PruneResults(ctx context.Context, before time.Time) (int64, error) {
	dropped, err := s.dropPartitionsBefore(ctx, before)
	if err != nil {
		return dropped, err
	}
	rows, err := s.pool.Query(ctx, `SELECT c.id, g.id FROM checks c CROSS JOIN regions g`)
	if err != nil {
		return 0, fmt.Errorf("prune results: %w", err)
	}
	pairs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([2]int64, error) {
		var p [2]int64
		return p, r.Scan(&p[0], &p[1])
	})
	if err != nil {
		return 0, fmt.Errorf("prune results: %w", err)
	}
	total := dropped
	// Packed days go whole, once wholly before before.
	var packed int64
	if err := s.pool.QueryRow(ctx, `WITH gone AS (DELETE FROM results_packed WHERE day + $1 <= $2 RETURNING n)
		SELECT COALESCE(SUM(n), 0) FROM gone`, dayMS, before.UnixMilli()).Scan(&packed); err != nil {
		return total, fmt.Errorf("prune packed results: %w", err)
	}
	total += packed
	for _, p := range pairs {
		tag, err := s.pool.Exec(ctx, `DELETE FROM results WHERE check_id = $1 AND region_id = $2 AND scheduled < $3`, p[0], p[1], before.UnixMilli())
		if err != nil {
			return total, fmt.Errorf("prune results: %w", err)
		}
		total += tag.RowsAffected()
	}
	return total, nil
}

// PruneSlices deletes minute slices and minute latency events before
// before; the hourly and daily rollups made from them stay.
func (s *Store) PruneSlices(ctx context.Context, before sla.Minute) (int64, error) {
	ids, err := s.checkIDs(ctx, nil)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, id := range ids {
		tag, err := s.pool.Exec(ctx, `DELETE FROM slices WHERE check_id = $1 AND minute < $2`, id, int64(before))
		if err != nil {
			return total, fmt.Errorf("prune slices: %w", err)
		}
		total += tag.RowsAffected()
		if _, err := s.pool.Exec(ctx, `DELETE FROM latency_events WHERE check_id = $1 AND span = 1 AND bucket < $2`, id, int64(before)); err != nil {
			return total, fmt.Errorf("prune latency events: %w", err)
		}
	}
	return total, nil
}
