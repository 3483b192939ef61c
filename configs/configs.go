// Package configs embeds the ready-made configurations, so that `nines demo`
// runs from the binary alone.
package configs

import _ "embed"

// Demo is configs/demo.yaml: seven regions on loopback checking contentsvc.
//
//go:embed demo.yaml
var Demo []byte

// DemoName is the name errors give the embedded demo configuration.
const DemoName = "configs/demo.yaml"
