// Package chromium says how nines starts Chromium: headless, on a profile
// of its own, reaching for nothing by itself (no background networking,
// component updates or sync), for the probe's browser and the tests alike.
package chromium

import "github.com/chromedp/chromedp"

// Options are the allocator options for Chromium at exec with a window of
// width × height.
func Options(exec string, width, height int) []chromedp.ExecAllocatorOption {
	return append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exec), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true), chromedp.WindowSize(width, height))
}
