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

const subscriberColumns = `id, kind, address, components, token, created_at, confirmed_at`

func scanSubscriber(row pgx.Row) (store.Subscriber, error) {
	var sub store.Subscriber
	var comps string
	var created int64
	var confirmed *int64
	if err := row.Scan(&sub.ID, &sub.Kind, &sub.Address, &comps, &sub.Token, &created, &confirmed); err != nil {
		return sub, err
	}
	if err := json.Unmarshal([]byte(comps), &sub.Components); err != nil {
		return sub, fmt.Errorf("subscriber %d: components: %w", sub.ID, err)
	}
	sub.CreatedAt, sub.ConfirmedAt = time.UnixMilli(created).UTC(), timeOrNil(confirmed)
	return sub, nil
}

// Subscribe adds or renews a subscriber.
func (s *Store) Subscribe(ctx context.Context, sub store.Subscriber) (store.Subscriber, error) {
	comps, err := json.Marshal(store.SubscriberComponents(sub.Components))
	if err != nil {
		return sub, err
	}
	out, err := scanSubscriber(s.pool.QueryRow(ctx, `INSERT INTO subscribers (kind, address, components, token, created_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (kind, address) DO UPDATE SET components = excluded.components, token = excluded.token, created_at = excluded.created_at
			WHERE subscribers.confirmed_at IS NULL AND subscribers.created_at <= excluded.created_at - `+store.PendingForMS+`
		RETURNING `+subscriberColumns, sub.Kind, sub.Address, string(comps), sub.Token, sub.CreatedAt.UnixMilli()))
	if errors.Is(err, pgx.ErrNoRows) { // confirmed already: left as it is
		out, err = scanSubscriber(s.pool.QueryRow(ctx, `SELECT `+subscriberColumns+` FROM subscribers WHERE kind = $1 AND address = $2`, sub.Kind, sub.Address))
	}
	if err != nil {
		return out, fmt.Errorf("subscribe: %w", err)
	}
	return out, nil
}

// ConfirmSubscriber confirms the subscriber of token.
func (s *Store) ConfirmSubscriber(ctx context.Context, token string, at time.Time) (*store.Subscriber, error) {
	sub, err := scanSubscriber(s.pool.QueryRow(ctx, `UPDATE subscribers SET confirmed_at = COALESCE(confirmed_at, $1) WHERE token = $2
		RETURNING `+subscriberColumns, at.UnixMilli(), token))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("confirm subscriber: %w", err)
	}
	return &sub, nil
}

// Unsubscribe removes the subscriber of token, or of id.
func (s *Store) Unsubscribe(ctx context.Context, token string, id int64) (bool, error) {
	q, arg := `DELETE FROM subscribers WHERE token = $1`, any(token)
	if token == "" {
		q, arg = `DELETE FROM subscribers WHERE id = $1`, id
	}
	tag, err := s.pool.Exec(ctx, q, arg)
	if err != nil {
		return false, fmt.Errorf("unsubscribe: %w", err)
	}
	return tag.RowsAffected() > 0, nil
}

// Subscribers lists the subscribers, oldest first.
func (s *Store) Subscribers(ctx context.Context) ([]store.Subscriber, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+subscriberColumns+` FROM subscribers ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("read subscribers: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Subscriber, error) { return scanSubscriber(r) })
	if err != nil {
		return nil, fmt.Errorf("read subscribers: %w", err)
	}
	if out == nil {
		out = []store.Subscriber{}
	}
	return out, nil
}

// EnqueueNotifications queues status page notifications under key, each
// once per notifier.
func (s *Store) EnqueueNotifications(ctx context.Context, key string, notes []alerting.Notification) (int, error) {
	n := 0
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, note := range notes {
			msg, err := json.Marshal(note.Message)
			if err != nil {
				return err
			}
			tag, err := tx.Exec(ctx, `INSERT INTO outbox (alert_key, notifier, message, created_at, next_at) VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (alert_key, notifier) WHERE alert_key LIKE 'status:%' DO NOTHING`,
				key, note.Notifier, string(msg), note.CreatedAt.UnixMilli(), note.NextAt.UnixMilli())
			if err != nil {
				return err
			}
			n += int(tag.RowsAffected())
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("queue notifications of %s: %w", key, err)
	}
	return n, nil
}
