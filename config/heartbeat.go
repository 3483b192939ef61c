package config

import (
	"crypto/sha256"
	"crypto/subtle"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/nines-sre/nines/model"
)

// Heartbeat is a push check: the job calls /ping/{check}/{key} when it
// runs (with /start before and /fail for a failure). It is up while pings
// come on time, down once a period (or the next cron time) plus grace
// passes without one, or a /fail arrives. It has no regions: its results
// come from the controller itself (model.PushRegion), quorum one.
type Heartbeat struct {
	Period Duration `yaml:"period"`
	Cron   string   `yaml:"cron"`
	Grace  Duration `yaml:"grace"` // default 1m
	// Key, or KeyFile holding it, is the secret in the job's ping URL.
	Key     string `yaml:"key"`
	KeyFile string `yaml:"key_file"`

	schedule cron.Schedule
	keyHash  [32]byte
}

// heartbeatSlack is how late after a deadline the controller may notice
// the miss without the check reading unknown meanwhile.
const heartbeatSlack = 30 * time.Second

var pushRegions = []string{model.PushRegion}

func (h *Heartbeat) defaults() {
	if h.Grace == 0 {
		h.Grace = Duration(time.Minute)
	}
}

func (h *Heartbeat) validate(v *validator, p, dir string) {
	switch {
	case (h.Period == 0) == (h.Cron == ""):
		v.add(p, "set one of period and cron")
	case h.Cron != "":
		s, err := cron.ParseStandard(h.Cron)
		if err != nil {
			v.add(p+".cron", "%v", err)
		}
		h.schedule = s
	case h.Period.D() < time.Second:
		v.add(p+".period", "%s is shorter than the 1s minimum", h.Period.D())
	}
	if h.Grace < 0 {
		v.add(p+".grace", "must not be negative")
	}
	h.keyHash = v.urlKey(p, dir, &h.Key, h.KeyFile)
}

// urlKey validates a secret that goes in a URL path (key, or key_file
// holding it) and returns its hash for KeyMatches-style comparison.
func (v *validator) urlKey(p, dir string, key *string, keyFile string) [32]byte {
	switch {
	case (*key == "") == (keyFile == ""):
		v.add(p, "set one of key and key_file")
		return [32]byte{}
	case keyFile != "":
		k, err := readSecret(dir, keyFile)
		if err != nil {
			v.add(p+".key_file", "cannot read: %v", err)
			return [32]byte{}
		}
		*key = k
	}
	if len(*key) < 16 || strings.ContainsAny(*key, "/?#% ") {
		v.add(p+".key", "must be at least 16 characters, none of them / ? # %% or a space (it goes in a URL path)")
	} else if Placeholder(*key) {
		v.add(p+".key", placeholderMsg)
	}
	return sha256.Sum256([]byte(*key))
}

// keyMatches reports, in constant time, whether key hashes to hash.
func keyMatches(hash [32]byte, key string) bool {
	sum := sha256.Sum256([]byte(key))
	return subtle.ConstantTimeCompare(sum[:], hash[:]) == 1
}

// fill: a heartbeat check is never assigned to a probe.
func (h *Heartbeat) fill(*model.Check) {}

// KeyMatches reports, in constant time, whether key is the check's.
func (h *Heartbeat) KeyMatches(key string) bool { return keyMatches(h.keyHash, key) }

// Deadline is when the ping after one at last is late: the next period
// (or cron time) after last, plus grace.
func (h *Heartbeat) Deadline(last time.Time) time.Time {
	next := last.Add(h.Period.D())
	if h.schedule != nil {
		next = h.schedule.Next(last)
	}
	return next.Add(h.Grace.D())
}

// validateHeartbeat refuses on a heartbeat check what only probes use.
func (v *validator) validateHeartbeat(ch *Check, p string) {
	if len(ch.Regions) > 0 {
		v.add(p+".regions", "a heartbeat check has no regions: the job reports in to the controller")
	}
	if ch.Quorum != 0 {
		v.add(p+".quorum", "a heartbeat check has no quorum: one ping says it")
	}
	if len(ch.Assert) > 0 {
		v.add(p+".assert", "a heartbeat check has nothing to assert on: the job says /fail when it fails")
	}
	if ch.Cron != "" {
		v.add(p+".cron", "a heartbeat check takes its cron in the heartbeat block")
	}
}
