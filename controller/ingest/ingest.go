// Package ingest takes in result batches from probes, over HTTP or NATS
// JetStream: bounded decoding, validation against the configuration,
// storage, and news of the results that were new.
package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/controller/fleet"
	"github.com/nines-sre/nines/controller/store"
	"github.com/nines-sre/nines/model"
)

// maxFuture is how far ahead of the controller's clock a scheduled time may
// be before the result is refused as nonsense: twice the skew that is
// flagged.
const maxFuture = 2 * fleet.MaxSkew

// Store is where results go.
type Store interface {
	// InsertResults stores rs, saying for each whether it was new (not a
	// duplicate of a stored check, region and scheduled time).
	InsertResults(ctx context.Context, rs []model.Result) ([]bool, error)
	PutScreenshot(ctx context.Context, s store.Screenshot) error
}

// Metrics are the counters ingest adds to.
type Metrics struct {
	Results *prometheus.CounterVec // by outcome: stored, duplicate, rejected
	Batches *prometheus.CounterVec // by answer: an HTTP status code, or held
	Skew    *prometheus.CounterVec // by region: results started ahead of the clock
}

// Options configure an ingester.
type Options struct {
	Store  Store
	Config func() *config.Config
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	Log *slog.Logger
	// RawRetention is how old a result may be and still be taken.
	RawRetention time.Duration
	// Stored is told of the results stored, none of them duplicates.
	Stored  func(rs []model.Result)
	Metrics Metrics
}

// Ingester validates and stores result batches.
type Ingester struct {
	o       Options
	decoder Decoder
	nats    natsHealth
}

// New returns an ingester.
func New(o Options) *Ingester {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Stored == nil {
		o.Stored = func([]model.Result) {}
	}
	return &Ingester{o: o, decoder: NewDecoder()}
}

// Decoder decodes the ingester's bodies, sharing its turns for large ones.
func (g *Ingester) Decoder() Decoder { return g.decoder }

// Counted counts a batch answered with status (or "held").
func (g *Ingester) Counted(status string) { g.o.Metrics.Batches.WithLabelValues(status).Inc() }

// Error is a batch refused whole, with the HTTP status that says why and
// the field at fault.
type Error struct {
	Code       int
	Field, Msg string
}

func (e *Error) Error() string { return e.Msg }

// Batch validates and stores a batch from a probe of region, by whatever
// transport it came. With hold, results of checks not in the configuration
// are neither stored nor rejected but counted in held: the caller keeps
// them to offer again (the probe may know a check this controller's
// configuration does not know yet).
func (g *Ingester) Batch(ctx context.Context, region string, batch *model.ResultBatch, hold bool) (ack model.IngestAck, held int, _ *Error) {
	for i := range batch.Results {
		if r := batch.Results[i].Region; r != region {
			return model.IngestAck{}, 0, &Error{Code: http.StatusForbidden, Field: "results[" + strconv.Itoa(i) + "].region",
				Msg: fmt.Sprintf("this token belongs to region %s and cannot submit results for %q", region, r)}
		}
	}
	cfg := g.o.Config()
	now := g.o.Now()
	valid := make([]model.Result, 0, len(batch.Results))
	for i := range batch.Results {
		r := &batch.Results[i]
		err := r.Validate()
		ch := cfg.Check(r.Check)
		if err == nil && ch == nil {
			if hold {
				held++
				continue
			}
			err = fmt.Errorf("check: %q is not in the configuration", r.Check)
		}
		if err == nil && ch.Heartbeat != nil {
			err = fmt.Errorf("check: %q is a heartbeat check: its results are its pings", r.Check)
		}
		if err == nil && r.Scheduled.Sub(now) > maxFuture {
			err = fmt.Errorf("scheduled: %s is more than %s ahead of the controller's clock", r.Scheduled.Format(time.RFC3339), maxFuture)
		}
		if err == nil && now.Sub(r.Scheduled) > g.o.RawRetention {
			err = fmt.Errorf("scheduled: %s is older than the %s raw results are kept", r.Scheduled.Format(time.RFC3339), g.o.RawRetention)
		}
		if err != nil {
			ack.Rejected = append(ack.Rejected, model.Rejection{Index: i, Key: r.Key(), Error: "results[" + strconv.Itoa(i) + "]." + err.Error()})
			continue
		}
		if r.Started.Sub(now) > fleet.MaxSkew {
			g.o.Metrics.Skew.WithLabelValues(region).Inc()
		}
		if r.Probe == "" {
			r.Probe = batch.Probe
		}
		// Probes redact URLs and a check's secrets in their messages; an
		// older one may not.
		r.Message = model.RedactSecrets(model.RedactURLs(r.Message), ch.Secrets())
		valid = append(valid, *r)
	}
	// A screenshot is kept apart from its result, and never held with the
	// newest results in memory.
	var shots map[string][]byte
	for i := range valid {
		if valid[i].Screenshot != nil {
			if shots == nil {
				shots = map[string][]byte{}
			}
			shots[valid[i].Key()] = valid[i].Screenshot
			valid[i].Screenshot = nil
		}
	}
	stored, err := g.o.Store.InsertResults(ctx, valid)
	if err != nil {
		g.o.Log.Error("ingest failed", "region", region, "probe", batch.Probe, "results", len(valid), "err", err)
		return model.IngestAck{}, 0, &Error{Code: http.StatusInternalServerError, Msg: "results could not be stored; retry"}
	}
	fresh := valid[:0]
	for i, ok := range stored {
		if ok {
			fresh = append(fresh, valid[i])
		} else {
			ack.Duplicates++
		}
	}
	for _, r := range fresh {
		if shots == nil {
			break
		}
		if img := shots[r.Key()]; img != nil {
			if err := g.o.Store.PutScreenshot(ctx, store.Screenshot{Check: r.Check, Region: r.Region, Scheduled: r.Scheduled, Message: r.Message, Image: img}); err != nil {
				g.o.Log.Warn("a browser check's screenshot not kept", "check", r.Check, "region", r.Region, "err", err)
			}
		}
	}
	ack.Stored = len(fresh)
	if len(fresh) > 0 {
		g.o.Stored(fresh)
	}
	if len(ack.Rejected) > 0 {
		g.o.Log.Warn("results rejected", "region", region, "probe", batch.Probe, "rejected", len(ack.Rejected), "first", ack.Rejected[0].Error)
	}
	g.o.Metrics.Results.WithLabelValues("stored").Add(float64(ack.Stored))
	g.o.Metrics.Results.WithLabelValues("duplicate").Add(float64(ack.Duplicates))
	g.o.Metrics.Results.WithLabelValues("rejected").Add(float64(len(ack.Rejected)))
	return ack, held, nil
}
