package events

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nines-sre/nines/internal/sqlitedb"
)

// Queue carries batches of events from the intake to the consumer.
type Queue interface {
	// Publish keeps evs durably before it returns: an intake answers
	// only once its events would survive the process's death.
	Publish(ctx context.Context, evs []Event) error
	// Consume hands batches to handle until ctx is done; a batch that
	// handle fails, or that the process died handling, is handed again.
	Consume(ctx context.Context, handle func(context.Context, []Event) error) error
	// Depth is how many events wait.
	Depth(ctx context.Context) (int, error)
	Close() error
}

// openSQLite opens a database for durable writes: every commit synced.
func openSQLite(path string) (*sql.DB, error) { return sqlitedb.Open(path, sqlitedb.Full, false) }

// FileQueue is the embedded durable queue: a SQLite file of event
// batches, each deleted once handled.
type FileQueue struct {
	db *sql.DB
	// wake tells the consumer a batch came.
	wake chan struct{}
	// poll is how often the consumer looks when nothing woke it.
	poll time.Duration
}

// OpenFileQueue opens (creating if needed) the queue at path.
func OpenFileQueue(ctx context.Context, path string) (*FileQueue, error) {
	db, err := openSQLite(path)
	if err != nil {
		return nil, err
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS queue (seq INTEGER PRIMARY KEY AUTOINCREMENT, events INTEGER NOT NULL, body BLOB NOT NULL)`); err != nil {
		db.Close()
		return nil, fmt.Errorf("create the queue in %s: %w", path, err)
	}
	return &FileQueue{db: db, wake: make(chan struct{}, 1), poll: time.Second}, nil
}

// Publish appends evs as one batch, synced to disk.
func (q *FileQueue) Publish(ctx context.Context, evs []Event) error {
	body, err := json.Marshal(evs)
	if err != nil {
		return fmt.Errorf("queue events: %w", err)
	}
	if _, err := q.db.ExecContext(ctx, `INSERT INTO queue (events, body) VALUES (?, ?)`, len(evs), body); err != nil {
		return fmt.Errorf("queue events: %w", err)
	}
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return nil
}

// Consume hands the oldest batch to handle and deletes it once handled;
// a failed batch is handed again after a pause.
func (q *FileQueue) Consume(ctx context.Context, handle func(context.Context, []Event) error) error {
	pause := q.poll
	for {
		var seq int64
		var body []byte
		err := q.db.QueryRowContext(ctx, `SELECT seq, body FROM queue ORDER BY seq LIMIT 1`).Scan(&seq, &body)
		switch {
		case ctx.Err() != nil:
			return nil
		case err == sql.ErrNoRows:
			select {
			case <-ctx.Done():
				return nil
			case <-q.wake:
			case <-time.After(q.poll):
			}
			continue
		case err != nil:
			return fmt.Errorf("read the queue: %w", err)
		}
		var evs []Event
		if err := json.Unmarshal(body, &evs); err == nil {
			if err := handle(ctx, evs); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				// Handed again after a pause, growing to a minute.
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(pause):
				}
				pause = min(2*pause, time.Minute)
				continue
			}
		}
		pause = q.poll
		if _, err := q.db.ExecContext(ctx, `DELETE FROM queue WHERE seq = ?`, seq); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("acknowledge a batch: %w", err)
		}
	}
}

// Depth is how many events wait.
func (q *FileQueue) Depth(ctx context.Context) (int, error) {
	var n int
	err := q.db.QueryRowContext(ctx, `SELECT COALESCE(SUM(events), 0) FROM queue`).Scan(&n)
	return n, err
}

// Close closes the queue's file.
func (q *FileQueue) Close() error { return q.db.Close() }
