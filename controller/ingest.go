package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/nines-sre/nines/model"
)

// maxFuture is how far ahead of the controller's clock a scheduled time may
// be before the result is refused as nonsense: twice the skew that is
// flagged.
const maxFuture = 2 * maxSkew

// maxSmallBody bounds the small JSON bodies (heartbeats, acknowledgements).
const maxSmallBody = 1 << 20

// decodeJSON reads one JSON value, of at most maxSmallBody bytes, from the
// request body and names where it broke.
func decodeJSON(ec echo.Context, v any) *bodyError { return decodeSmall(ec, v, false) }

// decodeSmall is decodeJSON; with optional, an empty body leaves v as it
// is.
func decodeSmall(ec echo.Context, v any, optional bool) *bodyError {
	body, be := readLimited(ec.Response(), ec.Request(), maxSmallBody)
	if be != nil {
		return be
	}
	if optional && len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if err := jsonUnmarshal(body, v); err != nil {
		return &bodyError{http.StatusBadRequest, err.Error()}
	}
	return nil
}

// jsonUnmarshal decodes body into v with errors that say where it broke.
func jsonUnmarshal(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return jsonError(err)
	}
	return nil
}

// jsonError says where a JSON body broke.
func jsonError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("body is not valid JSON at byte %d: %v", se.Offset, se)
	case errors.As(err, &te):
		return fmt.Errorf("field %s: expected %s, got JSON %s", te.Field, te.Type, te.Value)
	case errors.Is(err, io.EOF):
		return errors.New("body: empty, a JSON value is required")
	}
	return fmt.Errorf("body: %w", err)
}

// handleIngest stores a batch of results. The whole batch is answered at
// once: every result is stored, counted as a duplicate (same check, region
// and scheduled time), or rejected for good with its index and reason; the
// probe may then delete the batch from its spool.
func (c *Controller) handleIngest(ec echo.Context) error {
	var batch model.ResultBatch
	if be := c.decodeBatch(ec.Request(), &batch, maxBatchBytes); be != nil {
		c.metrics.batches.WithLabelValues(strconv.Itoa(be.code)).Inc()
		return fail(ec, be.code, "", be.msg)
	}
	ack, _, ierr := c.ingest(ec.Request().Context(), tokenRegion(ec), &batch, false)
	if ierr != nil {
		c.metrics.batches.WithLabelValues(strconv.Itoa(ierr.code)).Inc()
		return fail(ec, ierr.code, ierr.field, ierr.msg)
	}
	c.metrics.batches.WithLabelValues("200").Inc()
	return ec.JSON(http.StatusOK, ack)
}

// ingestError is a batch refused whole.
type ingestError struct {
	code       int
	field, msg string
}

// ingest validates and stores a batch from a probe of region, by whatever
// transport it came. With hold, results of checks not in the configuration
// are neither stored nor rejected but counted in held: the caller keeps
// them to offer again (the probe may know a check this controller's
// configuration does not know yet).
func (c *Controller) ingest(ctx context.Context, region string, batch *model.ResultBatch, hold bool) (ack model.IngestAck, held int, _ *ingestError) {
	for i := range batch.Results {
		if r := batch.Results[i].Region; r != region {
			return model.IngestAck{}, 0, &ingestError{http.StatusForbidden, "results[" + strconv.Itoa(i) + "].region",
				fmt.Sprintf("this token belongs to region %s and cannot submit results for %q", region, r)}
		}
	}
	cfg := c.Config()
	now := c.now()
	valid := make([]model.Result, 0, len(batch.Results))
	for i := range batch.Results {
		r := &batch.Results[i]
		err := r.Validate()
		if err == nil && cfg.Check(r.Check) == nil {
			if hold {
				held++
				continue
			}
			err = fmt.Errorf("check: %q is not in the configuration", r.Check)
		}
		if err == nil && r.Scheduled.Sub(now) > maxFuture {
			err = fmt.Errorf("scheduled: %s is more than %s ahead of the controller's clock", r.Scheduled.Format(time.RFC3339), maxFuture)
		}
		if err == nil && now.Sub(r.Scheduled) > c.rawRetention {
			err = fmt.Errorf("scheduled: %s is older than the %s raw results are kept", r.Scheduled.Format(time.RFC3339), c.rawRetention)
		}
		if err != nil {
			ack.Rejected = append(ack.Rejected, model.Rejection{Index: i, Key: r.Key(), Error: "results[" + strconv.Itoa(i) + "]." + err.Error()})
			continue
		}
		if r.Started.Sub(now) > maxSkew {
			c.metrics.skew.WithLabelValues(region).Inc()
		}
		if r.Probe == "" {
			r.Probe = batch.Probe
		}
		// Probes redact URLs in their messages; an older one may not.
		r.Message = model.RedactURLs(r.Message)
		valid = append(valid, *r)
	}
	stored, err := c.store.InsertResults(ctx, valid)
	if err != nil {
		c.log.Error("ingest failed", "region", region, "probe", batch.Probe, "results", len(valid), "err", err)
		return model.IngestAck{}, 0, &ingestError{http.StatusInternalServerError, "", "results could not be stored; retry"}
	}
	if len(valid) > 0 {
		c.ledger.Arrived(time.Now())
	}
	for i, ok := range stored {
		if ok {
			ack.Stored++
			c.latest.offer(valid[i])
		} else {
			ack.Duplicates++
		}
	}
	if len(ack.Rejected) > 0 {
		c.log.Warn("results rejected", "region", region, "probe", batch.Probe, "rejected", len(ack.Rejected), "first", ack.Rejected[0].Error)
	}
	c.metrics.ingested.WithLabelValues("stored").Add(float64(ack.Stored))
	c.metrics.ingested.WithLabelValues("duplicate").Add(float64(ack.Duplicates))
	c.metrics.ingested.WithLabelValues("rejected").Add(float64(len(ack.Rejected)))
	return ack, held, nil
}
