package postgres

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/nines-sre/nines/controller/sla"
)

// PutSLOEvents stores an events SLO's counts, each minute's replacing
// what it had.
func (s *Store) PutSLOEvents(ctx context.Context, slo string, counts map[sla.Minute]sla.Events) error {
	b := &pgx.Batch{}
	for _, m := range slices.Sorted(maps.Keys(counts)) {
		b.Queue(`INSERT INTO slo_events (slo_id, minute, good, valid) VALUES ($1, $2, $3, $4)
			ON CONFLICT (slo_id, minute) DO UPDATE SET good = excluded.good, valid = excluded.valid`, slo, int64(m), counts[m].Good, counts[m].Total)
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return tx.SendBatch(ctx, b).Close() })
	if err != nil {
		return fmt.Errorf("store the events of slo %s: %w", slo, err)
	}
	return nil
}

// SLOEvents sums an events SLO's counts over [from, to), and says the
// newest minute with counts (0 when none).
func (s *Store) SLOEvents(ctx context.Context, slo string, from, to sla.Minute) (sla.Events, sla.Minute, error) {
	var e sla.Events
	var newest *int64
	err := s.pool.QueryRow(ctx, `SELECT COALESCE(SUM(good), 0), COALESCE(SUM(valid), 0), MAX(minute) FROM slo_events
		WHERE slo_id = $1 AND minute >= $2 AND minute < $3`, slo, int64(from), int64(to)).Scan(&e.Good, &e.Total, &newest)
	if err != nil {
		return e, 0, fmt.Errorf("read the events of slo %s: %w", slo, err)
	}
	if newest == nil {
		return e, 0, nil
	}
	return e, sla.Minute(*newest), nil
}

// FirstSLOEvents is the first minute an events SLO counted events in.
func (s *Store) FirstSLOEvents(ctx context.Context, slo string) (sla.Minute, error) {
	var first *int64
	if err := s.pool.QueryRow(ctx, `SELECT MIN(minute) FROM slo_events WHERE slo_id = $1 AND valid > 0`, slo).Scan(&first); err != nil {
		return 0, fmt.Errorf("read the events of slo %s: %w", slo, err)
	}
	if first == nil {
		return 0, nil
	}
	return sla.Minute(*first), nil
}
