package probe

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	json "github.com/goccy/go-json"

	"github.com/nines-sre/nines/internal/sqlitedb"
	"github.com/nines-sre/nines/model"
)

// Spool is the probe's local durable queue: every result is written here
// before it is shipped, and deleted only once the controller acknowledged it.
// It is bounded by total size and by age; past either bound the oldest
// results are dropped first, and counted.
type Spool struct {
	db       *sql.DB
	maxBytes int64
	maxAge   time.Duration
	now      func() time.Time

	mu      sync.Mutex
	depth   int
	bytes   int64
	dropped int64
}

// Spooled is one stored result: its spool id and its JSON encoding.
type Spooled struct {
	ID   int64
	JSON []byte
}

// Result decodes the stored result.
func (s Spooled) Result() (model.Result, error) {
	var r model.Result
	err := json.Unmarshal(s.JSON, &r)
	return r, err
}

// OpenSpool opens or creates the spool file at path. maxBytes and maxAge of
// zero mean unbounded.
func OpenSpool(ctx context.Context, path string, maxBytes int64, maxAge time.Duration) (*Spool, error) {
	db, err := sqlitedb.Open(path, sqlitedb.Normal, false)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	db.SetMaxOpenConns(1) // the spool is the probe's alone
	s := &Spool{db: db, maxBytes: maxBytes, maxAge: maxAge, now: time.Now}
	if err := s.init(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open spool %s: %w", path, err)
	}
	return s, nil
}

func (s *Spool) init(ctx context.Context) error {
	for _, stmt := range []string{
		`CREATE TABLE IF NOT EXISTS spool (id INTEGER PRIMARY KEY AUTOINCREMENT, created INTEGER NOT NULL, body BLOB NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL)`,
	} {
		if _, err := s.db.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	return s.db.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(length(body)), 0) FROM spool`).Scan(&s.depth, &s.bytes)
}

// Close closes the spool file.
func (s *Spool) Close() error { return s.db.Close() }

// Depth is the number of results waiting.
func (s *Spool) Depth() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.depth
}

// Bytes is the size of the results waiting.
func (s *Spool) Bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes
}

// Dropped is the number of results dropped to keep the spool in its bounds.
func (s *Spool) Dropped() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

// Put appends results in one transaction, then enforces the bounds; it
// returns how many old results were dropped.
func (s *Spool) Put(ctx context.Context, rs ...*model.Result) (int, error) {
	bodies := make([][]byte, len(rs))
	var size int64
	for i, r := range rs {
		b, err := json.Marshal(r)
		if err != nil {
			return 0, fmt.Errorf("encode result %s: %w", r.Key(), err)
		}
		bodies[i] = b
		size += int64(len(b))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("spool results: %w", err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO spool (created, body) VALUES (?, ?)`)
	if err != nil {
		return 0, fmt.Errorf("spool results: %w", err)
	}
	defer stmt.Close()
	created := s.now().UnixMilli()
	for _, b := range bodies {
		if _, err := stmt.ExecContext(ctx, created, b); err != nil {
			return 0, fmt.Errorf("spool results: %w", err)
		}
	}
	dropped, freed, err := s.trim(ctx, tx, s.bytes+size)
	if err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("spool results: %w", err)
	}
	s.depth += len(rs) - dropped
	s.bytes += size - freed
	s.dropped += int64(dropped)
	return dropped, nil
}

// trim drops the oldest results until the spool is within maxBytes and
// holds nothing older than maxAge.
func (s *Spool) trim(ctx context.Context, tx *sql.Tx, total int64) (dropped int, freed int64, err error) {
	cutoff := int64(-1)
	if s.maxAge > 0 {
		cutoff = s.now().Add(-s.maxAge).UnixMilli()
	}
	for {
		var id, created, n int64
		err := tx.QueryRowContext(ctx, `SELECT id, created, length(body) FROM spool ORDER BY id LIMIT 1`).Scan(&id, &created, &n)
		if errors.Is(err, sql.ErrNoRows) {
			return dropped, freed, nil
		}
		if err != nil {
			return 0, 0, fmt.Errorf("trim spool: %w", err)
		}
		overSize := s.maxBytes > 0 && total-freed > s.maxBytes
		tooOld := created < cutoff
		if !overSize && !tooOld {
			return dropped, freed, nil
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM spool WHERE id = ?`, id); err != nil {
			return 0, 0, fmt.Errorf("trim spool: %w", err)
		}
		dropped++
		freed += n
	}
}

// Peek returns up to n of the oldest results, oldest first.
func (s *Spool) Peek(ctx context.Context, n int) ([]Spooled, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, body FROM spool ORDER BY id LIMIT ?`, n)
	if err != nil {
		return nil, fmt.Errorf("read spool: %w", err)
	}
	defer rows.Close()
	var out []Spooled
	for rows.Next() {
		var sr Spooled
		if err := rows.Scan(&sr.ID, &sr.JSON); err != nil {
			return nil, fmt.Errorf("read spool: %w", err)
		}
		out = append(out, sr)
	}
	return out, rows.Err()
}

// Delete removes acknowledged results by spool id.
func (s *Spool) Delete(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("delete from spool: %w", err)
	}
	defer tx.Rollback()
	// One statement for the whole batch: the ids go in as one JSON array.
	list, err := json.Marshal(ids)
	if err != nil {
		return fmt.Errorf("delete from spool: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `DELETE FROM spool WHERE id IN (SELECT value FROM json_each(?)) RETURNING length(body)`, string(list))
	if err != nil {
		return fmt.Errorf("delete from spool: %w", err)
	}
	n, freed := 0, int64(0)
	for rows.Next() {
		var size int64
		if err := rows.Scan(&size); err != nil {
			rows.Close()
			return fmt.Errorf("delete from spool: %w", err)
		}
		n++
		freed += size
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("delete from spool: %w", err)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("delete from spool: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("delete from spool: %w", err)
	}
	s.depth -= n
	s.bytes -= freed
	return nil
}

// errNoValue is returned by getMeta for a key never set.
var errNoValue = errors.New("no value")

func (s *Spool) setMeta(ctx context.Context, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err = s.db.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`, key, b)
	return err
}

func (s *Spool) getMeta(ctx context.Context, key string, v any) error {
	var b []byte
	err := s.db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return errNoValue
	}
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
