package pages

import (
	"maps"
	"slices"
	"time"

	"github.com/nines-sre/nines/dashboard"
	"github.com/nines-sre/nines/model"
)

// vitalOf is a figure of a run's page (dashboard.VitalFigures' order); ok
// is false when the run did not measure it: INP needs an interaction.
func vitalOf(b *model.BrowserFacts, i int) (v float64, ok bool) {
	switch dashboard.VitalFigures[i].Name {
	case "lcp":
		return b.LCPMS, b.LCPMS > 0
	case "cls":
		return b.CLS, true
	case "inp":
		return b.INPMS, b.INPMS > 0
	case "ttfb":
		return b.TTFBMS, true
	}
	return 0, false
}

// vitals are the page figures of a browser check's runs over the range,
// by region (in regions' order) and per period of width: the 75th
// percentile of the runs that loaded the page (whatever their outcome: a
// degraded page still loads). Nil when no run loaded it.
func vitals(rs []model.Result, regions []string, width time.Duration) *dashboard.Vitals {
	n := len(dashboard.VitalFigures)
	type values [][]float64 // by figure
	all := map[string]values{}
	per := map[string]map[time.Time]values{}
	runs := map[string]int{}
	for _, r := range rs {
		if r.Browser == nil || r.Browser.TTFBMS <= 0 {
			continue
		}
		if all[r.Region] == nil {
			all[r.Region], per[r.Region] = make(values, n), map[time.Time]values{}
		}
		at := r.Scheduled.Truncate(width)
		if per[r.Region][at] == nil {
			per[r.Region][at] = make(values, n)
		}
		runs[r.Region]++
		for i := range n {
			if v, ok := vitalOf(r.Browser, i); ok {
				all[r.Region][i] = append(all[r.Region][i], v)
				per[r.Region][at][i] = append(per[r.Region][at][i], v)
			}
		}
	}
	if len(runs) == 0 {
		return nil
	}
	p75 := func(vs []float64) float64 {
		slices.Sort(vs)
		return quantile(vs, 0.75)
	}
	out := &dashboard.Vitals{}
	for _, f := range dashboard.VitalFigures {
		out.Charts = append(out.Charts, dashboard.VitalChart{Vital: f})
	}
	for _, region := range regions {
		if runs[region] == 0 {
			continue
		}
		rv := dashboard.RegionVitals{Region: region, Runs: runs[region], P75: make([]*float64, n)}
		for i := range n {
			if vs := all[region][i]; len(vs) > 0 {
				v := p75(vs)
				rv.P75[i] = &v
			}
		}
		out.Regions = append(out.Regions, rv)
		periods := slices.SortedFunc(maps.Keys(per[region]), time.Time.Compare)
		for i := range n {
			s := dashboard.VitalSeries{Region: region}
			for _, at := range periods {
				if vs := per[region][at][i]; len(vs) > 0 {
					s.Points = append(s.Points, dashboard.VitalPoint{At: at, P75: p75(vs)})
				}
			}
			if len(s.Points) > 0 {
				out.Charts[i].Series = append(out.Charts[i].Series, s)
			}
		}
	}
	return out
}
