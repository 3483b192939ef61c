package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nines-sre/nines/controller/store"
)

// SaveProbe records a probe's latest heartbeat; an older one never
// overwrites a newer one that another replica wrote.
func (s *Store) SaveProbe(ctx context.Context, p store.Probe) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO probe_heartbeats (probe, region, version, started_at, last_seen, spool_depth, skew_ms, first_seen, capabilities)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (probe) DO UPDATE SET region = excluded.region, version = excluded.version, started_at = excluded.started_at,
		last_seen = excluded.last_seen, spool_depth = excluded.spool_depth, skew_ms = excluded.skew_ms, capabilities = excluded.capabilities,
		first_seen = CASE WHEN probe_heartbeats.region = excluded.region AND probe_heartbeats.first_seen > 0
			THEN LEAST(probe_heartbeats.first_seen, excluded.first_seen) ELSE excluded.first_seen END
		WHERE excluded.last_seen >= probe_heartbeats.last_seen`,
		p.ID, p.Region, p.Version, p.StartedAt.UnixMilli(), p.LastHeartbeat.UnixMilli(), p.SpoolDepth, p.ClockSkew.Milliseconds(), p.Tenure().UnixMilli(), strings.Join(p.Capabilities, ","))
	if err != nil {
		return fmt.Errorf("save heartbeat of %s: %w", p.ID, err)
	}
	return nil
}

// Probes returns the probes heard from since since, by id.
func (s *Store) Probes(ctx context.Context, since time.Time) ([]store.Probe, error) {
	rows, err := s.pool.Query(ctx, `SELECT probe, region, version, started_at, last_seen, spool_depth, skew_ms, first_seen, capabilities
		FROM probe_heartbeats WHERE last_seen >= $1 ORDER BY probe`, since.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("read heartbeats: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Probe, error) {
		var p store.Probe
		var started, seen, skew, first int64
		var caps string
		var depth int32
		err := r.Scan(&p.ID, &p.Region, &p.Version, &started, &seen, &depth, &skew, &first, &caps)
		p.StartedAt, p.LastHeartbeat = time.UnixMilli(started).UTC(), time.UnixMilli(seen).UTC()
		p.FirstSeen = time.UnixMilli(first).UTC()
		if caps != "" {
			p.Capabilities = strings.Split(caps, ",")
		}
		p.SpoolDepth, p.ClockSkew = int(depth), time.Duration(skew)*time.Millisecond
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("read heartbeats: %w", err)
	}
	return out, nil
}

// ForgetProbe removes a probe of region.
func (s *Store) ForgetProbe(ctx context.Context, id, region string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM probe_heartbeats WHERE probe = $1 AND region = $2`, id, region); err != nil {
		return fmt.Errorf("forget probe %s: %w", id, err)
	}
	return nil
}

// PutHealth records that region's probes were heard from throughout span,
// widening a span that starts at the same time.
func (s *Store) PutHealth(ctx context.Context, span store.HealthSpan) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO region_health (region, start_ms, end_ms) VALUES ($1, $2, $3)
		ON CONFLICT (region, start_ms) DO UPDATE SET end_ms = GREATEST(region_health.end_ms, excluded.end_ms)`,
		span.Region, span.From.UnixMilli(), span.To.UnixMilli())
	if err != nil {
		return fmt.Errorf("save health of %s: %w", span.Region, err)
	}
	return nil
}

// Health returns the spans that end at or after since, by region and start.
func (s *Store) Health(ctx context.Context, since time.Time) ([]store.HealthSpan, error) {
	rows, err := s.pool.Query(ctx, `SELECT region, start_ms, end_ms FROM region_health WHERE end_ms >= $1 ORDER BY region, start_ms`,
		since.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("read region health: %w", err)
	}
	defer rows.Close()
	return store.ReadHealth(rows)
}

// PruneHealth deletes the spans that ended before before.
func (s *Store) PruneHealth(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM region_health WHERE end_ms < $1`, before.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("prune region health: %w", err)
	}
	return tag.RowsAffected(), nil
}
