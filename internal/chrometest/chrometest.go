// Package chrometest runs headless Chromium (Debian's chromium) for tests,
// through chromedp.
package chrometest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/nines-sre/nines/internal/chromium"
)

// Path finds Chromium, or skips the test saying how to get it.
func Path(t testing.TB) string {
	t.Helper()
	for _, p := range []string{os.Getenv("NINES_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	t.Skip("browser tests need Chromium: apt-get install -y chromium (or set NINES_CHROMIUM); .ci/run installs it")
	return ""
}

// New starts Chromium at exe as the probe does (internal/chromium); the
// returned context drives its first tab for at most limit.
func New(t testing.TB, exe string, limit time.Duration) (context.Context, context.CancelFunc) {
	t.Helper()
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), chromium.Options(exe, 1280, 1600)...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, limit)
	return ctx, func() { cancelTimeout(); cancel(); cancelAlloc() }
}
