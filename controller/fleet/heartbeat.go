package fleet

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/controller/store"
	"github.com/nines-sre/nines/model"
)

// ProbeIDRule says what a probe id may be.
const ProbeIDRule = "a probe id is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"

// ValidProbeID reports whether id is a valid probe id.
func ValidProbeID(id string) bool { return config.ValidProbeID(id) }

// MaxSkew is how far a probe's clock may be from the controller's before
// it is flagged.
const MaxSkew = 30 * time.Second

// Store is where the fleet shares probes and region health with other
// replicas.
type Store interface {
	SaveProbe(ctx context.Context, p store.Probe) error
	PutHealth(ctx context.Context, span store.HealthSpan) error
	ForgetProbe(ctx context.Context, id, region string) error
	MarkRegionDirty(ctx context.Context, region string, from, to time.Time) error
}

// MaxAttestedAge is how far back a probe may vouch for its region's
// health: as long as a probe keeps results through an outage.
const MaxAttestedAge = 7 * 24 * time.Hour

// Fleet is the probe registry over a store.
type Fleet struct {
	*Registry
	Store Store
	Log   *slog.Logger
	// Skewed is told of a probe of region whose clock is off by more
	// than MaxSkew.
	Skewed func(region string)
}

// Refusal is a heartbeat refused, with the HTTP status and the field that
// say why.
type Refusal struct {
	Code       int
	Field, Msg string
}

func (r *Refusal) Error() string { return r.Field + ": " + r.Msg }

// Heartbeat admits hb from a probe of region at now: a valid id, its
// token's region, and room in the region (probes.max_per_region) for a
// probe not known yet. It records the probe and the region's health, here
// and in the store, and flags a skewed clock.
func (f *Fleet) Heartbeat(ctx context.Context, cfg *config.Config, region string, hb model.Heartbeat, now time.Time) (model.HeartbeatAck, *Refusal) {
	switch {
	case !ValidProbeID(hb.Probe):
		return model.HeartbeatAck{}, &Refusal{http.StatusBadRequest, "probe", ProbeIDRule}
	case hb.Region != region:
		return model.HeartbeatAck{}, &Refusal{http.StatusForbidden, "region", "this token belongs to region " + region + ", not " + hb.Region}
	case !f.Known(hb.Probe, region) && f.Count(region) >= cfg.Probes.MaxPerRegion:
		f.Log.Warn("probe refused: its region has as many probes as it may", "probe", hb.Probe, "region", region, "max", cfg.Probes.MaxPerRegion)
		return model.HeartbeatAck{}, &Refusal{http.StatusForbidden, "probe",
			fmt.Sprintf("region %s already has %d probes, the most probes.max_per_region allows", region, cfg.Probes.MaxPerRegion)}
	}
	for i, c := range hb.Capabilities {
		if !slices.Contains(model.Capabilities, c) || i >= len(model.Capabilities) {
			return model.HeartbeatAck{}, &Refusal{http.StatusBadRequest, fmt.Sprintf("capabilities[%d]", i),
				fmt.Sprintf("%q is not one of %s", model.Clip(c, 32), strings.Join(model.Capabilities, ", "))}
		}
	}
	if len(hb.Attested) > model.MaxAttested {
		return model.HeartbeatAck{}, &Refusal{http.StatusBadRequest, "attested", fmt.Sprintf("%d spans, more than the %d a heartbeat may carry", len(hb.Attested), model.MaxAttested)}
	}
	for i, a := range hb.Attested {
		switch {
		case a.From.IsZero() || a.To.Before(a.From):
			return model.HeartbeatAck{}, &Refusal{http.StatusBadRequest, fmt.Sprintf("attested[%d]", i), "a span from a time to a later one"}
		case a.To.After(now.Add(MaxSkew)) || a.From.Before(now.Add(-MaxAttestedAge)):
			return model.HeartbeatAck{}, &Refusal{http.StatusBadRequest, fmt.Sprintf("attested[%d]", i),
				fmt.Sprintf("%s to %s is not within the last %s", a.From.UTC().Format(time.RFC3339), a.To.UTC().Format(time.RFC3339), MaxAttestedAge)}
		}
	}
	// The probe's own round-trip measurement when it sends one; otherwise
	// its send time, which a request held up in transit makes look late,
	// so only a clock ahead of ours is flagged from it.
	var skew time.Duration
	flag := false
	switch {
	case hb.ClockOffsetMS != nil:
		skew = time.Duration(*hb.ClockOffsetMS) * time.Millisecond
		flag = skew > MaxSkew || skew < -MaxSkew
	case !hb.SentAt.IsZero():
		skew = hb.SentAt.Sub(now)
		flag = skew > MaxSkew
	}
	if flag {
		f.Skewed(region)
		f.Log.Warn("probe clock skew", "probe", hb.Probe, "region", region, "skew", skew)
	}
	p := store.Probe{ID: hb.Probe, Region: region, Version: hb.Version, StartedAt: hb.StartedAt, LastHeartbeat: now, SpoolDepth: hb.SpoolDepth, ClockSkew: skew,
		Capabilities: hb.Capabilities}
	span, widened := f.Registry.Heartbeat(p, cfg.UnhealthyAfter())
	p.FirstSeen = f.FirstSeen(p.ID)
	if err := f.Store.SaveProbe(ctx, p); err != nil {
		f.Log.Warn("heartbeat not shared with other replicas", "probe", hb.Probe, "err", err)
	}
	if widened {
		if err := f.Store.PutHealth(ctx, span); err != nil {
			f.Log.Warn("region health not stored", "region", region, "err", err)
		}
	}
	f.attest(ctx, cfg, region, hb, skew)
	return model.HeartbeatAck{HeartbeatInterval: cfg.Probes.HeartbeatInterval.D(), Assignment: f.AssignmentETag(cfg, region, hb.Probe, now),
		ServerTime: now.UTC()}, nil
}

// attest takes in the spans a probe vouches for (model.Heartbeat.Attested),
// on the controller's clock: the region was healthy then, and the minutes
// of its results from then are computed again.
func (f *Fleet) attest(ctx context.Context, cfg *config.Config, region string, hb model.Heartbeat, skew time.Duration) {
	if len(hb.Attested) == 0 {
		return
	}
	spans := make([]store.HealthSpan, len(hb.Attested))
	for i, a := range hb.Attested {
		spans[i] = store.HealthSpan{Region: region, From: a.From.Add(-skew).UTC(), To: a.To.Add(-skew).UTC()}
	}
	changed := f.Registry.Attest(region, spans)
	for _, span := range changed {
		if err := f.Store.PutHealth(ctx, span); err != nil {
			f.Log.Warn("region health not stored", "region", region, "err", err)
		}
		if err := f.Store.MarkRegionDirty(ctx, region, span.From, span.To.Add(cfg.UnhealthyAfter())); err != nil {
			f.Log.Warn("minutes of a region's results not marked to compute again", "region", region, "err", err)
		}
	}
	if len(changed) > 0 {
		f.Log.Info("region health vouched for by its probe while no controller heard it", "region", region, "probe", hb.Probe,
			"from", spans[0].From.Format(time.RFC3339), "to", spans[len(spans)-1].To.Format(time.RFC3339))
	}
}

// Deregister forgets a probe of region that is shutting down: the one
// that started at started (so that another holder of its token cannot
// take a running probe off its checks). It keeps the probe's tenure.
func (f *Fleet) Deregister(ctx context.Context, region, probe string, started time.Time) *Refusal {
	if at, ok := f.StartedAt(probe, region); !ok {
		return nil // gone already
	} else if at.UnixMilli() != started.UnixMilli() {
		f.Log.Warn("deregistration refused: not from the running probe", "probe", probe, "region", region)
		return &Refusal{http.StatusConflict, "started_at", "not the start of the running probe " + model.Clip(probe, 64)}
	}
	f.Forget(probe, region)
	if err := f.Store.ForgetProbe(ctx, probe, region); err != nil {
		f.Log.Warn("deregistration not shared with other replicas", "probe", probe, "err", err)
	}
	f.Log.Info("probe deregistered", "probe", probe, "region", region)
	return nil
}

// ForgetSilent forgets the probes not heard from since before, with their
// share of the checks, and removes them from the store.
func (f *Fleet) ForgetSilent(ctx context.Context, before time.Time) error {
	for _, p := range f.DropSilent(before) {
		f.Log.Info("silent probe forgotten", "probe", p.ID, "region", p.Region, "last_heartbeat", p.LastHeartbeat)
		if err := f.Store.ForgetProbe(ctx, p.ID, p.Region); err != nil {
			return err
		}
	}
	return nil
}
