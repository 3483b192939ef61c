package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/nines-sre/nines/controller/sla"
	"github.com/nines-sre/nines/controller/store"
)

// Outcomes returns the results of check scheduled in [from, to).
func (s *Store) Outcomes(ctx context.Context, check string, from, to time.Time) ([]store.Outcome, error) {
	s.mu.Lock()
	cid, ok := s.names["checks"][check]
	s.mu.Unlock()
	if !ok {
		return nil, nil
	}
	rows, err := s.db.QueryContext(ctx, `SELECT region_id, scheduled, outcome, duration_us, facts FROM results WHERE check_id = ? AND scheduled >= ? AND scheduled < ?`,
		cid, from.UnixMilli(), to.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("outcomes of %s: %w", check, err)
	}
	defer rows.Close()
	var out []store.Outcome
	for rows.Next() {
		var rid, sched, us int64
		var code int
		var facts []byte
		if err := rows.Scan(&rid, &sched, &code, &us, &facts); err != nil {
			return nil, err
		}
		out = append(out, store.NewOutcome(s.name("regions", rid), sched, code, us, facts))
	}
	return out, rows.Err()
}

// DirtyMinutes reads up to limit marks: the scheduled minutes of results
// stored since their slices were last computed.
func (s *Store) DirtyMinutes(ctx context.Context, limit int) (store.Dirty, error) {
	d := store.Dirty{Checks: map[string][]sla.Minute{}}
	rows, err := s.db.QueryContext(ctx, `SELECT check_id, minute, seq FROM dirty LIMIT ?`, limit)
	if err != nil {
		return d, fmt.Errorf("read dirty minutes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var cid, m, seq int64
		if err := rows.Scan(&cid, &m, &seq); err != nil {
			return d, err
		}
		name := s.name("checks", cid)
		d.Checks[name] = append(d.Checks[name], sla.Minute(m))
		d.Seq = max(d.Seq, seq)
	}
	return d, rows.Err()
}

// PutSlices stores the minute verdicts of check, replacing earlier ones, and
// clears the handled dirty marks made up to seq; see store.Store.
func (s *Store) PutSlices(ctx context.Context, check string, slices map[sla.Minute]sla.Slice, handled []sla.Minute, seq int64) error {
	return s.PutVerdicts(ctx, []store.Verdicts{{Check: check, Slices: slices, Handled: handled, Seq: seq}})
}

// PutVerdicts stores the verdicts of several checks, with their latency
// events and rollups, in one transaction.
func (s *Store) PutVerdicts(ctx context.Context, vs []store.Verdicts) error {
	ids := make([]int64, len(vs))
	err := s.write(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO slices (check_id, minute, status) VALUES (?, ?, ?)
			ON CONFLICT (check_id, minute) DO UPDATE SET status = excluded.status`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		unmark, err := tx.PrepareContext(ctx, `DELETE FROM dirty WHERE check_id = ? AND minute = ? AND seq <= ?`)
		if err != nil {
			return err
		}
		defer unmark.Close()
		for i := range vs {
			v := &vs[i]
			if len(v.Slices) == 0 && len(v.Handled) == 0 {
				continue
			}
			cid, err := s.id(ctx, tx, "checks", v.Check)
			if err != nil {
				return err
			}
			ids[i] = cid
			for m, sl := range v.Slices {
				if _, err := stmt.ExecContext(ctx, cid, int64(m), int(sl)); err != nil {
					return fmt.Errorf("%s: slice %d: %w", v.Check, m, err)
				}
			}
			if err := rollUp(ctx, tx, cid, v.Slices); err != nil {
				return fmt.Errorf("%s: roll up: %w", v.Check, err)
			}
			if err := putEvents(ctx, tx, cid, v.Events); err != nil {
				return fmt.Errorf("%s: latency events: %w", v.Check, err)
			}
			for _, m := range v.Handled {
				if _, err := unmark.ExecContext(ctx, cid, int64(m), v.Seq); err != nil {
					return fmt.Errorf("%s: clear dirty minutes: %w", v.Check, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store verdicts: %w", err)
	}
	for i := range vs {
		if ids[i] != 0 {
			s.remember("checks", vs[i].Check, ids[i])
		}
	}
	return nil
}

// ServiceSlices calls fn for every minute in [from, to) that has a slice of
// any of checks, with the checks combined (sla.Combine), in minute order.
// Minutes without any slice are unknown and not visited.
func (s *Store) ServiceSlices(ctx context.Context, checks []string, from, to sla.Minute, fn func(sla.Minute, sla.Slice)) error {
	var ids []any
	s.mu.Lock()
	for _, c := range checks {
		if id, ok := s.names["checks"][c]; ok {
			ids = append(ids, id)
		}
	}
	s.mu.Unlock()
	if len(ids) == 0 {
		return nil
	}
	// The rank makes MAX pick the combined verdict: down > degraded > up >
	// maintenance > unknown.
	q := `SELECT minute, MAX(` + store.RankSQL + `)
		FROM slices WHERE check_id IN (?` + strings.Repeat(",?", len(ids)-1) + `) AND minute >= ? AND minute < ?
		GROUP BY minute ORDER BY minute`
	if len(ids) == 1 {
		q = `SELECT minute, ` + store.RankSQL + `
		FROM slices WHERE check_id = ? AND minute >= ? AND minute < ? ORDER BY minute`
	}
	rows, err := s.db.QueryContext(ctx, q, append(ids, int64(from), int64(to))...)
	if err != nil {
		return fmt.Errorf("service slices: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var m int64
		var rank int
		if err := rows.Scan(&m, &rank); err != nil {
			return err
		}
		fn(sla.Minute(m), store.Unrank[rank])
	}
	return rows.Err()
}

// rollUp recomputes the hourly rollups of the hours that slices touched from
// the minute slices, then the daily ones of their days from the hours.
func rollUp(ctx context.Context, tx *sql.Tx, cid int64, slices map[sla.Minute]sla.Slice) error {
	hours, days := store.Touched(maps.Keys(slices))
	const upsert = ` ON CONFLICT (check_id, span, bucket) DO UPDATE SET up = excluded.up, degraded = excluded.degraded,
		down = excluded.down, maintenance = excluded.maintenance`
	hourly, err := tx.PrepareContext(ctx, `INSERT INTO rollups (check_id, span, bucket, up, degraded, down, maintenance)
		SELECT ?1, 60, ?2, COALESCE(SUM(status = 1), 0), COALESCE(SUM(status = 2), 0), COALESCE(SUM(status = 3), 0), COALESCE(SUM(status = 4), 0)
		FROM slices WHERE check_id = ?1 AND minute >= ?2 AND minute < ?2 + 60`+upsert)
	if err != nil {
		return err
	}
	defer hourly.Close()
	for _, h := range hours {
		if _, err := hourly.ExecContext(ctx, cid, h); err != nil {
			return err
		}
	}
	daily, err := tx.PrepareContext(ctx, `INSERT INTO rollups (check_id, span, bucket, up, degraded, down, maintenance)
		SELECT ?1, 1440, ?2, COALESCE(SUM(up), 0), COALESCE(SUM(degraded), 0), COALESCE(SUM(down), 0), COALESCE(SUM(maintenance), 0)
		FROM rollups WHERE check_id = ?1 AND span = 60 AND bucket >= ?2 AND bucket < ?2 + 1440`+upsert)
	if err != nil {
		return err
	}
	defer daily.Close()
	for _, d := range days {
		if _, err := daily.ExecContext(ctx, cid, d); err != nil {
			return err
		}
	}
	return nil
}

// Counts tallies the minutes of each check in [from, to), reading whole days
// and hours from rollups and only the edges from minute slices. With no
// checks named it counts every check. Minutes without a verdict are unknown.
func (s *Store) Counts(ctx context.Context, checks []string, from, to sla.Minute) (map[string]sla.Counts, error) {
	// The ids are always listed: with check_id leading both primary keys,
	// SQLite then seeks each check's range instead of scanning the table.
	ids := s.checkIDs(checks)
	if len(ids) == 0 {
		return map[string]sla.Counts{}, nil
	}
	filter := ` AND check_id IN (?` + strings.Repeat(",?", len(ids)-1) + `)`
	acc := map[int64]*sla.Counts{}
	get := func(id int64) *sla.Counts {
		if acc[id] == nil {
			acc[id] = &sla.Counts{}
		}
		return acc[id]
	}
	for _, seg := range sla.Segments(from, to) {
		var q string
		args := append([]any{}, ids...)
		if seg.Span == sla.SpanMinute {
			q = `SELECT check_id, COALESCE(SUM(status IN (1, 2)), 0), COALESCE(SUM(status = 3), 0), COALESCE(SUM(status = 4), 0)
				FROM slices WHERE minute >= ? AND minute < ?` + filter + ` GROUP BY check_id`
			args = append([]any{int64(seg.From), int64(seg.To)}, args...)
		} else {
			q = `SELECT check_id, SUM(up + degraded), SUM(down), SUM(maintenance)
				FROM rollups WHERE span = ? AND bucket >= ? AND bucket < ?` + filter + ` GROUP BY check_id`
			args = append([]any{seg.Span, int64(seg.From), int64(seg.To)}, args...)
		}
		rows, err := s.db.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, fmt.Errorf("count minutes: %w", err)
		}
		for rows.Next() {
			var id int64
			var good, bad, maint int
			if err := rows.Scan(&id, &good, &bad, &maint); err != nil {
				rows.Close()
				return nil, err
			}
			c := get(id)
			c.Good += good
			c.Bad += bad
			c.Maintenance += maint
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	out := make(map[string]sla.Counts, len(acc))
	total := int(to - from)
	for id, c := range acc {
		c.Unknown = total - c.Good - c.Bad - c.Maintenance
		out[s.name("checks", id)] = *c
	}
	return out, nil
}

// checkIDs returns the ids of the named checks, or of every check when none
// is named.
func (s *Store) checkIDs(checks []string) []any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []any
	if len(checks) == 0 {
		for _, id := range s.names["checks"] {
			ids = append(ids, id)
		}
		return ids
	}
	for _, c := range checks {
		if id, ok := s.names["checks"][c]; ok {
			ids = append(ids, id)
		}
	}
	return ids
}

// MarkRegionDirty marks the minutes of region's results in [from, to]
// (store.Store), a check at a time through the results' key.
func (s *Store) MarkRegionDirty(ctx context.Context, region string, from, to time.Time) error {
	s.mu.Lock()
	rid, ok := s.names["regions"][region]
	s.mu.Unlock()
	if !ok {
		return nil
	}
	s.wr.Lock()
	defer s.wr.Unlock()
	s.seq++
	_, err := s.db.ExecContext(ctx, `INSERT INTO dirty (check_id, minute, seq)
		SELECT DISTINCT r.check_id, r.scheduled / 60000, ? FROM checks c JOIN results r ON r.check_id = c.id AND r.region_id = ? AND r.scheduled BETWEEN ? AND ?
		WHERE true ON CONFLICT (check_id, minute) DO UPDATE SET seq = excluded.seq`, s.seq, rid, from.UnixMilli(), to.UnixMilli())
	if err != nil {
		return fmt.Errorf("mark %s dirty: %w", region, err)
	}
	return nil
}

// History returns, per check, its buckets of span (sla.SpanHour or
// sla.SpanDay) in [from, to), oldest first; buckets with no verdict at all
// are left out. With no checks named it returns every check.
func (s *Store) History(ctx context.Context, checks []string, span int, from, to sla.Minute) (map[string][]store.Bucket, error) {
	ids := s.checkIDs(checks)
	out := map[string][]store.Bucket{}
	if len(ids) == 0 {
		return out, nil
	}
	q := `SELECT check_id, bucket, up + degraded, degraded, down, maintenance FROM rollups
		WHERE span = ? AND bucket >= ? AND bucket < ? AND check_id IN (?` + strings.Repeat(",?", len(ids)-1) + `) ORDER BY check_id, bucket`
	rows, err := s.db.QueryContext(ctx, q, append([]any{span, int64(from), int64(to)}, ids...)...)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, bucket int64
		var b store.Bucket
		if err := rows.Scan(&id, &bucket, &b.Good, &b.Degraded, &b.Bad, &b.Maintenance); err != nil {
			return nil, err
		}
		b.Start = sla.Minute(bucket).Time()
		b.Unknown = span - b.Good - b.Bad - b.Maintenance
		name := s.name("checks", id)
		out[name] = append(out[name], b)
	}
	return out, rows.Err()
}

func putEvents(ctx context.Context, tx *sql.Tx, cid int64, events store.LatencyEvents) error {
	if len(events) == 0 {
		return nil
	}
	const upsert = ` ON CONFLICT (check_id, threshold_ms, span, bucket) DO UPDATE SET good = excluded.good, total = excluded.total`
	minute, err := tx.PrepareContext(ctx, `INSERT INTO latency_events VALUES (?, ?, 1, ?, ?, ?)`+upsert)
	if err != nil {
		return err
	}
	defer minute.Close()
	roll, err := tx.PrepareContext(ctx, `INSERT INTO latency_events (check_id, threshold_ms, span, bucket, good, total)
		SELECT ?1, ?2, ?3, ?4, COALESCE(SUM(good), 0), COALESCE(SUM(total), 0) FROM latency_events
		WHERE check_id = ?1 AND threshold_ms = ?2 AND span = ?5 AND bucket >= ?4 AND bucket < ?4 + ?3`+upsert)
	if err != nil {
		return err
	}
	defer roll.Close()
	for th, byMinute := range events {
		for m, e := range byMinute {
			if _, err := minute.ExecContext(ctx, cid, th, int64(m), e.Good, e.Total); err != nil {
				return err
			}
		}
		hours, days := store.Touched(maps.Keys(byMinute))
		for _, h := range hours {
			if _, err := roll.ExecContext(ctx, cid, th, sla.SpanHour, h, sla.SpanMinute); err != nil {
				return err
			}
		}
		for _, d := range days {
			if _, err := roll.ExecContext(ctx, cid, th, sla.SpanDay, d, sla.SpanHour); err != nil {
				return err
			}
		}
	}
	return nil
}

// EventCounts sums the latency events of checks at threshold (ms) over
// [from, to), from daily and hourly rollups and minute rows at the edges.
func (s *Store) EventCounts(ctx context.Context, checks []string, thresholdMS int64, from, to sla.Minute) (sla.Events, error) {
	var e sla.Events
	ids := s.checkIDs(checks)
	if len(ids) == 0 || len(checks) == 0 {
		return e, nil
	}
	in := `(?` + strings.Repeat(",?", len(ids)-1) + `)`
	for _, seg := range sla.Segments(from, to) {
		var good, total int
		args := append([]any{thresholdMS, seg.Span, int64(seg.From), int64(seg.To)}, ids...)
		if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(SUM(good), 0), COALESCE(SUM(total), 0) FROM latency_events
			WHERE threshold_ms = ? AND span = ? AND bucket >= ? AND bucket < ? AND check_id IN `+in, args...).Scan(&good, &total); err != nil {
			return e, fmt.Errorf("latency events: %w", err)
		}
		e.Good += good
		e.Total += total
	}
	return e, nil
}

// HasLatencyEvents reports whether any latency events of check at
// threshold were ever recorded.
func (s *Store) HasLatencyEvents(ctx context.Context, check string, thresholdMS int64) (bool, error) {
	ids := s.checkIDs([]string{check})
	if len(ids) == 0 {
		return false, nil
	}
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM latency_events WHERE check_id = ? AND threshold_ms = ? LIMIT 1)`, ids[0], thresholdMS).Scan(&n)
	return n > 0, err
}

// MarkAllDirty marks every minute of check that has raw results, so that
// its verdicts and events are recomputed (after a new latency SLO appears).
func (s *Store) MarkAllDirty(ctx context.Context, check string) error {
	ids := s.checkIDs([]string{check})
	if len(ids) == 0 {
		return nil
	}
	s.wr.Lock()
	defer s.wr.Unlock()
	s.seq++
	_, err := s.db.ExecContext(ctx, `INSERT INTO dirty (check_id, minute, seq)
		SELECT DISTINCT check_id, scheduled / 60000, ? FROM results WHERE check_id = ?
		ON CONFLICT (check_id, minute) DO UPDATE SET seq = excluded.seq`, s.seq, ids[0])
	return err
}
