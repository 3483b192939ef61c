package controller

import (
	"context"
	"time"

	gojson "github.com/goccy/go-json"

	"github.com/nines-sre/nines/controller/live"
	"github.com/nines-sre/nines/internal/snapshot"
)

// The public documents (the status JSON in full and compact, the status
// page, the badges) are rendered once per change of what they show, not
// per request: an outage's crowd then costs a copy of bytes per visitor,
// and never slows the ingest and detection behind it.

// Publishing defaults: a document is rendered at most once a second, and
// at once (within a tenth of that) when a region's result turns from up to
// down or back; a change of what it shows (an incident, a minute that was
// not up, the configuration) renders it within the second. What changes
// all the time without changing a verdict (each region's newest result
// time and latency, a day bar's share of up minutes, a region falling
// silent) shows within 5 s: the documents then cost the same at 50,000
// checks whatever arrives.
const (
	defaultPublishEvery = time.Second
	publishMaxAge       = 5 * time.Second
)

// published holds the status API's documents.
type published struct {
	status  *snapshot.Cache[*live.StatusResponse]
	compact *snapshot.Cache[*live.CompactStatus]
}

// changed says that something the public documents show has changed.
func (c *Controller) changed() { c.changes.Add(1) }

// version changes whenever what the public documents show has changed in
// a way that cannot wait for publishMaxAge: a change said by changed, or
// a region turning healthy or not (which a replica learns by its sync,
// and time alone can bring).
func (c *Controller) version() uint64 {
	return c.changes.Load()*0x9e3779b97f4a7c15 ^ c.probes.HealthSignature(c.now(), c.Config().UnhealthyAfter())
}

// publishOptions are the snapshot options of the public documents; every
// < 0 renders them for every request.
func (c *Controller) publishOptions(every time.Duration) snapshot.Options {
	if every < 0 {
		return snapshot.Options{}
	}
	if every == 0 {
		every = defaultPublishEvery
	}
	return snapshot.Options{Version: c.version, Urgent: c.latest.Flips, MinInterval: every, MaxAge: publishMaxAge}
}

func (c *Controller) initPublished(o snapshot.Options) {
	c.published.status = snapshot.New("application/json", o, func(context.Context) (*live.StatusResponse, []byte, error) {
		st, _ := c.status(live.Query{Public: true}) // what the public may see
		b, err := gojson.Marshal(&st)
		return &st, append(b, '\n'), err
	})
	c.published.compact = snapshot.New("application/json", o, func(ctx context.Context) (*live.CompactStatus, []byte, error) {
		e, err := c.published.status.Get(ctx)
		if err != nil {
			return nil, nil, err
		}
		cs := live.Compact(e.Value)
		b, err := gojson.Marshal(cs)
		return cs, append(b, '\n'), err
	})
}

// exported is what the static export last wrote.
type exported struct {
	version, flips uint64
	at             time.Time
}

// exportEvery is how often the static export is written when nothing it
// shows changed: the copy says how old it is.
const exportEvery = time.Minute

// exportChanged writes the static export when what it shows changed since
// the last one (checked every second), and at least every exportEvery.
func (c *Controller) exportChanged(ctx context.Context) error {
	v, flips, now := c.version(), c.latest.Flips(), time.Now()
	last := c.lastExport
	if v == last.version && flips == last.flips && now.Sub(last.at) < exportEvery {
		return nil
	}
	if err := c.pages.Export(ctx); err != nil {
		return err
	}
	c.lastExport = exported{version: v, flips: flips, at: now}
	return nil
}
