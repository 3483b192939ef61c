// Package configs embeds the ready-made configurations, so that `nines demo`
// runs from the binary alone.
package configs

import (
	"bytes"
	_ "embed"
)

// Demo is configs/demo.yaml: seven regions on loopback checking contentsvc.
//
//go:embed demo.yaml
var Demo []byte

// DemoName is the name errors give the embedded demo configuration.
const DemoName = "configs/demo.yaml"

// DemoJobs is configs/demo-jobs.yaml, the component `nines demo --jobs`
// puts in place of DemoJobsMarker: the publish pipeline, a heartbeat check.
//
//go:embed demo-jobs.yaml
var DemoJobs []byte

// DemoBrowser is configs/demo-browser.yaml, the check `nines demo` puts in
// place of DemoBrowserMarker when its probes run with a browser: the demo
// application's page in Chromium.
//
//go:embed demo-browser.yaml
var DemoBrowser []byte

// DemoBrowserMarker is the line of demo.yaml that DemoBrowser replaces.
var DemoBrowserMarker = []byte("      # nines demo with a browser adds configs/demo-browser.yaml here: the app page in Chromium.\n")

// DemoJobsMarker is the line of demo.yaml that DemoJobs replaces.
var DemoJobsMarker = []byte("  # nines demo --jobs adds configs/demo-jobs.yaml here: the publish pipeline, a heartbeat check.\n")

// DemoRendersChecks is the line of demo.yaml naming the checks the renders
// SLO is shown beside and compared with; DemoRendersBrowserChecks replaces
// it when the demo runs with a browser.
var (
	DemoRendersChecks        = []byte("    checks: [content-flow]  # with a browser: [content-flow, app-page]\n")
	DemoRendersBrowserChecks = []byte("    checks: [content-flow, app-page]\n")
)

// WithBrowser is a demo configuration with its browser check: the app
// page in Chromium, among the checks the renders SLO is compared with.
func WithBrowser(raw []byte) []byte {
	raw = bytes.Replace(raw, DemoBrowserMarker, DemoBrowser, 1)
	return bytes.Replace(raw, DemoRendersChecks, DemoRendersBrowserChecks, 1)
}
