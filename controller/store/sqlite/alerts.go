package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nines-sre/nines/alerting"
	"github.com/nines-sre/nines/controller/store"
)

var _ alerting.Store = (*Store)(nil)

func msOrNil(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMilli()
}

// OpenAlerts returns every alert that is not resolved.
func (s *Store) OpenAlerts(ctx context.Context) ([]alerting.Alert, error) {
	return s.alerts(ctx, `SELECT body, rev FROM alerts WHERE state != 'resolved' ORDER BY key`)
}

// RecentAlerts returns open alerts and those resolved since since.
func (s *Store) RecentAlerts(ctx context.Context, since time.Time) ([]alerting.Alert, error) {
	return s.alerts(ctx, `SELECT body, rev FROM alerts WHERE state != 'resolved' OR updated_at >= ? ORDER BY key`, since.UnixMilli())
}

func (s *Store) alerts(ctx context.Context, q string, args ...any) ([]alerting.Alert, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read alerts: %w", err)
	}
	defer rows.Close()
	var out []alerting.Alert
	for rows.Next() {
		var body []byte
		var rev int64
		if err := rows.Scan(&body, &rev); err != nil {
			return nil, fmt.Errorf("read alerts: %w", err)
		}
		a, err := store.DecodeAlert(body, rev)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// Alert returns the newest incident of key, or nil.
func (s *Store) Alert(ctx context.Context, key string) (*alerting.Alert, error) {
	var body []byte
	var rev int64
	err := s.db.QueryRowContext(ctx, `SELECT body, rev FROM alerts WHERE key = ?`, key).Scan(&body, &rev)
	if errors.Is(err, sql.ErrNoRows) {
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
		return err
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO alerts (key, state, body, updated_at, rev) VALUES (?1, ?2, ?3, ?4, ?5 + 1)
			ON CONFLICT (key) DO UPDATE SET state = excluded.state, body = excluded.body, updated_at = excluded.updated_at, rev = excluded.rev
			WHERE alerts.rev = ?5`,
			a.Key, string(a.State), body, at.UnixMilli(), a.Revision)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("save alert %s at revision %d: %w", a.Key, a.Revision, alerting.ErrConflict)
		}
		for _, n := range notes {
			msg, err := json.Marshal(n.Message)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO outbox (alert_key, notifier, message, created_at, next_at) VALUES (?, ?, ?, ?, ?)`,
				a.Key, n.Notifier, msg, n.CreatedAt.UnixMilli(), n.NextAt.UnixMilli()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	a.Revision++
	return nil
}

const outboxColumns = `id, notifier, message, created_at, next_at, attempts, delivered_at, failed_at, COALESCE(last_error, '')`

func scanNotifications(rows *sql.Rows) ([]alerting.Notification, error) {
	defer rows.Close()
	var out []alerting.Notification
	for rows.Next() {
		var n alerting.Notification
		var msg []byte
		var created, next int64
		var delivered, failed sql.NullInt64
		if err := rows.Scan(&n.ID, &n.Notifier, &msg, &created, &next, &n.Attempts, &delivered, &failed, &n.LastError); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(msg, &n.Message); err != nil {
			return nil, fmt.Errorf("decode notification %d: %w", n.ID, err)
		}
		n.CreatedAt, n.NextAt = time.UnixMilli(created).UTC(), time.UnixMilli(next).UTC()
		if delivered.Valid {
			t := time.UnixMilli(delivered.Int64).UTC()
			n.Delivered = &t
		}
		if failed.Valid {
			t := time.UnixMilli(failed.Int64).UTC()
			n.Failed = &t
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// DueNotifications returns undelivered notifications whose time has come,
// oldest first, at most perLane of each delivery lane (alerting.LaneOf)
// and limit in all, holding back any that has an older undelivered one
// for the same alert and notifier (a resolve never overtakes its trigger).
func (s *Store) DueNotifications(ctx context.Context, now time.Time, perLane, limit int) ([]alerting.Notification, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+outboxColumns+` FROM (
		SELECT o.*, ROW_NUMBER() OVER (PARTITION BY CASE WHEN instr(notifier, ':') > 0 THEN substr(notifier, 1, instr(notifier, ':') - 1) ELSE notifier END
			ORDER BY id) AS lane_rank
		FROM outbox o
		WHERE delivered_at IS NULL AND failed_at IS NULL AND next_at <= ?
		AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.alert_key = o.alert_key AND p.notifier = o.notifier AND p.id < o.id
			AND p.delivered_at IS NULL AND p.failed_at IS NULL))
		WHERE lane_rank <= ? ORDER BY id LIMIT ?`, now.UnixMilli(), perLane, limit)
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	return scanNotifications(rows)
}

// RecordAttempt stores the outcome of one delivery attempt.
func (s *Store) RecordAttempt(ctx context.Context, n *alerting.Notification, a alerting.Attempt) error {
	var lastErr, errText any
	if n.LastError != "" {
		lastErr = n.LastError
	}
	if a.Error != "" {
		errText = a.Error
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE outbox SET attempts = ?, next_at = ?, delivered_at = ?, failed_at = ?, last_error = ? WHERE id = ?`,
			n.Attempts, n.NextAt.UnixMilli(), msOrNil(n.Delivered), msOrNil(n.Failed), lastErr, n.ID); err != nil {
			return fmt.Errorf("record attempt: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO attempts (outbox_id, at, outcome, error) VALUES (?, ?, ?, ?)`, n.ID, a.At.UnixMilli(), a.Outcome, errText); err != nil {
			return fmt.Errorf("record attempt: %w", err)
		}
		return nil
	})
}

// AlertNotifications returns the notification history of key, with every
// attempt, in two queries.
func (s *Store) AlertNotifications(ctx context.Context, key string) ([]store.NotificationHistory, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+outboxColumns+` FROM outbox WHERE alert_key = ? ORDER BY id`, key)
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	ns, err := scanNotifications(rows)
	if err != nil {
		return nil, err
	}
	out := make([]store.NotificationHistory, len(ns))
	at := map[int64]int{}
	for i, n := range ns {
		out[i].Notification = n
		at[n.ID] = i
	}
	rows, err = s.db.QueryContext(ctx, `SELECT a.outbox_id, a.at, a.outcome, COALESCE(a.error, '') FROM attempts a JOIN outbox o ON o.id = a.outbox_id
		WHERE o.alert_key = ? ORDER BY a.outbox_id, a.at`, key)
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
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read attempts: %w", err)
	}
	return out, nil
}
