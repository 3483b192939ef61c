// Package postgres is the PostgreSQL backend of the controller store: any
// number of controller replicas share one database, each ingesting and
// serving, one of them leading (see Elector).
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nines-sre/nines/controller/store"
	"github.com/nines-sre/nines/model"
)

//go:embed migrations/*.sql
var migrations embed.FS

var _ store.Store = (*Store)(nil)

// Store is the PostgreSQL store. It is safe for concurrent use, and several
// processes may share one database (or one schema, chosen with the
// search_path parameter of the URL).
type Store struct {
	pool *pgxpool.Pool

	mu   sync.Mutex
	ids  map[string]map[string]int64 // table → name → id
	name map[string]map[int64]string // table → id → name
}

// Open connects to the database at dsn (postgres://...) and migrates it.
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("database URL %s: %w", Redact(dsn), err)
	}
	if cfg.MaxConns < 8 {
		cfg.MaxConns = 8
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", Redact(dsn), err)
	}
	s := &Store{pool: pool, ids: map[string]map[string]int64{}, name: map[string]map[int64]string{}}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("migrate %s: %w", Redact(dsn), err)
	}
	return s, nil
}

// Redact hides the password of a database URL, for logs and errors.
func Redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable database URL)"
	}
	return u.Redacted()
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// Close closes every connection.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// migrate applies the migrations not yet recorded, all in one transaction
// under an advisory lock, so that replicas starting together migrate once.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := store.Migrations(migrations, "migrations")
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('nines-migrate:' || current_schema()))`); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		for _, m := range ms {
			var done bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`, m.Version).Scan(&done); err != nil {
				return fmt.Errorf("read schema_migrations: %w", err)
			}
			if done {
				continue
			}
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("migration %s: %w", m.Name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
				return fmt.Errorf("migration %s: record: %w", m.Name, err)
			}
		}
		return nil
	})
}

func (s *Store) remember(table, name string, id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids[table] == nil {
		s.ids[table] = map[string]int64{}
		s.name[table] = map[int64]string{}
	}
	s.ids[table][name] = id
	s.name[table][id] = name
}

// lookup returns the id of name in table, asking the database when another
// replica may have added it.
func (s *Store) lookup(ctx context.Context, table, name string) (int64, bool, error) {
	s.mu.Lock()
	id, ok := s.ids[table][name]
	s.mu.Unlock()
	if ok {
		return id, true, nil
	}
	err := s.pool.QueryRow(ctx, `SELECT id FROM `+table+` WHERE name = $1`, name).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("look up %s %q: %w", table, name, err)
	}
	s.remember(table, name, id)
	return id, true, nil
}

// ensure returns the id of name in table, adding it when new. Names are
// added outside the transaction that uses them: an unused name is harmless,
// and concurrent batches never wait on each other's names.
func (s *Store) ensure(ctx context.Context, table, name string) (int64, error) {
	id, ok, err := s.lookup(ctx, table, name)
	if err != nil || ok {
		return id, err
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO `+table+` (name) VALUES ($1) ON CONFLICT (name) DO NOTHING`, name); err != nil {
		return 0, fmt.Errorf("add %s %q: %w", table, name, err)
	}
	id, _, err = s.lookup(ctx, table, name)
	return id, err
}

// nameOf returns the name of id in table.
func (s *Store) nameOf(ctx context.Context, table string, id int64) (string, error) {
	s.mu.Lock()
	n, ok := s.name[table][id]
	s.mu.Unlock()
	if ok {
		return n, nil
	}
	if err := s.pool.QueryRow(ctx, `SELECT name FROM `+table+` WHERE id = $1`, id).Scan(&n); err != nil {
		return "", fmt.Errorf("name of %s %d: %w", table, id, err)
	}
	s.remember(table, n, id)
	return n, nil
}

// checkIDs returns the ids of the named checks, or of every check when none
// is named.
func (s *Store) checkIDs(ctx context.Context, checks []string) ([]int64, error) {
	var ids []int64
	if len(checks) == 0 {
		rows, err := s.pool.Query(ctx, `SELECT id, name FROM checks`)
		if err != nil {
			return nil, fmt.Errorf("list checks: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			var name string
			if err := rows.Scan(&id, &name); err != nil {
				return nil, err
			}
			s.remember("checks", name, id)
			ids = append(ids, id)
		}
		return ids, rows.Err()
	}
	for _, c := range checks {
		id, ok, err := s.lookup(ctx, "checks", c)
		if err != nil {
			return nil, err
		}
		if ok {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// ingest inserts a batch and marks its minutes dirty in one statement: rows
// go in key order (so that concurrent batches lock alike), duplicates are
// skipped, and the keys of the new rows come back.
const ingest = `WITH input AS (
  SELECT * FROM unnest($1::integer[], $2::integer[], $3::bigint[], $4::integer[], $5::integer[], $6::smallint[], $7::smallint[],
    $8::smallint[], $9::bigint[], $10::integer[], $11::bigint[], $12::bigint[], $13::bigint[], $14::bigint[], $15::bigint[],
    $16::bigint[], $17::text[], $18::bigint[], $19::text[])
  AS t(check_id, region_id, scheduled, probe_id, config_id, outcome, error_class, http_status, duration_us, started_lag,
    dns_us, connect_us, tls_us, ttfb_us, transfer_us, bytes, message, cert_expiry, facts)
), ins AS (
  INSERT INTO results SELECT * FROM input ORDER BY check_id, region_id, scheduled
  ON CONFLICT (check_id, region_id, scheduled) DO NOTHING
  RETURNING check_id, region_id, scheduled
), marks AS (
  INSERT INTO dirty (check_id, minute, seq)
  SELECT check_id, minute, nextval('dirty_seq') FROM (SELECT DISTINCT check_id, scheduled / 60000 AS minute FROM ins ORDER BY 1, 2) m
  ON CONFLICT (check_id, minute) DO UPDATE SET seq = excluded.seq
)
SELECT check_id, region_id, scheduled FROM ins`

type resultKey struct{ check, region, scheduled int64 }

// InsertResults stores rs in one transaction and returns, per result,
// whether it was new (true) or already stored (false).
func (s *Store) InsertResults(ctx context.Context, rs []model.Result) ([]bool, error) {
	stored := make([]bool, len(rs))
	if len(rs) == 0 {
		return stored, nil
	}
	n := len(rs)
	var (
		checks, regions, probes, configs, lags = make([]int32, n), make([]int32, n), make([]int32, n), make([]int32, n), make([]int32, n)
		outcome, class, status                 = make([]int16, n), make([]int16, n), make([]int16, n)
		sched, dur, dns, conn, tlsUS, ttfb     = make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
		transfer, size                         = make([]int64, n), make([]int64, n)
		msg, facts                             = make([]*string, n), make([]*string, n)
		cert                                   = make([]*int64, n)
	)
	first := make(map[resultKey]int, n)
	for i := range rs {
		r := &rs[i]
		var ids [4]int64
		for k, tn := range [4][2]string{{"checks", r.Check}, {"regions", r.Region}, {"probes", r.Probe}, {"config_versions", r.ConfigVersion}} {
			id, err := s.ensure(ctx, tn[0], tn[1])
			if err != nil {
				return nil, err
			}
			ids[k] = id
		}
		checks[i], regions[i], probes[i], configs[i] = int32(ids[0]), int32(ids[1]), int32(ids[2]), int32(ids[3])
		sched[i] = r.Scheduled.UnixMilli()
		lags[i] = int32(r.Started.UnixMilli() - sched[i])
		outcome[i], class[i], status[i] = int16(store.OutcomeCode(r)), int16(r.ErrorClass.Code()), int16(r.HTTPStatus)
		dur[i], dns[i], conn[i], tlsUS[i], ttfb[i], transfer[i], size[i] = r.DurationUS, r.Phases.DNS, r.Phases.Connect, r.Phases.TLS, r.Phases.TTFB, r.Phases.Transfer, r.Bytes
		if r.Message != "" {
			msg[i] = &r.Message
		}
		if r.CertExpiry != nil {
			v := r.CertExpiry.Unix()
			cert[i] = &v
		}
		f, err := store.EncodeFacts(r)
		if err != nil {
			return nil, err
		}
		facts[i] = f
		k := resultKey{ids[0], ids[1], sched[i]}
		if _, dup := first[k]; !dup {
			first[k] = i
		}
	}
	rows, err := s.pool.Query(ctx, ingest, checks, regions, sched, probes, configs, outcome, class, status, dur, lags,
		dns, conn, tlsUS, ttfb, transfer, size, msg, cert, facts)
	if err != nil {
		return nil, fmt.Errorf("insert results: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k resultKey
		if err := rows.Scan(&k.check, &k.region, &k.scheduled); err != nil {
			return nil, fmt.Errorf("insert results: %w", err)
		}
		stored[first[k]] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("insert results: %w", err)
	}
	return stored, nil
}

const resultColumns = `check_id, region_id, scheduled, probe_id, config_id, outcome, error_class, http_status,
 duration_us, started_lag, dns_us, connect_us, tls_us, ttfb_us, transfer_us, bytes, COALESCE(message, ''), cert_expiry, facts`

func (s *Store) scan(ctx context.Context, rows pgx.Rows) ([]model.Result, error) {
	defer rows.Close()
	var raw []rawResult
	for rows.Next() {
		w, err := scanRaw(rows)
		if err != nil {
			return nil, fmt.Errorf("scan result: %w", err)
		}
		raw = append(raw, w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read results: %w", err)
	}
	rows.Close()
	return s.results(ctx, raw)
}

// results turns stored rows into results.
func (s *Store) results(ctx context.Context, raw []rawResult) ([]model.Result, error) {
	out := make([]model.Result, len(raw))
	for i, w := range raw {
		r := model.Result{DurationUS: w.dur, Bytes: w.bytes, Message: w.message,
			Phases: model.Phases{DNS: w.dns, Connect: w.connect, TLS: w.tls, TTFB: w.ttfb, Transfer: w.transfer}}
		var err error
		for _, f := range []struct {
			table string
			id    int64
			dst   *string
		}{{"checks", w.check, &r.Check}, {"regions", w.region, &r.Region}, {"probes", w.probe, &r.Probe}, {"config_versions", w.config, &r.ConfigVersion}} {
			if *f.dst, err = s.nameOf(ctx, f.table, f.id); err != nil {
				return nil, err
			}
		}
		if w.cert != nil {
			t := time.Unix(*w.cert, 0).UTC()
			r.CertExpiry = &t
		}
		r.Scheduled = time.UnixMilli(w.sched).UTC()
		r.Started = time.UnixMilli(w.sched + w.lag).UTC()
		if err := store.DecodeFacts(w.facts, &r); err != nil {
			return nil, err
		}
		r.Outcome, r.ProbeIsolated = store.DecodeOutcome(int(w.outcome))
		r.HTTPStatus = int(w.status)
		if c := int(w.class); c >= 0 && c < len(model.ErrorClasses) {
			r.ErrorClass = model.ErrorClasses[c]
		}
		out[i] = r
	}
	return out, nil
}

// Latest returns the newest result of every check in every region, one
// index seek per check and region.
func (s *Store) Latest(ctx context.Context) ([]model.Result, error) {
	rows, err := s.pool.Query(ctx, `SELECT r.* FROM checks c CROSS JOIN regions g CROSS JOIN LATERAL
		(SELECT `+resultColumns+` FROM results WHERE check_id = c.id AND region_id = g.id ORDER BY scheduled DESC LIMIT 1) r`)
	if err != nil {
		return nil, fmt.Errorf("query latest results: %w", err)
	}
	return s.scan(ctx, rows)
}

// syncOverlap is how far back LatestSince looks before its cursor, for
// batches that committed after a later one was read (an ingest is one
// statement of milliseconds; one that took longer is missed here until
// the check's next result, a minute later).
const syncOverlap = 10 * time.Second

// LatestSince returns the newest result of every check and region among
// those stored since cursor (a time on the database's clock, Unix ms, from
// the previous call; 0 the first time, which reads everything), and the
// cursor for the next call. Reading a result twice is harmless: the
// caller keeps the newest.
func (s *Store) LatestSince(ctx context.Context, cursor int64) ([]model.Result, int64, error) {
	var now int64
	if err := s.pool.QueryRow(ctx, `SELECT (extract(epoch from statement_timestamp()) * 1000)::bigint`).Scan(&now); err != nil {
		return nil, 0, fmt.Errorf("database clock: %w", err)
	}
	if cursor <= 0 {
		rs, err := s.Latest(ctx)
		return rs, now, err
	}
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT ON (check_id, region_id) `+resultColumns+` FROM results
		WHERE ingested_at >= $1 ORDER BY check_id, region_id, scheduled DESC`, cursor-syncOverlap.Milliseconds())
	if err != nil {
		return nil, 0, fmt.Errorf("query results since %d: %w", cursor, err)
	}
	rs, err := s.scan(ctx, rows)
	return rs, now, err
}

// Results returns the results matching q, oldest first.
func (s *Store) Results(ctx context.Context, q store.Query) ([]model.Result, error) {
	cid, ok, err := s.lookup(ctx, "checks", q.Check)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("check %q: %w", q.Check, store.ErrNotFound)
	}
	sql := `SELECT ` + resultColumns + ` FROM results WHERE check_id = $1 AND scheduled >= $2`
	args := []any{cid, q.Since.UnixMilli()}
	var rid int64
	if q.Region != "" {
		id, ok, err := s.lookup(ctx, "regions", q.Region)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("region %q: %w", q.Region, store.ErrNotFound)
		}
		args = append(args, id)
		rid = id
		sql += fmt.Sprintf(" AND region_id = $%d", len(args))
	}
	if !q.Until.IsZero() {
		args = append(args, q.Until.UnixMilli())
		sql += fmt.Sprintf(" AND scheduled < $%d", len(args))
	}
	order, past := q.Order()
	var after *rawResult
	if q.After != nil {
		crid, ok, err := s.lookup(ctx, "regions", q.After.Region)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("cursor region %q: %w", q.After.Region, store.ErrNotFound)
		}
		after = &rawResult{region: crid, sched: q.After.Scheduled.UnixMilli()}
		args = append(args, q.After.Scheduled.UnixMilli(), crid)
		sql += fmt.Sprintf(" AND (scheduled %s $%d OR (scheduled = $%d AND region_id %s $%d))", past, len(args)-1, len(args)-1, past, len(args))
	}
	if q.Limit <= 0 {
		q.Limit = 1000
	}
	args = append(args, q.Limit)
	rows, err := s.pool.Query(ctx, sql+fmt.Sprintf(" ORDER BY %s LIMIT $%d", order, len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("query results of %s: %w", q.Check, err)
	}
	raw, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (rawResult, error) { return scanRaw(r) })
	if err != nil {
		return nil, fmt.Errorf("read results of %s: %w", q.Check, err)
	}
	// The packed days in the window, cut alike.
	until := int64(math.MaxInt64)
	if !q.Until.IsZero() {
		until = q.Until.UnixMilli()
	}
	packed, err := s.packedRows(ctx, cid, rid, q.Since.UnixMilli(), until)
	if err != nil {
		return nil, err
	}
	if len(packed) > 0 {
		before := func(a, b *rawResult) bool { // a comes before b in the order asked
			if a.sched != b.sched {
				return (a.sched < b.sched) != q.Newest
			}
			return (a.region < b.region) != q.Newest
		}
		raw = addPacked(raw, packed, func(r *rawResult) bool { return after == nil || before(after, r) })
		slices.SortFunc(raw, func(a, b rawResult) int {
			if before(&a, &b) {
				return -1
			}
			if before(&b, &a) {
				return 1
			}
			return 0
		})
		raw = raw[:min(len(raw), q.Limit)]
	}
	return s.results(ctx, raw)
}

// CountResults returns how many results are stored.
func (s *Store) CountResults(ctx context.Context) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT (SELECT COUNT(*) FROM results) + (SELECT COALESCE(SUM(n), 0) FROM results_packed)`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count results: %w", err)
	}
	return n, nil
}

// DiskBytes reports the size of the store's tables with their indexes and
// TOAST, in the current schema.
func (s *Store) DiskBytes(ctx context.Context) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c
		JOIN pg_namespace ns ON ns.oid = c.relnamespace WHERE ns.nspname = current_schema() AND c.relkind = 'r'`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("table sizes: %w", err)
	}
	return n, nil
}

// Outcomes returns the results of check scheduled in [from, to).
func (s *Store) Outcomes(ctx context.Context, check string, from, to time.Time) ([]store.Outcome, error) {
	cid, ok, err := s.lookup(ctx, "checks", check)
	if err != nil || !ok {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT region_id, scheduled, outcome, duration_us, facts FROM results
		WHERE check_id = $1 AND scheduled >= $2 AND scheduled < $3`, cid, from.UnixMilli(), to.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("outcomes of %s: %w", check, err)
	}
	var raw []rawResult
	for rows.Next() {
		var w rawResult
		if err := rows.Scan(&w.region, &w.sched, &w.outcome, &w.dur, &w.facts); err != nil {
			rows.Close()
			return nil, err
		}
		raw = append(raw, w)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("outcomes of %s: %w", check, err)
	}
	packed, err := s.packedRows(ctx, cid, 0, from.UnixMilli(), to.UnixMilli())
	if err != nil {
		return nil, err
	}
	raw = addPacked(raw, packed, nil)
	out := make([]store.Outcome, len(raw))
	for i, w := range raw {
		region, err := s.nameOf(ctx, "regions", w.region)
		if err != nil {
			return nil, err
		}
		out[i] = store.NewOutcome(region, w.sched, int(w.outcome), w.dur, w.facts)
	}
	return out, nil
}
