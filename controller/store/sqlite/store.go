// Package sqlite is the SQLite backend of the controller store (WAL,
// embedded versioned migrations): one controller, one file.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nines-sre/nines/controller/store"
	"github.com/nines-sre/nines/internal/sqlitedb"
	"github.com/nines-sre/nines/model"
)

//go:embed migrations/*.sql
var migrations embed.FS

var _ store.Store = (*Store)(nil)

// Store is the SQLite result store. It is safe for concurrent use; writes are
// serialised by the store, reads run in parallel under WAL.
type Store struct {
	db   *sql.DB
	path string
	wr   sync.Mutex // one writer at a time

	seq int64 // last dirty mark, guarded by wr

	mu    sync.Mutex
	names map[string]map[string]int64 // table → name → id
	byID  map[string]map[int64]string // table → id → name
}

// Open opens (creating if needed) the database at path and migrates it.
func Open(ctx context.Context, path string) (*Store, error) {
	db, err := sqlitedb.Open(path, sqlitedb.Normal, true)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(8)
	s := &Store{db: db, path: path, names: map[string]map[string]int64{}, byID: map[string]map[int64]string{}}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate %s: %w", path, err)
	}
	if err := s.loadAllNames(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM dirty`).Scan(&s.seq); err != nil {
		db.Close()
		return nil, fmt.Errorf("read dirty marks: %w", err)
	}
	return s, nil
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	ms, err := store.Migrations(migrations, "migrations")
	if err != nil {
		return err
	}
	for _, m := range ms {
		v, name := m.Version, m.Name
		var n int
		if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, v).Scan(&n); err != nil {
			return fmt.Errorf("read schema_migrations: %w", err)
		}
		if n > 0 {
			continue
		}
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`, v, name, time.Now().Unix()); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: record: %w", name, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %s: commit: %w", name, err)
		}
	}
	return nil
}

// id returns the integer id of name in table (checks, regions, probes,
// config_versions), creating it within tx when new.
func (s *Store) id(ctx context.Context, tx *sql.Tx, table, name string) (int64, error) {
	s.mu.Lock()
	id, ok := s.names[table][name]
	s.mu.Unlock()
	if ok {
		return id, nil
	}
	if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO `+table+` (name) VALUES (?)`, name); err != nil {
		return 0, fmt.Errorf("add %s %q: %w", table, name, err)
	}
	if err := tx.QueryRowContext(ctx, `SELECT id FROM `+table+` WHERE name = ?`, name).Scan(&id); err != nil {
		return 0, fmt.Errorf("look up %s %q: %w", table, name, err)
	}
	// Cached only after commit, in remember, since a rollback would undo it.
	return id, nil
}

func (s *Store) remember(table, name string, id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.names[table] == nil {
		s.names[table] = map[string]int64{}
		s.byID[table] = map[int64]string{}
	}
	s.names[table][name] = id
	s.byID[table][id] = name
}

func (s *Store) loadNames(ctx context.Context, table string) error {
	rows, err := s.db.QueryContext(ctx, `SELECT id, name FROM `+table)
	if err != nil {
		return fmt.Errorf("load %s: %w", table, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			return err
		}
		s.remember(table, name, id)
	}
	return rows.Err()
}

func (s *Store) name(table string, id int64) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byID[table][id]
}

const insertResult = `INSERT OR IGNORE INTO results (check_id, region_id, scheduled, probe_id, config_id,
 outcome, error_class, http_status, duration_us, started_lag, dns_us, connect_us, tls_us, ttfb_us, transfer_us, bytes, message,
 cert_expiry, facts)
 VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`

// InsertResults stores rs in one transaction and returns, per result,
// whether it was new (true) or already stored (false).
func (s *Store) InsertResults(ctx context.Context, rs []model.Result) ([]bool, error) {
	s.wr.Lock()
	defer s.wr.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin ingest: %w", err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, insertResult)
	if err != nil {
		return nil, fmt.Errorf("prepare ingest: %w", err)
	}
	defer stmt.Close()
	mark, err := tx.PrepareContext(ctx, `INSERT INTO dirty (check_id, minute, seq) VALUES (?, ?, ?)
		ON CONFLICT (check_id, minute) DO UPDATE SET seq = excluded.seq`)
	if err != nil {
		return nil, fmt.Errorf("prepare ingest: %w", err)
	}
	defer mark.Close()
	seq := s.seq + 1
	type lastMark struct{ check, minute int64 }
	var prev lastMark
	type named struct {
		table, name string
		id          int64
	}
	var fresh []named
	lookup := func(table, name string) (int64, error) {
		id, err := s.id(ctx, tx, table, name)
		if err == nil {
			fresh = append(fresh, named{table, name, id})
		}
		return id, err
	}
	stored := make([]bool, len(rs))
	for i := range rs {
		r := &rs[i]
		ids := [4]int64{}
		for k, tn := range [4][2]string{{"checks", r.Check}, {"regions", r.Region}, {"probes", r.Probe}, {"config_versions", r.ConfigVersion}} {
			if ids[k], err = lookup(tn[0], tn[1]); err != nil {
				return nil, err
			}
		}
		var msg any
		if r.Message != "" {
			msg = r.Message
		}
		outcome := store.OutcomeCode(r)
		var cert, facts any
		if r.CertExpiry != nil {
			cert = r.CertExpiry.Unix()
		}
		if f, err := store.EncodeFacts(r); err != nil {
			return nil, err
		} else if f != nil {
			facts = *f
		}
		sched := r.Scheduled.UnixMilli()
		res, err := stmt.ExecContext(ctx, ids[0], ids[1], sched, ids[2], ids[3], outcome, r.ErrorClass.Code(), r.HTTPStatus,
			r.DurationUS, r.Started.UnixMilli()-sched, r.Phases.DNS, r.Phases.Connect, r.Phases.TLS, r.Phases.TTFB, r.Phases.Transfer, r.Bytes, msg,
			cert, facts)
		if err != nil {
			return nil, fmt.Errorf("insert result %s: %w", r.Key(), err)
		}
		n, _ := res.RowsAffected()
		stored[i] = n == 1
		if m := (lastMark{ids[0], store.FloorDiv(sched, 60_000)}); stored[i] && m != prev {
			if _, err := mark.ExecContext(ctx, m.check, m.minute, seq); err != nil {
				return nil, fmt.Errorf("mark %s dirty: %w", r.Key(), err)
			}
			prev = m
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit ingest: %w", err)
	}
	s.seq = seq
	for _, n := range fresh {
		s.remember(n.table, n.name, n.id)
	}
	return stored, nil
}

const selectResult = `SELECT check_id, region_id, scheduled, probe_id, config_id, outcome, error_class, http_status,
 duration_us, started_lag, dns_us, connect_us, tls_us, ttfb_us, transfer_us, bytes, COALESCE(message, ''), cert_expiry, facts FROM results`

func (s *Store) scan(rows *sql.Rows) ([]model.Result, error) {
	defer rows.Close()
	var out []model.Result
	for rows.Next() {
		var r model.Result
		var c, rg, p, cfg, sched, lag int64
		var outcome, class int
		var cert sql.NullInt64
		var facts []byte
		if err := rows.Scan(&c, &rg, &sched, &p, &cfg, &outcome, &class, &r.HTTPStatus, &r.DurationUS, &lag,
			&r.Phases.DNS, &r.Phases.Connect, &r.Phases.TLS, &r.Phases.TTFB, &r.Phases.Transfer, &r.Bytes, &r.Message, &cert, &facts); err != nil {
			return nil, fmt.Errorf("scan result: %w", err)
		}
		if cert.Valid {
			t := time.Unix(cert.Int64, 0).UTC()
			r.CertExpiry = &t
		}
		r.Check, r.Region, r.Probe, r.ConfigVersion = s.name("checks", c), s.name("regions", rg), s.name("probes", p), s.name("config_versions", cfg)
		r.Scheduled = time.UnixMilli(sched).UTC()
		r.Started = time.UnixMilli(sched + lag).UTC()
		if err := store.DecodeFacts(facts, &r); err != nil {
			return nil, err
		}
		r.Outcome, r.ProbeIsolated = store.DecodeOutcome(outcome)
		if class >= 0 && class < len(model.ErrorClasses) {
			r.ErrorClass = model.ErrorClasses[class]
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (s *Store) loadAllNames(ctx context.Context) error {
	for _, t := range []string{"checks", "regions", "probes", "config_versions"} {
		if err := s.loadNames(ctx, t); err != nil {
			return err
		}
	}
	return nil
}

// Latest returns the newest result of every check in every region.
func (s *Store) Latest(ctx context.Context) ([]model.Result, error) {
	rows, err := s.db.QueryContext(ctx, selectResult+` AS r WHERE scheduled = (SELECT MAX(scheduled) FROM results WHERE check_id = r.check_id AND region_id = r.region_id)`)
	if err != nil {
		return nil, fmt.Errorf("query latest results: %w", err)
	}
	return s.scan(rows)
}

// Results returns the results matching q, oldest first.
func (s *Store) Results(ctx context.Context, q store.Query) ([]model.Result, error) {
	s.mu.Lock()
	cid, ok := s.names["checks"][q.Check]
	rid, rok := s.names["regions"][q.Region]
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("check %q: %w", q.Check, store.ErrNotFound)
	}
	where := []string{"check_id = ?", "scheduled >= ?"}
	args := []any{cid, q.Since.UnixMilli()}
	if q.Region != "" {
		if !rok {
			return nil, fmt.Errorf("region %q: %w", q.Region, store.ErrNotFound)
		}
		where = append(where, "region_id = ?")
		args = append(args, rid)
	}
	if !q.Until.IsZero() {
		where = append(where, "scheduled < ?")
		args = append(args, q.Until.UnixMilli())
	}
	order, past := q.Order()
	if q.After != nil {
		s.mu.Lock()
		crid, ok := s.names["regions"][q.After.Region]
		s.mu.Unlock()
		if !ok {
			return nil, fmt.Errorf("cursor region %q: %w", q.After.Region, store.ErrNotFound)
		}
		where = append(where, "(scheduled "+past+" ? OR (scheduled = ? AND region_id "+past+" ?))")
		args = append(args, q.After.Scheduled.UnixMilli(), q.After.Scheduled.UnixMilli(), crid)
	}
	if q.Limit <= 0 {
		q.Limit = 1000
	}
	args = append(args, q.Limit)
	rows, err := s.db.QueryContext(ctx, selectResult+` WHERE `+strings.Join(where, " AND ")+` ORDER BY `+order+` LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("query results of %s: %w", q.Check, err)
	}
	return s.scan(rows)
}

// CountResults returns how many results are stored.
func (s *Store) CountResults(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM results`).Scan(&n)
	return n, err
}

// DiskBytes checkpoints the write-ahead log and reports the bytes the
// database takes on disk, free pages excluded.
func (s *Store) DiskBytes(ctx context.Context) (int64, error) {
	if _, err := s.db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return 0, fmt.Errorf("checkpoint: %w", err)
	}
	var pages, free, size int64
	for q, v := range map[string]*int64{`PRAGMA page_count`: &pages, `PRAGMA freelist_count`: &free, `PRAGMA page_size`: &size} {
		if err := s.db.QueryRowContext(ctx, q).Scan(v); err != nil {
			return 0, fmt.Errorf("%s: %w", q, err)
		}
	}
	return (pages - free) * size, nil
}
