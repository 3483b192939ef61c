package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"

	"github.com/nines-sre/nines/controller/sla"
)

// PutSLOEvents stores an events SLO's counts, each minute's replacing
// what it had.
func (s *Store) PutSLOEvents(ctx context.Context, slo string, counts map[sla.Minute]sla.Events) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, `INSERT INTO slo_events (slo_id, minute, good, valid) VALUES (?, ?, ?, ?)
			ON CONFLICT (slo_id, minute) DO UPDATE SET good = excluded.good, valid = excluded.valid`)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, m := range slices.Sorted(maps.Keys(counts)) {
			if _, err := st.ExecContext(ctx, slo, int64(m), counts[m].Good, counts[m].Total); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store the events of slo %s: %w", slo, err)
	}
	return nil
}

// SLOEvents sums an events SLO's counts over [from, to), and says the
// newest minute with counts (0 when none).
func (s *Store) SLOEvents(ctx context.Context, slo string, from, to sla.Minute) (sla.Events, sla.Minute, error) {
	var e sla.Events
	var newest sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT COALESCE(SUM(good), 0), COALESCE(SUM(valid), 0), MAX(minute) FROM slo_events
		WHERE slo_id = ? AND minute >= ? AND minute < ?`, slo, int64(from), int64(to)).Scan(&e.Good, &e.Total, &newest)
	if err != nil {
		return e, 0, fmt.Errorf("read the events of slo %s: %w", slo, err)
	}
	return e, sla.Minute(newest.Int64), nil
}

// FirstSLOEvents is the first minute an events SLO counted events in.
func (s *Store) FirstSLOEvents(ctx context.Context, slo string) (sla.Minute, error) {
	var first sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT MIN(minute) FROM slo_events WHERE slo_id = ? AND valid > 0`, slo).Scan(&first); err != nil {
		return 0, fmt.Errorf("read the events of slo %s: %w", slo, err)
	}
	return sla.Minute(first.Int64), nil
}
