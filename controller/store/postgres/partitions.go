package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

const day = 24 * time.Hour

func partitionName(d time.Time) string { return "results_d" + d.UTC().Format("20060102") }

// MaintainPartitions makes sure a partition of results exists for every
// day (UTC) from from to to, moving into each new one the rows of its day
// that had landed in results_default. The leader runs it with retention.
func (s *Store) MaintainPartitions(ctx context.Context, from, to time.Time) (created int, err error) {
	have, err := s.Partitions(ctx)
	if err != nil {
		return 0, err
	}
	for d := from.UTC().Truncate(day); !d.After(to); d = d.Add(day) {
		name := partitionName(d)
		if have[name] {
			continue
		}
		lo, hi := d.UnixMilli(), d.Add(day).UnixMilli()
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			// Replicas may race to make the same day: one at a time.
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('nines-partitions:' || current_schema()))`); err != nil {
				return err
			}
			var exists bool
			if err := tx.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, name).Scan(&exists); err != nil || exists {
				return err
			}
			// No insert while the day's rows move out of results_default
			// and the partition is attached: one routed to the default
			// meanwhile would break the new partition's constraint. An
			// insert waits (reads do not) and then sees the partition.
			if _, err := tx.Exec(ctx, `LOCK TABLE results IN SHARE ROW EXCLUSIVE MODE`); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `CREATE TABLE `+name+` (LIKE results INCLUDING DEFAULTS)`); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `WITH moved AS (DELETE FROM results_default WHERE scheduled >= $1 AND scheduled < $2 RETURNING *)
				INSERT INTO `+name+` SELECT * FROM moved`, lo, hi); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, fmt.Sprintf(`ALTER TABLE results ATTACH PARTITION %s FOR VALUES FROM (%d) TO (%d)`, name, lo, hi))
			return err
		})
		if err != nil {
			return created, fmt.Errorf("partition %s: %w", name, err)
		}
		created++
	}
	return created, nil
}

// Partitions lists the day partitions of results.
func (s *Store) Partitions(ctx context.Context) (map[string]bool, error) {
	rows, err := s.pool.Query(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'results'::regclass`)
	if err != nil {
		return nil, fmt.Errorf("list partitions: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list partitions: %w", err)
	}
	out := map[string]bool{}
	for _, n := range names {
		if strings.HasPrefix(n, "results_d") {
			out[n] = true
		}
	}
	return out, nil
}

// dropPartitionsBefore drops the day partitions that end at or before
// before, and returns how many rows went with them.
func (s *Store) dropPartitionsBefore(ctx context.Context, before time.Time) (int64, error) {
	have, err := s.Partitions(ctx)
	if err != nil {
		return 0, err
	}
	var total int64
	for name := range have {
		d, err := time.Parse("20060102", strings.TrimPrefix(name, "results_d"))
		if err != nil || d.Add(day).After(before) {
			continue
		}
		var n int64
		err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM `+name).Scan(&n); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `DROP TABLE `+name)
			return err
		})
		if err != nil {
			return total, fmt.Errorf("drop partition %s: %w", name, err)
		}
		total += n
	}
	return total, nil
}
