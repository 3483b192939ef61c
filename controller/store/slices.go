package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nines-sre/nines/controller/sla"
)

// Outcome is one regional result, reduced to what slicing needs.
type Outcome struct {
	Region    string
	Scheduled time.Time
	Up        bool
}

// Outcomes returns the results of check scheduled in [from, to).
func (s *Store) Outcomes(ctx context.Context, check string, from, to time.Time) ([]Outcome, error) {
	s.mu.Lock()
	cid, ok := s.names["checks"][check]
	s.mu.Unlock()
	if !ok {
		return nil, nil
	}
	rows, err := s.db.QueryContext(ctx, `SELECT region_id, scheduled, outcome FROM results WHERE check_id = ? AND scheduled >= ? AND scheduled < ?`,
		cid, from.UnixMilli(), to.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("outcomes of %s: %w", check, err)
	}
	defer rows.Close()
	var out []Outcome
	for rows.Next() {
		var rid, sched int64
		var up int
		if err := rows.Scan(&rid, &sched, &up); err != nil {
			return nil, err
		}
		out = append(out, Outcome{Region: s.name("regions", rid), Scheduled: time.UnixMilli(sched), Up: up == 1})
	}
	return out, rows.Err()
}

// Dirty is a batch of minutes to recompute, by check, up to mark Seq.
type Dirty struct {
	Checks map[string][]sla.Minute
	Seq    int64
}

// DirtyMinutes reads up to limit marks: the scheduled minutes of results
// stored since their slices were last computed.
func (s *Store) DirtyMinutes(ctx context.Context, limit int) (Dirty, error) {
	d := Dirty{Checks: map[string][]sla.Minute{}}
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
// in the same transaction clears the dirty marks handled (made up to seq);
// a mark renewed meanwhile by a newer result stays.
func (s *Store) PutSlices(ctx context.Context, check string, slices map[sla.Minute]sla.Slice, handled []sla.Minute, seq int64) error {
	if len(slices) == 0 && len(handled) == 0 {
		return nil
	}
	s.wr.Lock()
	defer s.wr.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store slices of %s: %w", check, err)
	}
	defer tx.Rollback()
	cid, err := s.id(ctx, tx, "checks", check)
	if err != nil {
		return err
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO slices (check_id, minute, status) VALUES (?, ?, ?)
		ON CONFLICT (check_id, minute) DO UPDATE SET status = excluded.status`)
	if err != nil {
		return fmt.Errorf("store slices of %s: %w", check, err)
	}
	defer stmt.Close()
	for m, sl := range slices {
		if _, err := stmt.ExecContext(ctx, cid, int64(m), int(sl)); err != nil {
			return fmt.Errorf("store slice %s/%d: %w", check, m, err)
		}
	}
	for _, m := range handled {
		if _, err := tx.ExecContext(ctx, `DELETE FROM dirty WHERE check_id = ? AND minute = ? AND seq <= ?`, cid, int64(m), seq); err != nil {
			return fmt.Errorf("clear dirty minutes of %s: %w", check, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store slices of %s: %w", check, err)
	}
	s.remember("checks", check, cid)
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
	q := `SELECT minute, MAX(CASE status WHEN 3 THEN 4 WHEN 2 THEN 3 WHEN 1 THEN 2 WHEN 4 THEN 1 ELSE 0 END)
		FROM slices WHERE check_id IN (?` + strings.Repeat(",?", len(ids)-1) + `) AND minute >= ? AND minute < ?
		GROUP BY minute ORDER BY minute`
	if len(ids) == 1 {
		q = `SELECT minute, CASE status WHEN 3 THEN 4 WHEN 2 THEN 3 WHEN 1 THEN 2 WHEN 4 THEN 1 ELSE 0 END
		FROM slices WHERE check_id = ? AND minute >= ? AND minute < ? ORDER BY minute`
	}
	rows, err := s.db.QueryContext(ctx, q, append(ids, int64(from), int64(to))...)
	if err != nil {
		return fmt.Errorf("service slices: %w", err)
	}
	defer rows.Close()
	unrank := [...]sla.Slice{sla.SliceUnknown, sla.SliceMaintenance, sla.SliceUp, sla.SliceDegraded, sla.SliceDown}
	for rows.Next() {
		var m int64
		var rank int
		if err := rows.Scan(&m, &rank); err != nil {
			return err
		}
		fn(sla.Minute(m), unrank[rank])
	}
	return rows.Err()
}
