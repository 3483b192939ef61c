package controller

import (
	"context"
	"time"

	"github.com/nines-sre/nines/controller/sla"
)

// Default retention: raw results two weeks, minute slices 400 days; hourly
// and daily rollups are kept for ever.
const (
	DefaultRawRetention   = 14 * 24 * time.Hour
	DefaultSliceRetention = 400 * 24 * time.Hour
)

// packAfter is how old a day of raw results must be before the shared
// store packs it (store/postgres): a day past the 72 h a probe keeps its
// results while its controller is away, so that late results are rare.
const packAfter = 4 * 24 * time.Hour

// Prune applies the retention once.
func (c *Controller) Prune(ctx context.Context) error {
	now := c.now()
	// Day partitions (store/postgres) from the oldest day not packed to
	// two days ahead, so that ingest never waits for one; the days before
	// are packed.
	if c.shared != nil {
		made, err := c.shared.MaintainPartitions(ctx, now.Add(-packAfter), now.Add(48*time.Hour))
		if err != nil {
			return err
		}
		if made > 0 {
			c.log.Info("result partitions made", "days", made)
		}
		packed, err := c.shared.PackResults(ctx, now.Add(-packAfter))
		if err != nil {
			return err
		}
		if packed > 0 {
			c.log.Info("closed days of results packed", "results", packed)
		}
	}
	// Region health is kept as long as the raw results it judges.
	if _, err := c.store.PruneHealth(ctx, now.Add(-c.rawRetention)); err != nil {
		return err
	}
	c.probes.PruneHealth(now.Add(-c.rawRetention))
	n, err := c.store.PruneResults(ctx, now.Add(-c.rawRetention))
	c.metrics.pruned.WithLabelValues("results").Add(float64(n))
	if err != nil {
		return err
	}
	m, err := c.store.PruneSlices(ctx, sla.MinuteOf(now.Add(-c.sliceRetention)))
	c.metrics.pruned.WithLabelValues("slices").Add(float64(m))
	if n+m > 0 {
		c.log.Info("retention applied", "results", n, "slices", m)
	}
	if err != nil {
		return err
	}
	s, err := c.store.PruneSessions(ctx, now)
	c.metrics.pruned.WithLabelValues("sessions").Add(float64(s))
	if err != nil {
		return err
	}
	// An event outlives the longest hold (7d) in the raw retention.
	e, err := c.store.PruneAlertEvents(ctx, now.Add(-max(c.rawRetention, 7*24*time.Hour)))
	c.metrics.pruned.WithLabelValues("events").Add(float64(e))
	return err
}
