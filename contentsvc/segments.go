package contentsvc

import (
	"fmt"
	"hash/fnv"
	"os"
	"regexp"
	"slices"

	"go.yaml.in/yaml/v3"
)

// Everyone is the segment every user is in, and the SDK's fallback.
const Everyone = "everyone"

// SegmentRule puts users in a segment: by attributes (all must match one of
// their values) and/or a stable percentage of users.
type SegmentRule struct {
	ID      string              `yaml:"id" json:"id"`
	Match   map[string][]string `yaml:"match" json:"match,omitempty"`
	Percent int                 `yaml:"percent" json:"percent,omitempty"`
}

// DefaultSegments are used without a segments file.
var DefaultSegments = []SegmentRule{
	{ID: "beta", Match: map[string][]string{"plan": {"pro", "enterprise"}}},
	{ID: "germany", Match: map[string][]string{"country": {"DE"}}},
	{ID: "canary", Percent: 10},
}

var segmentID = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// LoadSegments reads rules from a YAML file with a `segments` list.
func LoadSegments(path string) ([]SegmentRule, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("segments: %w", err)
	}
	var doc struct {
		Segments []SegmentRule `yaml:"segments"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("segments %s: %w", path, err)
	}
	for i, r := range doc.Segments {
		switch {
		case !segmentID.MatchString(r.ID) || r.ID == Everyone:
			return nil, fmt.Errorf("segments %s: segments[%d].id: %q is not a valid segment id", path, i, r.ID)
		case r.Percent < 0 || r.Percent > 100:
			return nil, fmt.Errorf("segments %s: segments[%d].percent: %d is outside 0..100", path, i, r.Percent)
		case len(r.Match) == 0 && r.Percent == 0:
			return nil, fmt.Errorf("segments %s: segments[%d]: give match or percent", path, i)
		}
	}
	return doc.Segments, nil
}

// Assign returns the segments of a user: everyone, then every rule that
// matches, in rule order.
func Assign(rules []SegmentRule, user string, attrs map[string]string) []string {
	out := []string{Everyone}
	for _, r := range rules {
		ok := true
		for k, values := range r.Match {
			if !slices.Contains(values, attrs[k]) {
				ok = false
				break
			}
		}
		if ok && r.Percent > 0 {
			h := fnv.New32a()
			h.Write([]byte(r.ID + "/" + user))
			ok = int(h.Sum32()%100) < r.Percent
		}
		if ok {
			out = append(out, r.ID)
		}
	}
	return out
}

// known reports whether id is a segment.
func known(rules []SegmentRule, id string) bool {
	if id == Everyone {
		return true
	}
	for _, r := range rules {
		if r.ID == id {
			return true
		}
	}
	return false
}
