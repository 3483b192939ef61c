package controller

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"

	"github.com/nines-sre/nines/model"
	"github.com/nines-sre/nines/transport"
)

// natsLoop consumes result batches from NATS JetStream; a message is
// acknowledged only once its results are committed.
func (c *Controller) natsLoop(ctx context.Context, url string) {
	nc, js, err := transport.Connect(ctx, url, "nines-controller")
	if err != nil {
		c.log.Error("NATS transport unavailable", "url", url, "err", err)
		return
	}
	defer nc.Close()
	c.log.Info("taking results from NATS JetStream", "url", url, "stream", transport.StreamName)
	err = transport.Consume(ctx, js, c.handleNATSBatch, func(err error) { c.log.Warn("NATS transport", "err", err) })
	if err != nil && ctx.Err() == nil {
		c.log.Error("NATS transport stopped", "err", err)
	}
}

func (c *Controller) handleNATSBatch(ctx context.Context, token string, gz bool, data []byte) error {
	region, _ := c.regionOfToken(token)
	if region == "" {
		c.metrics.batches.WithLabelValues("401").Inc()
		return fmt.Errorf("a batch with an unknown probe token: %w", transport.ErrRejected)
	}
	if gz {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return fmt.Errorf("batch from %s: %v: %w", region, err, transport.ErrRejected)
		}
		if data, err = io.ReadAll(io.LimitReader(zr, 64<<20)); err != nil {
			return fmt.Errorf("batch from %s: %v: %w", region, err, transport.ErrRejected)
		}
	}
	var batch model.ResultBatch
	if err := jsonUnmarshal(data, &batch); err != nil {
		c.metrics.batches.WithLabelValues("400").Inc()
		return fmt.Errorf("batch from %s: %v: %w", region, err, transport.ErrRejected)
	}
	if _, ierr := c.ingest(ctx, region, &batch); ierr != nil {
		c.metrics.batches.WithLabelValues(fmt.Sprint(ierr.code)).Inc()
		if ierr.code == 500 {
			return fmt.Errorf("batch from %s: %s", region, ierr.msg)
		}
		return fmt.Errorf("batch from %s: %s: %w", region, ierr.msg, transport.ErrRejected)
	}
	c.metrics.batches.WithLabelValues("200").Inc()
	return nil
}
