package pages

import (
	"testing"

	"github.com/nines-sre/nines/model"
)

func TestComponentStatusVocabulary(t *testing.T) {
	up, down, deg, unk, mnt := model.StatusUp, model.StatusDown, model.StatusDegraded, model.StatusUnknown, model.StatusMaintenance
	for _, tc := range []struct {
		in   []model.Status
		want string
	}{
		{[]model.Status{up, up}, "operational"},
		{[]model.Status{up, deg}, "degraded_performance"},
		{[]model.Status{up, down}, "partial_outage"},
		{[]model.Status{down, down}, "major_outage"},
		{[]model.Status{up, mnt}, "under_maintenance"},
		{[]model.Status{mnt, mnt}, "under_maintenance"},
		{[]model.Status{unk, unk}, "no_data"},
		// A real outage outside the window is not silenced by it.
		{[]model.Status{down, mnt}, "major_outage"},
		{[]model.Status{down, up, mnt}, "partial_outage"},
	} {
		if got := componentStatus(tc.in); got != tc.want {
			t.Errorf("%v = %s, want %s", tc.in, got, tc.want)
		}
	}
}
