package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/nines-sre/nines/controller/store"
)

// SaveProbe records a probe's latest heartbeat.
func (s *Store) SaveProbe(ctx context.Context, p store.Probe) error {
	_, err := s.exec(ctx, `INSERT INTO probe_heartbeats (probe, region, version, started_at, last_seen, spool_depth, skew_ms)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (probe) DO UPDATE SET region = excluded.region, version = excluded.version, started_at = excluded.started_at,
		last_seen = excluded.last_seen, spool_depth = excluded.spool_depth, skew_ms = excluded.skew_ms
		WHERE excluded.last_seen >= probe_heartbeats.last_seen`,
		p.ID, p.Region, p.Version, p.StartedAt.UnixMilli(), p.LastHeartbeat.UnixMilli(), p.SpoolDepth, p.ClockSkew.Milliseconds())
	if err != nil {
		return fmt.Errorf("save heartbeat of %s: %w", p.ID, err)
	}
	return nil
}

// Probes returns the probes heard from since since, by id.
func (s *Store) Probes(ctx context.Context, since time.Time) ([]store.Probe, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT probe, region, version, started_at, last_seen, spool_depth, skew_ms
		FROM probe_heartbeats WHERE last_seen >= ? ORDER BY probe`, since.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("read heartbeats: %w", err)
	}
	defer rows.Close()
	var out []store.Probe
	for rows.Next() {
		var p store.Probe
		var started, seen, skew int64
		if err := rows.Scan(&p.ID, &p.Region, &p.Version, &started, &seen, &p.SpoolDepth, &skew); err != nil {
			return nil, fmt.Errorf("read heartbeats: %w", err)
		}
		p.StartedAt, p.LastHeartbeat = time.UnixMilli(started).UTC(), time.UnixMilli(seen).UTC()
		p.ClockSkew = time.Duration(skew) * time.Millisecond
		out = append(out, p)
	}
	return out, rows.Err()
}

// ForgetProbe removes a probe of region.
func (s *Store) ForgetProbe(ctx context.Context, id, region string) error {
	if _, err := s.exec(ctx, `DELETE FROM probe_heartbeats WHERE probe = ? AND region = ?`, id, region); err != nil {
		return fmt.Errorf("forget probe %s: %w", id, err)
	}
	return nil
}
