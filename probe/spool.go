package probe

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sync"

	_ "github.com/mattn/go-sqlite3" // database/sql driver "sqlite3"

	"github.com/nines-sre/nines/model"
)

// Spool is the probe's local durable queue: every result is written here
// before it is shipped, and deleted only once the controller acknowledged it.
// It is bounded: past maxResults the oldest results are dropped and counted.
type Spool struct {
	db         *sql.DB
	maxResults int

	mu      sync.Mutex
	depth   int
	dropped int64
}

// SpooledResult is a result with its spool id.
type SpooledResult struct {
	ID     int64
	Result model.Result
}

// OpenSpool opens or creates the spool file at path.
func OpenSpool(ctx context.Context, path string, maxResults int) (*Spool, error) {
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "NORMAL")
	q.Set("_busy_timeout", "10000")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite3", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open spool %s: %w", path, err)
	}
	db.SetMaxOpenConns(1) // one writer; the spool is the probe's alone
	for _, stmt := range []string{
		`CREATE TABLE IF NOT EXISTS spool (id INTEGER PRIMARY KEY AUTOINCREMENT, body BLOB NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL)`,
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			db.Close()
			return nil, fmt.Errorf("open spool %s: %w", path, err)
		}
	}
	s := &Spool{db: db, maxResults: maxResults}
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM spool`).Scan(&s.depth); err != nil {
		db.Close()
		return nil, fmt.Errorf("count spool %s: %w", path, err)
	}
	return s, nil
}

// Close closes the spool file.
func (s *Spool) Close() error { return s.db.Close() }

// Depth is the number of results waiting.
func (s *Spool) Depth() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.depth
}

// Dropped is the number of results dropped because the spool was full.
func (s *Spool) Dropped() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

// Put appends r, dropping the oldest results when the spool is full; it
// returns how many were dropped.
func (s *Spool) Put(ctx context.Context, r *model.Result) (int, error) {
	body, err := json.Marshal(r)
	if err != nil {
		return 0, fmt.Errorf("encode result %s: %w", r.Key(), err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("spool result %s: %w", r.Key(), err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO spool (body) VALUES (?)`, body); err != nil {
		return 0, fmt.Errorf("spool result %s: %w", r.Key(), err)
	}
	drop := 0
	if s.maxResults > 0 && s.depth+1 > s.maxResults {
		drop = s.depth + 1 - s.maxResults
		if _, err := tx.ExecContext(ctx, `DELETE FROM spool WHERE id IN (SELECT id FROM spool ORDER BY id LIMIT ?)`, drop); err != nil {
			return 0, fmt.Errorf("trim spool: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("spool result %s: %w", r.Key(), err)
	}
	s.depth += 1 - drop
	s.dropped += int64(drop)
	return drop, nil
}

// Peek returns up to n of the oldest results, oldest first.
func (s *Spool) Peek(ctx context.Context, n int) ([]SpooledResult, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, body FROM spool ORDER BY id LIMIT ?`, n)
	if err != nil {
		return nil, fmt.Errorf("read spool: %w", err)
	}
	defer rows.Close()
	var out []SpooledResult
	for rows.Next() {
		var sr SpooledResult
		var body []byte
		if err := rows.Scan(&sr.ID, &body); err != nil {
			return nil, fmt.Errorf("read spool: %w", err)
		}
		if err := json.Unmarshal(body, &sr.Result); err != nil {
			return nil, fmt.Errorf("spool entry %d is corrupt: %w", sr.ID, err)
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
	stmt, err := tx.PrepareContext(ctx, `DELETE FROM spool WHERE id = ?`)
	if err != nil {
		return fmt.Errorf("delete from spool: %w", err)
	}
	defer stmt.Close()
	n := 0
	for _, id := range ids {
		res, err := stmt.ExecContext(ctx, id)
		if err != nil {
			return fmt.Errorf("delete spool entry %d: %w", id, err)
		}
		k, _ := res.RowsAffected()
		n += int(k)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("delete from spool: %w", err)
	}
	s.depth -= n
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
