package postgres

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nines-sre/nines/controller/sla"
	"github.com/nines-sre/nines/controller/store"
)

// DirtyMinutes reads up to limit marks, oldest first.
func (s *Store) DirtyMinutes(ctx context.Context, limit int) (store.Dirty, error) {
	d := store.Dirty{Checks: map[string][]sla.Minute{}}
	rows, err := s.pool.Query(ctx, `SELECT check_id, minute, seq FROM dirty ORDER BY seq LIMIT $1`, limit)
	if err != nil {
		return d, fmt.Errorf("read dirty minutes: %w", err)
	}
	type mark struct{ cid, m, seq int64 }
	marks, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (mark, error) {
		var k mark
		return k, r.Scan(&k.cid, &k.m, &k.seq)
	})
	if err != nil {
		return d, fmt.Errorf("read dirty minutes: %w", err)
	}
	for _, k := range marks {
		name, err := s.nameOf(ctx, "checks", k.cid)
		if err != nil {
			return d, err
		}
		d.Checks[name] = append(d.Checks[name], sla.Minute(k.m))
		d.Seq = max(d.Seq, k.seq)
	}
	return d, nil
}

// MarkAllDirty marks every minute of check that has raw results.
// MarkRegionDirty marks the minutes of region's results in [from, to]
// (store.Store); packed days keep no raw rows to tell, and are older than
// any health that changes.
func (s *Store) MarkRegionDirty(ctx context.Context, region string, from, to time.Time) error {
	rid, ok, err := s.lookup(ctx, "regions", region)
	if err != nil || !ok {
		return err
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO dirty (check_id, minute, seq)
		SELECT check_id, minute, nextval('dirty_seq') FROM (SELECT DISTINCT r.check_id, r.scheduled / 60000 AS minute FROM checks c
			JOIN results r ON r.check_id = c.id AND r.region_id = $1 AND r.scheduled BETWEEN $2 AND $3 ORDER BY 1, 2) m
		ON CONFLICT (check_id, minute) DO UPDATE SET seq = excluded.seq`, rid, from.UnixMilli(), to.UnixMilli())
	if err != nil {
		return fmt.Errorf("mark %s dirty: %w", region, err)
	}
	return nil
}

func (s *Store) MarkAllDirty(ctx context.Context, check string) error {
	cid, ok, err := s.lookup(ctx, "checks", check)
	if err != nil || !ok {
		return err
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO dirty (check_id, minute, seq)
		SELECT check_id, minute, nextval('dirty_seq') FROM (SELECT DISTINCT check_id, scheduled / 60000 AS minute FROM results WHERE check_id = $1 ORDER BY 2) m
		ON CONFLICT (check_id, minute) DO UPDATE SET seq = excluded.seq`, cid)
	if err != nil {
		return fmt.Errorf("mark %s dirty: %w", check, err)
	}
	// And the minutes of its packed days.
	packed, err := s.packedRows(ctx, cid, 0, math.MinInt64/2, math.MaxInt64)
	if err != nil || len(packed) == 0 {
		return err
	}
	minutes := map[int64]bool{}
	for _, r := range packed {
		minutes[r.sched/60000] = true
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO dirty (check_id, minute, seq)
		SELECT $1, m, nextval('dirty_seq') FROM (SELECT unnest($2::bigint[]) AS m ORDER BY 1) t
		ON CONFLICT (check_id, minute) DO UPDATE SET seq = excluded.seq`, cid, slices.Sorted(maps.Keys(minutes)))
	if err != nil {
		return fmt.Errorf("mark %s dirty: %w", check, err)
	}
	return nil
}

// PutSlices stores minute verdicts; see store.Store.
func (s *Store) PutSlices(ctx context.Context, check string, sl map[sla.Minute]sla.Slice, handled []sla.Minute, seq int64) error {
	return s.PutVerdicts(ctx, []store.Verdicts{{Check: check, Slices: sl, Handled: handled, Seq: seq}})
}

const rollupUpsert = ` ON CONFLICT (check_id, span, bucket) DO UPDATE SET up = excluded.up, degraded = excluded.degraded,
	down = excluded.down, maintenance = excluded.maintenance`

// PutVerdicts stores the minute verdicts and latency events of several
// checks with their rollups and clears the handled dirty marks, in one
// transaction whose statements go to the server in one batch.
func (s *Store) PutVerdicts(ctx context.Context, vs []store.Verdicts) error {
	var b pgx.Batch
	for i := range vs {
		v := &vs[i]
		if len(v.Slices) == 0 && len(v.Handled) == 0 {
			continue
		}
		cid, err := s.ensure(ctx, "checks", v.Check)
		if err != nil {
			return err
		}
		queueVerdicts(&b, cid, v)
	}
	if b.Len() == 0 {
		return nil
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return tx.SendBatch(ctx, &b).Close() })
	if err != nil {
		return fmt.Errorf("store verdicts: %w", err)
	}
	return nil
}

// queueVerdicts queues the statements that store v, as check cid, in b.
func queueVerdicts(b *pgx.Batch, cid int64, v *store.Verdicts) {
	minutes := slices.Sorted(maps.Keys(v.Slices))
	ms, statuses := make([]int64, len(minutes)), make([]int16, len(minutes))
	for i, m := range minutes {
		ms[i], statuses[i] = int64(m), int16(v.Slices[m])
	}
	hours, days := store.Touched(slices.Values(minutes))
	b.Queue(`INSERT INTO slices (check_id, minute, status) SELECT $1, m, st FROM unnest($2::bigint[], $3::smallint[]) AS t(m, st)
		ON CONFLICT (check_id, minute) DO UPDATE SET status = excluded.status`, cid, ms, statuses)
	b.Queue(`INSERT INTO rollups (check_id, span, bucket, up, degraded, down, maintenance)
		SELECT $1, 60, h, count(s.status) FILTER (WHERE s.status = 1), count(s.status) FILTER (WHERE s.status = 2),
			count(s.status) FILTER (WHERE s.status = 3), count(s.status) FILTER (WHERE s.status = 4)
		FROM unnest($2::bigint[]) AS h LEFT JOIN slices s ON s.check_id = $1 AND s.minute >= h AND s.minute < h + 60
		GROUP BY h`+rollupUpsert, cid, hours)
	b.Queue(`INSERT INTO rollups (check_id, span, bucket, up, degraded, down, maintenance)
		SELECT $1, 1440, d, COALESCE(SUM(r.up), 0), COALESCE(SUM(r.degraded), 0), COALESCE(SUM(r.down), 0), COALESCE(SUM(r.maintenance), 0)
		FROM unnest($2::bigint[]) AS d LEFT JOIN rollups r ON r.check_id = $1 AND r.span = 60 AND r.bucket >= d AND r.bucket < d + 1440
		GROUP BY d`+rollupUpsert, cid, days)
	queueEvents(b, cid, v.Events)
	if len(v.Handled) > 0 {
		done := make([]int64, len(v.Handled))
		for i, m := range v.Handled {
			done[i] = int64(m)
		}
		b.Queue(`DELETE FROM dirty WHERE check_id = $1 AND minute = ANY($2) AND seq <= $3`, cid, done, v.Seq)
	}
}

// queueEvents queues the statements that store latency events and their
// rollups.
func queueEvents(b *pgx.Batch, cid int64, events store.LatencyEvents) {
	const upsert = ` ON CONFLICT (check_id, threshold_ms, span, bucket) DO UPDATE SET good = excluded.good, total = excluded.total`
	for th, byMinute := range events {
		minutes := slices.Sorted(maps.Keys(byMinute))
		ms, good, total := make([]int64, len(minutes)), make([]int64, len(minutes)), make([]int64, len(minutes))
		for i, m := range minutes {
			ms[i], good[i], total[i] = int64(m), int64(byMinute[m].Good), int64(byMinute[m].Total)
		}
		hours, days := store.Touched(slices.Values(minutes))
		b.Queue(`INSERT INTO latency_events (check_id, threshold_ms, span, bucket, good, total)
			SELECT $1, $2, 1, m, g, t FROM unnest($3::bigint[], $4::bigint[], $5::bigint[]) AS x(m, g, t)`+upsert,
			cid, th, ms, good, total)
		for _, roll := range []struct {
			span, from int
			buckets    []int64
		}{{sla.SpanHour, sla.SpanMinute, hours}, {sla.SpanDay, sla.SpanHour, days}} {
			b.Queue(`INSERT INTO latency_events (check_id, threshold_ms, span, bucket, good, total)
				SELECT $1, $2, $3, b, COALESCE(SUM(e.good), 0), COALESCE(SUM(e.total), 0)
				FROM unnest($4::bigint[]) AS b LEFT JOIN latency_events e
					ON e.check_id = $1 AND e.threshold_ms = $2 AND e.span = $5 AND e.bucket >= b AND e.bucket < b + $3
				GROUP BY b`+upsert, cid, th, roll.span, roll.buckets, roll.from)
		}
	}
}

// ServiceSlices calls fn for every minute in [from, to) that has a slice of
// any of checks, with the checks combined, in minute order.
func (s *Store) ServiceSlices(ctx context.Context, checks []string, from, to sla.Minute, fn func(sla.Minute, sla.Slice)) error {
	if len(checks) == 0 {
		return nil
	}
	ids, err := s.checkIDs(ctx, checks)
	if err != nil || len(ids) == 0 {
		return err
	}
	rows, err := s.pool.Query(ctx, `SELECT minute, MAX(`+store.RankSQL+`) FROM slices
		WHERE check_id = ANY($1) AND minute >= $2 AND minute < $3 GROUP BY minute ORDER BY minute`, ids, int64(from), int64(to))
	if err != nil {
		return fmt.Errorf("service slices: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var m int64
		var rank int32
		if err := rows.Scan(&m, &rank); err != nil {
			return err
		}
		fn(sla.Minute(m), store.Unrank[rank])
	}
	return rows.Err()
}

// Counts tallies the minutes of each check in [from, to), reading whole days
// and hours from rollups and only the edges from minute slices.
func (s *Store) Counts(ctx context.Context, checks []string, from, to sla.Minute) (map[string]sla.Counts, error) {
	ids, err := s.checkIDs(ctx, checks)
	if err != nil {
		return nil, err
	}
	acc := map[int64]*sla.Counts{}
	for _, seg := range sla.Segments(from, to) {
		if len(ids) == 0 {
			break
		}
		var rows pgx.Rows
		if seg.Span == sla.SpanMinute {
			rows, err = s.pool.Query(ctx, `SELECT check_id, count(*) FILTER (WHERE status IN (1, 2)), count(*) FILTER (WHERE status = 3),
				count(*) FILTER (WHERE status = 4) FROM slices WHERE check_id = ANY($1) AND minute >= $2 AND minute < $3 GROUP BY check_id`,
				ids, int64(seg.From), int64(seg.To))
		} else {
			rows, err = s.pool.Query(ctx, `SELECT check_id, SUM(up + degraded), SUM(down), SUM(maintenance) FROM rollups
				WHERE check_id = ANY($1) AND span = $2 AND bucket >= $3 AND bucket < $4 GROUP BY check_id`,
				ids, seg.Span, int64(seg.From), int64(seg.To))
		}
		if err != nil {
			return nil, fmt.Errorf("count minutes: %w", err)
		}
		for rows.Next() {
			var id, good, bad, maint int64
			if err := rows.Scan(&id, &good, &bad, &maint); err != nil {
				rows.Close()
				return nil, fmt.Errorf("count minutes: %w", err)
			}
			c := acc[id]
			if c == nil {
				c = &sla.Counts{}
				acc[id] = c
			}
			c.Good += int(good)
			c.Bad += int(bad)
			c.Maintenance += int(maint)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("count minutes: %w", err)
		}
	}
	out := make(map[string]sla.Counts, len(acc))
	for id, c := range acc {
		c.Unknown = int(to-from) - c.Good - c.Bad - c.Maintenance
		name, err := s.nameOf(ctx, "checks", id)
		if err != nil {
			return nil, err
		}
		out[name] = *c
	}
	return out, nil
}

// History returns, per check, its buckets of span in [from, to), oldest
// first; buckets with no verdict at all are left out.
func (s *Store) History(ctx context.Context, checks []string, span int, from, to sla.Minute) (map[string][]store.Bucket, error) {
	out := map[string][]store.Bucket{}
	ids, err := s.checkIDs(ctx, checks)
	if err != nil || len(ids) == 0 {
		return out, err
	}
	rows, err := s.pool.Query(ctx, `SELECT check_id, bucket, up + degraded, degraded, down, maintenance FROM rollups
		WHERE span = $1 AND bucket >= $2 AND bucket < $3 AND check_id = ANY($4) ORDER BY check_id, bucket`, span, int64(from), int64(to), ids)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	type row struct {
		id, bucket                 int64
		good, degraded, bad, maint int32
	}
	all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var w row
		return w, r.Scan(&w.id, &w.bucket, &w.good, &w.degraded, &w.bad, &w.maint)
	})
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	for _, w := range all {
		name, err := s.nameOf(ctx, "checks", w.id)
		if err != nil {
			return nil, err
		}
		b := store.Bucket{Start: sla.Minute(w.bucket).Time()}
		b.Good, b.Degraded, b.Bad, b.Maintenance = int(w.good), int(w.degraded), int(w.bad), int(w.maint)
		b.Unknown = span - b.Good - b.Bad - b.Maintenance
		out[name] = append(out[name], b)
	}
	return out, nil
}

// EventCounts sums the latency events of checks at threshold (ms) over
// [from, to), from daily and hourly rollups and minute rows at the edges.
func (s *Store) EventCounts(ctx context.Context, checks []string, thresholdMS int64, from, to sla.Minute) (sla.Events, error) {
	var e sla.Events
	if len(checks) == 0 {
		return e, nil
	}
	ids, err := s.checkIDs(ctx, checks)
	if err != nil || len(ids) == 0 {
		return e, err
	}
	for _, seg := range sla.Segments(from, to) {
		var good, total int64
		if err := s.pool.QueryRow(ctx, `SELECT COALESCE(SUM(good), 0)::bigint, COALESCE(SUM(total), 0)::bigint FROM latency_events
			WHERE threshold_ms = $1 AND span = $2 AND bucket >= $3 AND bucket < $4 AND check_id = ANY($5)`,
			thresholdMS, seg.Span, int64(seg.From), int64(seg.To), ids).Scan(&good, &total); err != nil {
			return e, fmt.Errorf("latency events: %w", err)
		}
		e.Good += int(good)
		e.Total += int(total)
	}
	return e, nil
}

// HasLatencyEvents reports whether any latency events of check at
// threshold were ever recorded.
func (s *Store) HasLatencyEvents(ctx context.Context, check string, thresholdMS int64) (bool, error) {
	cid, ok, err := s.lookup(ctx, "checks", check)
	if err != nil || !ok {
		return false, err
	}
	var has bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM latency_events WHERE check_id = $1 AND threshold_ms = $2)`, cid, thresholdMS).Scan(&has); err != nil {
		return false, fmt.Errorf("latency events of %s: %w", check, err)
	}
	return has, nil
}
