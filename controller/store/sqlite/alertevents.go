package sqlite

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
	var n int64
	var err error
	if e.Action == model.EventResolve {
		n, err = s.exec(ctx, `UPDATE alert_events SET resolved_at = ? WHERE rule_id = ? AND key = ? AND resolved_at IS NULL`,
			at.UnixMilli(), rule, e.Key)
	} else {
		n, err = s.exec(ctx, `INSERT INTO alert_events (rule_id, key, summary, link, details, count, first_at, last_at)
			VALUES (?, ?, ?, ?, ?, 1, ?, ?)
			ON CONFLICT (rule_id, key) DO UPDATE SET summary = excluded.summary, link = excluded.link, details = excluded.details,
				count = count + 1, last_at = max(last_at, excluded.last_at),
				first_at = CASE WHEN resolved_at IS NULL THEN first_at ELSE excluded.first_at END, resolved_at = NULL`,
			rule, e.Key, e.Summary, e.Link, store.EventDetails(e.Details), at.UnixMilli(), at.UnixMilli())
	}
	if err != nil {
		return false, fmt.Errorf("store an event of rule %s: %w", rule, err)
	}
	return n > 0, nil
}

// AlertEvents returns the events last triggered since since, the newest
// first, at most limit.
func (s *Store) AlertEvents(ctx context.Context, since time.Time, limit int) ([]alerting.Event, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+store.AlertEventColumns+`
		FROM alert_events WHERE last_at >= ? ORDER BY last_at DESC, rule_id, key LIMIT ?`, since.UnixMilli(), limit)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	defer rows.Close()
	return store.AlertEventRows(rows)
}

// PruneAlertEvents deletes the events last triggered before before.
func (s *Store) PruneAlertEvents(ctx context.Context, before time.Time) (int64, error) {
	n, err := s.exec(ctx, `DELETE FROM alert_events WHERE last_at < ?`, before.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("prune events: %w", err)
	}
	return n, nil
}
