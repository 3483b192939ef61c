package contentsvc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/nines-sre/nines/internal/loop"
	"github.com/nines-sre/nines/model"
)

// pushWindow is how many closed minutes each push carries: a minute's
// counts go again while late events (an SDK's queue flushed after a
// reconnect) can still change them, each push replacing what nines had.
const pushWindow = 10

// pushRenders sends nines the renders of real users, good (fresh or
// cached) of all, per minute, every interval, to the push URL of an
// events SLO (/sli/{slo}/{key}; "" while unknown).
func (s *Service) pushRenders(ctx context.Context, every time.Duration, target func() string) {
	client := &http.Client{Timeout: 10 * time.Second}
	loop.Every(ctx, every, false, func(ctx context.Context) error {
		if u := target(); u != "" {
			return s.pushOnce(ctx, client, u)
		}
		return nil
	}, func(err error) { s.log.Warn("renders not pushed to nines; trying again", "err", err) }, nil)
}

// pushOnce sends the last pushWindow closed minutes that had renders.
func (s *Service) pushOnce(ctx context.Context, client *http.Client, u string) error {
	to := s.now().UTC().Truncate(time.Minute)
	rs, err := s.evstore.Renders(ctx, to.Add(-pushWindow*time.Minute), to, "")
	if err != nil {
		return err
	}
	if len(rs) == 0 {
		return nil
	}
	var counts model.EventCounts
	for _, r := range rs {
		counts.Counts = append(counts.Counts, model.MinuteEvents{Minute: r.Minute, Good: r.Good, Valid: r.Valid})
	}
	status, answer, err := postJSON(ctx, client, u, counts)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("nines answered %d %s: %s", status, http.StatusText(status), answer)
	}
	return nil
}

// postJSON posts v as JSON to u and returns the answer's status and the
// start of its body.
func postJSON(ctx context.Context, client *http.Client, u string, v any) (int, []byte, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return resp.StatusCode, bytes.TrimSpace(answer), nil
}
