package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/nines-sre/nines/alerting"
	"github.com/nines-sre/nines/controller/store"
	"github.com/nines-sre/nines/model"
)

// PutAlertEvent records an event of rule at at: a trigger opens its key
// (again) or keeps it open with the newest summary, link and details; a
// resolve ends it. It reports whether the key was there (a resolve of an
// unknown key changes nothing).
func (s *Store) PutAlertEvent(ctx context.Context, rule string, e *model.AlertEvent, at time.Time) (bool, error) {
	var q string
	var args []any
	if e.Action == model.EventResolve {
		q = `UPDATE alert_events SET resolved_at = $1 WHERE rule_id = $2 AND key = $3 AND resolved_at IS NULL`
		args = []any{at.UnixMilli(), rule, e.Key}
	} else {
		q = `INSERT INTO alert_events (rule_id, key, summary, link, details, count, first_at, last_at)
			VALUES ($1, $2, $3, $4, $5, 1, $6, $6)
			ON CONFLICT (rule_id, key) DO UPDATE SET summary = excluded.summary, link = excluded.link, details = excluded.details,
				count = alert_events.count + 1, last_at = GREATEST(alert_events.last_at, excluded.last_at),
				first_at = CASE WHEN alert_events.resolved_at IS NULL THEN alert_events.first_at ELSE excluded.first_at END,
				resolved_at = NULL`
		args = []any{rule, e.Key, e.Summary, e.Link, store.EventDetails(e.Details), at.UnixMilli()}
	}
	tag, err := s.pool.Exec(ctx, q, args...)
	if err != nil {
		return false, fmt.Errorf("store an event of rule %s: %w", rule, err)
	}
	return tag.RowsAffected() > 0, nil
}

// AlertEvents returns the events last triggered since since, the newest
// first, at most limit.
func (s *Store) AlertEvents(ctx context.Context, since time.Time, limit int) ([]alerting.Event, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+store.AlertEventColumns+`
		FROM alert_events WHERE last_at >= $1 ORDER BY last_at DESC, rule_id, key LIMIT $2`, since.UnixMilli(), limit)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	defer rows.Close()
	return store.AlertEventRows(rows)
}

// PruneAlertEvents deletes the events last triggered before before.
func (s *Store) PruneAlertEvents(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM alert_events WHERE last_at < $1`, before.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("prune events: %w", err)
	}
	return tag.RowsAffected(), nil
}
