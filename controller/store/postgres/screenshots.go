package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nines-sre/nines/controller/store"
)

// PutScreenshot keeps s, and of its check only the newest kept.
func (s *Store) PutScreenshot(ctx context.Context, sh store.Screenshot) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO screenshots (check_id, region, scheduled_ms, message, image) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT DO NOTHING`, sh.Check, sh.Region, sh.Scheduled.UnixMilli(), sh.Message, sh.Image)
	if err == nil {
		_, err = s.pool.Exec(ctx, `DELETE FROM screenshots WHERE check_id = $1 AND (scheduled_ms, region) NOT IN
			(SELECT scheduled_ms, region FROM screenshots WHERE check_id = $1 ORDER BY scheduled_ms DESC, region LIMIT $2)`,
			sh.Check, store.KeptScreenshots)
	}
	if err != nil {
		return fmt.Errorf("keep the screenshot of %s: %w", sh.Check, err)
	}
	return nil
}

// Screenshots lists check's, newest first, without their images.
func (s *Store) Screenshots(ctx context.Context, check string) ([]store.Screenshot, error) {
	rows, err := s.pool.Query(ctx, `SELECT region, scheduled_ms, message FROM screenshots WHERE check_id = $1
		ORDER BY scheduled_ms DESC, region`, check)
	if err != nil {
		return nil, fmt.Errorf("read screenshots of %s: %w", check, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Screenshot, error) {
		sh := store.Screenshot{Check: check}
		var ms int64
		err := r.Scan(&sh.Region, &ms, &sh.Message)
		sh.Scheduled = time.UnixMilli(ms).UTC()
		return sh, err
	})
	if err != nil {
		return nil, fmt.Errorf("read screenshots of %s: %w", check, err)
	}
	return out, nil
}

// ScreenshotImage is one kept image, nil when there is none.
func (s *Store) ScreenshotImage(ctx context.Context, check, region string, scheduled time.Time) ([]byte, error) {
	var img []byte
	err := s.pool.QueryRow(ctx, `SELECT image FROM screenshots WHERE check_id = $1 AND region = $2 AND scheduled_ms = $3`,
		check, region, scheduled.UnixMilli()).Scan(&img)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read a screenshot of %s: %w", check, err)
	}
	return img, nil
}
