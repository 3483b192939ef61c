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

const subscriberColumns = `id, kind, address, components, token, created_at, confirmed_at`

func scanSubscriber(row interface{ Scan(...any) error }) (store.Subscriber, error) {
	var sub store.Subscriber
	var comps string
	var created int64
	var confirmed sql.NullInt64
	if err := row.Scan(&sub.ID, &sub.Kind, &sub.Address, &comps, &sub.Token, &created, &confirmed); err != nil {
		return sub, err
	}
	if err := json.Unmarshal([]byte(comps), &sub.Components); err != nil {
		return sub, fmt.Errorf("subscriber %d: components: %w", sub.ID, err)
	}
	sub.CreatedAt = time.UnixMilli(created).UTC()
	if confirmed.Valid {
		t := time.UnixMilli(confirmed.Int64).UTC()
		sub.ConfirmedAt = &t
	}
	return sub, nil
}

// Subscribe adds or renews a subscriber.
func (s *Store) Subscribe(ctx context.Context, sub store.Subscriber) (store.Subscriber, error) {
	comps, err := json.Marshal(store.SubscriberComponents(sub.Components))
	if err != nil {
		return sub, err
	}
	var out store.Subscriber
	err = s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO subscribers (kind, address, components, token, created_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (kind, address) DO UPDATE SET components = excluded.components, token = excluded.token, created_at = excluded.created_at
			WHERE subscribers.confirmed_at IS NULL AND subscribers.created_at <= excluded.created_at - `+store.PendingForMS+``,
			sub.Kind, sub.Address, string(comps), sub.Token, sub.CreatedAt.UnixMilli()); err != nil {
			return err
		}
		out, err = scanSubscriber(tx.QueryRowContext(ctx, `SELECT `+subscriberColumns+` FROM subscribers WHERE kind = ? AND address = ?`, sub.Kind, sub.Address))
		return err
	})
	if err != nil {
		return out, fmt.Errorf("subscribe: %w", err)
	}
	return out, nil
}

// ConfirmSubscriber confirms the subscriber of token.
func (s *Store) ConfirmSubscriber(ctx context.Context, token string, at time.Time) (*store.Subscriber, error) {
	if _, err := s.exec(ctx, `UPDATE subscribers SET confirmed_at = COALESCE(confirmed_at, ?) WHERE token = ?`, at.UnixMilli(), token); err != nil {
		return nil, fmt.Errorf("confirm subscriber: %w", err)
	}
	sub, err := scanSubscriber(s.db.QueryRowContext(ctx, `SELECT `+subscriberColumns+` FROM subscribers WHERE token = ?`, token))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("confirm subscriber: %w", err)
	}
	return &sub, nil
}

// Unsubscribe removes the subscriber of token, or of id.
func (s *Store) Unsubscribe(ctx context.Context, token string, id int64) (bool, error) {
	q, arg := `DELETE FROM subscribers WHERE token = ?`, any(token)
	if token == "" {
		q, arg = `DELETE FROM subscribers WHERE id = ?`, id
	}
	n, err := s.exec(ctx, q, arg)
	if err != nil {
		return false, fmt.Errorf("unsubscribe: %w", err)
	}
	return n > 0, nil
}

// Subscribers lists the subscribers, oldest first.
func (s *Store) Subscribers(ctx context.Context) ([]store.Subscriber, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+subscriberColumns+` FROM subscribers ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("read subscribers: %w", err)
	}
	defer rows.Close()
	out := []store.Subscriber{}
	for rows.Next() {
		sub, err := scanSubscriber(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, sub)
	}
	return out, rows.Err()
}

// EnqueueNotifications queues status page notifications under key, each
// once per notifier.
func (s *Store) EnqueueNotifications(ctx context.Context, key string, notes []alerting.Notification) (int, error) {
	n := 0
	err := s.write(ctx, func(tx *sql.Tx) error {
		for _, note := range notes {
			msg, err := json.Marshal(note.Message)
			if err != nil {
				return err
			}
			res, err := tx.ExecContext(ctx, `INSERT INTO outbox (alert_key, notifier, message, created_at, next_at) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (alert_key, notifier) WHERE alert_key LIKE 'status:%' DO NOTHING`,
				key, note.Notifier, msg, note.CreatedAt.UnixMilli(), note.NextAt.UnixMilli())
			if err != nil {
				return err
			}
			k, _ := res.RowsAffected()
			n += int(k)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("queue notifications of %s: %w", key, err)
	}
	return n, nil
}
