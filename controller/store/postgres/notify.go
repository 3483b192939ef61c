package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Notices carry short messages between the controller replicas that share
// a schema (a confirmation round asked on one, for probes that poll
// another): NOTIFY on a channel of the schema's own, each replica
// LISTENing on a connection of its own. A notice is lost while a replica
// is not listening; what they carry is only worth having at once.

// channel is the schema's notice channel.
func (s *Store) channel(ctx context.Context, topic string) (string, error) {
	var schema string
	if err := s.pool.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return "", fmt.Errorf("current schema: %w", err)
	}
	ch := "nines:" + topic + ":" + schema
	if len(ch) > 63 { // an identifier's length
		ch = ch[:63]
	}
	return ch, nil
}

// Notify sends payload (at most 8000 bytes) to every replica listening on
// topic, this one included.
func (s *Store) Notify(ctx context.Context, topic string, payload []byte) error {
	if len(payload) >= 8000 {
		return fmt.Errorf("notify %s: a payload of %d bytes; at most 7999", topic, len(payload))
	}
	ch, err := s.channel(ctx, topic)
	if err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, ch, string(payload)); err != nil {
		return fmt.Errorf("notify %s: %w", topic, err)
	}
	return nil
}

// Listen calls fn with the payload of every notice on topic until ctx is
// done (nil) or its connection fails; ready, when set, is called once it
// listens.
func (s *Store) Listen(ctx context.Context, topic string, ready func(), fn func(payload []byte)) error {
	err := s.listen(ctx, topic, ready, fn)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func (s *Store) listen(ctx context.Context, topic string, ready func(), fn func([]byte)) error {
	ch, err := s.channel(ctx, topic)
	if err != nil {
		return err
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("listen %s: %w", topic, err)
	}
	// The connection stays LISTENing: close it rather than return it.
	defer func() { conn.Hijack().Close(context.Background()) }()
	if _, err := conn.Exec(ctx, `LISTEN `+pgx.Identifier{ch}.Sanitize()); err != nil {
		return fmt.Errorf("listen %s: %w", topic, err)
	}
	if ready != nil {
		ready()
	}
	for {
		n, err := conn.Conn().WaitForNotification(ctx)
		if err != nil {
			return fmt.Errorf("listen %s: %w", topic, err)
		}
		fn([]byte(n.Payload))
	}
}
