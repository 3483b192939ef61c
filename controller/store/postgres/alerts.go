package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nines-sre/nines/alerting"
	"github.com/nines-sre/nines/controller/store"
)

func msOrNil(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	v := t.UnixMilli()
	return &v
}

func timeOrNil(ms *int64) *time.Time {
	if ms == nil {
		return nil
	}
	t := time.UnixMilli(*ms).UTC()
	return &t
}

func textOrNil(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// OpenAlerts returns every alert that is not resolved.
func (s *Store) OpenAlerts(ctx context.Context) ([]alerting.Alert, error) {
	return s.alerts(ctx, `SELECT body, rev FROM alerts WHERE state != 'resolved' ORDER BY key`)
}

// RecentAlerts returns open alerts and those resolved since since.
func (s *Store) RecentAlerts(ctx context.Context, since time.Time) ([]alerting.Alert, error) {
	return s.alerts(ctx, `SELECT body, rev FROM alerts WHERE state != 'resolved' OR updated_at >= $1 ORDER BY key`, since.UnixMilli())
}

func (s *Store) alerts(ctx context.Context, q string, args ...any) ([]alerting.Alert, error) {
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read alerts: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (alerting.Alert, error) {
		var body []byte
		var rev int64
		if err := r.Scan(&body, &rev); err != nil {
			return alerting.Alert{}, err
		}
		return store.DecodeAlert(body, rev)
	})
	if err != nil {
		return nil, fmt.Errorf("read alerts: %w", err)
	}
	return out, nil
}

// Alert returns the newest incident of key, or nil.
func (s *Store) Alert(ctx context.Context, key string) (*alerting.Alert, error) {
	var body []byte
	var rev int64
	err := s.pool.QueryRow(ctx, `SELECT body, rev FROM alerts WHERE key = $1`, key).Scan(&body, &rev)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read alert %s: %w", key, err)
	}
	a, err := store.DecodeAlert(body, rev)
	if err != nil {
		return nil, fmt.Errorf("alert %s: %w", key, err)
	}
	return &a, nil
}

// SaveAlert writes the alert and queues its notifications atomically.
func (s *Store) SaveAlert(ctx context.Context, a *alerting.Alert, notes []alerting.Notification, at time.Time) error {
	body, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("encode alert %s: %w", a.Key, err)
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO alerts (key, state, body, updated_at, rev) VALUES ($1, $2, $3, $4, $5 + 1)
			ON CONFLICT (key) DO UPDATE SET state = excluded.state, body = excluded.body, updated_at = excluded.updated_at, rev = excluded.rev
			WHERE alerts.rev = $5`,
			a.Key, string(a.State), string(body), at.UnixMilli(), a.Revision)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return fmt.Errorf("at revision %d: %w", a.Revision, alerting.ErrConflict)
		}
		for _, n := range notes {
			msg, err := json.Marshal(n.Message)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO outbox (alert_key, notifier, message, created_at, next_at) VALUES ($1, $2, $3, $4, $5)`,
				a.Key, n.Notifier, string(msg), n.CreatedAt.UnixMilli(), n.NextAt.UnixMilli()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("save alert %s: %w", a.Key, err)
	}
	a.Revision++
	return nil
}

const outboxColumns = `id, notifier, message, created_at, next_at, attempts, delivered_at, failed_at, COALESCE(last_error, '')`

func scanNotifications(rows pgx.Rows) ([]alerting.Notification, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (alerting.Notification, error) {
		var n alerting.Notification
		var msg []byte
		var created, next int64
		var delivered, failed *int64
		var attempts int32
		if err := r.Scan(&n.ID, &n.Notifier, &msg, &created, &next, &attempts, &delivered, &failed, &n.LastError); err != nil {
			return n, err
		}
		if err := json.Unmarshal(msg, &n.Message); err != nil {
			return n, fmt.Errorf("decode notification %d: %w", n.ID, err)
		}
		n.Attempts = int(attempts)
		n.CreatedAt, n.NextAt = time.UnixMilli(created).UTC(), time.UnixMilli(next).UTC()
		n.Delivered, n.Failed = timeOrNil(delivered), timeOrNil(failed)
		return n, nil
	})
}

// DueNotifications returns undelivered notifications whose time has come,
// oldest first, at most perLane of each delivery lane (alerting.LaneOf)
// and limit in all, holding back any that has an older undelivered one
// for the same alert and notifier.
func (s *Store) DueNotifications(ctx context.Context, now time.Time, perLane, limit int) ([]alerting.Notification, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+outboxColumns+` FROM (
		SELECT o.*, ROW_NUMBER() OVER (PARTITION BY split_part(notifier, ':', 1) ORDER BY id) AS lane_rank
		FROM outbox o
		WHERE delivered_at IS NULL AND failed_at IS NULL AND next_at <= $1
		AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.alert_key = o.alert_key AND p.notifier = o.notifier AND p.id < o.id
			AND p.delivered_at IS NULL AND p.failed_at IS NULL)) due
		WHERE lane_rank <= $2 ORDER BY id LIMIT $3`, now.UnixMilli(), perLane, limit)
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	out, err := scanNotifications(rows)
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	return out, nil
}

// RecordAttempt stores the outcome of one delivery attempt.
func (s *Store) RecordAttempt(ctx context.Context, n *alerting.Notification, a alerting.Attempt) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE outbox SET attempts = $1, next_at = $2, delivered_at = $3, failed_at = $4, last_error = $5 WHERE id = $6`,
			n.Attempts, n.NextAt.UnixMilli(), msOrNil(n.Delivered), msOrNil(n.Failed), textOrNil(n.LastError), n.ID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO attempts (outbox_id, at, outcome, error) VALUES ($1, $2, $3, $4)`, n.ID, a.At.UnixMilli(), a.Outcome, textOrNil(a.Error))
		return err
	})
	if err != nil {
		return fmt.Errorf("record attempt of notification %d: %w", n.ID, err)
	}
	return nil
}

// AlertNotifications returns the notification history of key, with every
// attempt, in two queries.
func (s *Store) AlertNotifications(ctx context.Context, key string) ([]store.NotificationHistory, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+outboxColumns+` FROM outbox WHERE alert_key = $1 ORDER BY id`, key)
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	ns, err := scanNotifications(rows)
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	out := make([]store.NotificationHistory, len(ns))
	at := map[int64]int{}
	for i, n := range ns {
		out[i].Notification = n
		at[n.ID] = i
	}
	rows, err = s.pool.Query(ctx, `SELECT a.outbox_id, a.at, a.outcome, COALESCE(a.error, '') FROM attempts a JOIN outbox o ON o.id = a.outbox_id
		WHERE o.alert_key = $1 ORDER BY a.outbox_id, a.at`, key)
	if err != nil {
		return nil, fmt.Errorf("read attempts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, ms int64
		var a alerting.Attempt
		if err := rows.Scan(&id, &ms, &a.Outcome, &a.Error); err != nil {
			return nil, fmt.Errorf("read attempts: %w", err)
		}
		a.At = time.UnixMilli(ms).UTC()
		if i, ok := at[id]; ok {
			out[i].AttemptLog = append(out[i].AttemptLog, a)
		}
	}
	return out, rows.Err()
}
