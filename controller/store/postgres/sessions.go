package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nines-sre/nines/controller/store"
)

// PutSession stores a session under key.
func (s *Store) PutSession(ctx context.Context, key string, ss store.Session) error {
	if _, err := s.pool.Exec(ctx, `INSERT INTO sessions (key, username, csrf, expires) VALUES ($1, $2, $3, $4)
		ON CONFLICT (key) DO UPDATE SET username = excluded.username, csrf = excluded.csrf, expires = excluded.expires`,
		key, ss.User, ss.CSRF, ss.Expires.UnixMilli()); err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	return nil
}

// Session returns the session under key unless it expired at now.
func (s *Store) Session(ctx context.Context, key string, now time.Time) (*store.Session, error) {
	var ss store.Session
	var exp int64
	err := s.pool.QueryRow(ctx, `SELECT username, csrf, expires FROM sessions WHERE key = $1 AND expires > $2`, key, now.UnixMilli()).
		Scan(&ss.User, &ss.CSRF, &exp)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read session: %w", err)
	}
	ss.Expires = time.UnixMilli(exp).UTC()
	return &ss, nil
}

// DeleteSession ends the session under key.
func (s *Store) DeleteSession(ctx context.Context, key string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE key = $1`, key); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// PruneSessions deletes the sessions expired before before.
func (s *Store) PruneSessions(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE expires <= $1`, before.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("prune sessions: %w", err)
	}
	return tag.RowsAffected(), nil
}
