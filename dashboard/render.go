package dashboard

import (
	"embed"
	"encoding/json"
	"fmt"
	"html"
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/nines-sre/nines/model"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

var overallText = map[string]string{
	Operational: "All systems operational", DegradedPerformance: "Some systems are slow or failing in some regions",
	PartialOutage: "Partial outage", MajorOutage: "Major outage", UnderMaintenance: "Maintenance in progress", NoData: "Waiting for the first results",
}

var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"alertpath": model.AlertPath,
	"shotpath":  ScreenshotPath,
	"label": func(s string) string {
		if l, ok := Labels[s]; ok {
			return l
		}
		return s
	},
	"overall":   func(s string) string { return overallText[s] },
	"ftime":     func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"rfc3339":   func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"month":     func(t time.Time) string { return t.UTC().Format("2006-01") },
	"monthname": func(t time.Time) string { return t.UTC().Format("January 2006") },
	"lasted":    lasted,
	"uptime": func(v *float64) string {
		if v == nil {
			return "no data"
		}
		return strconv.FormatFloat(*v*100, 'f', 2, 64) + "%"
	},
	"pct":        func(v float64) string { return strconv.FormatFloat(v*100, 'f', 1, 64) + "%" },
	"f1":         func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) },
	"inc":        func(i int) int { return i + 1 },
	"join":       func(s []string) string { return strings.Join(s, ", ") },
	"impacts":    func() []string { return []string{"none", "minor", "major", "critical"} },
	"burnchart":  burnChart,
	"latchart":   latencyChart,
	"vitalcell":  vitalCell,
	"vitalchart": vitalChart,
	"detail":     detail,
	// alertclass and alertword say an alert's state: a pending alert is
	// not yet a verdict, and one that resolved without ever firing was
	// dropped, not recovered.
	"alertclass": func(a Alert) string {
		switch {
		case a.State == "firing":
			return "down"
		case a.State == "acknowledged":
			return "degraded"
		case a.State == "pending", a.FiredAt == nil:
			return "unknown"
		}
		return "up"
	},
	"alertword": func(a Alert) string {
		if a.State == "resolved" && a.FiredAt == nil {
			return "dropped"
		}
		return a.State
	},
}).ParseFS(templateFS, "templates/*.html"))

// detail writes an alert detail for a person: text and numbers as they
// are, a list of them joined, anything else as JSON (never Go's syntax).
func detail(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool, int, int64, float64:
		return fmt.Sprint(x)
	case time.Time:
		return x.UTC().Format("2006-01-02 15:04:05 UTC")
	case []string:
		return strings.Join(x, ", ")
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			switch e.(type) {
			case string, bool, int, int64, float64:
				parts[i] = fmt.Sprint(e)
			default:
				b, _ := json.Marshal(e)
				parts[i] = string(b)
			}
		}
		return strings.Join(parts, ", ")
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// appendDate writes t as YYYY-MM-DD.
func appendDate(b []byte, t time.Time) []byte {
	y, m, d := t.Date()
	b = strconv.AppendInt(b, int64(y), 10)
	b = append(b, '-', byte('0'+m/10), byte('0'+m%10), '-', byte('0'+d/10), byte('0'+d%10))
	return b
}

// appendPercent writes v (a ratio) as a percentage with two decimals.
func appendPercent(b []byte, v float64) []byte {
	hundredths := int64(math.Round(v * 10000))
	b = strconv.AppendInt(b, hundredths/100, 10)
	frac := hundredths % 100
	return append(b, '.', byte('0'+frac/10), byte('0'+frac%10))
}

// appendBars draws 90 daily uptime bars as one SVG; each bar has a <title>
// (the tooltip) that says the date and the figure, so no colour is needed
// to read it. Written by hand: a status page of 500 components draws 45,000
// of them.
func appendBars(b []byte, days []Day) []byte {
	n := len(days)
	b = append(b, `<svg class="bars" viewBox="0 0 `...)
	b = strconv.AppendInt(b, int64(n*6), 10)
	b = append(b, ` 34" preserveAspectRatio="none" role="img" aria-label="daily uptime over `...)
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, ` days">`...)
	for i, d := range days {
		class := "none"
		if d.Uptime != nil {
			switch u := *d.Uptime; {
			case u >= 0.9995:
				class = "ok"
			case u >= 0.99:
				class = "minor"
			default:
				class = "bad"
			}
		}
		if d.Degraded > 0 && class == "ok" {
			class = "degr"
		}
		if d.Maintenance > 0 && d.Down == 0 {
			class = "maint"
		}
		b = append(b, `<rect class="`...)
		b = append(b, class...)
		b = append(b, `" x="`...)
		b = strconv.AppendInt(b, int64(i*6), 10)
		b = append(b, `" width="4" height="34"><title>`...)
		b = appendDate(b, d.Date)
		if d.Uptime == nil {
			b = append(b, ": no data"...)
		} else {
			b = append(b, ": "...)
			b = appendPercent(b, *d.Uptime)
			b = append(b, "% uptime"...)
			if d.Down > 0 {
				b = append(b, ", "...)
				b = strconv.AppendInt(b, int64(d.Down), 10)
				b = append(b, " min down"...)
			}
			if d.Degraded > 0 {
				b = append(b, ", "...)
				b = strconv.AppendInt(b, int64(d.Degraded), 10)
				b = append(b, " min degraded"...)
			}
		}
		if d.Maintenance > 0 {
			b = append(b, ", "...)
			b = strconv.AppendInt(b, int64(d.Maintenance), 10)
			b = append(b, " min maintenance"...)
		}
		b = append(b, `</title></rect>`...)
	}
	return append(b, `</svg>`...)
}

func label(s string) string {
	if l, ok := Labels[s]; ok {
		return l
	}
	return s
}

func appendBadge(b []byte, status string, attr string) []byte {
	b = append(b, `<span class="badge s-`...)
	b = append(b, html.EscapeString(status)...)
	b = append(b, `" `...)
	b = append(b, attr...)
	b = append(b, `>`...)
	b = append(b, html.EscapeString(label(status))...)
	return append(b, `</span>`...)
}

// appendComponents renders the components of a status page by hand,
// escaping every text: html/template calls its escapers through reflection
// for every field, which for 500 components is most of the time a page
// takes.
func appendComponents(b []byte, p *StatusPage) []byte {
	group := ""
	for _, c := range p.Components {
		if c.GroupID != group {
			if group != "" {
				b = append(b, `</div>`...)
			}
			if group = c.GroupID; group != "" {
				// A component group: its name and status (the worst of its
				// components'), then its components.
				b = append(b, `<div class="group" id="`...)
				b = append(b, html.EscapeString(group)...)
				b = append(b, `"><h3><span>`...)
				b = append(b, html.EscapeString(c.Group)...)
				b = append(b, `</span> `...)
				b = appendBadge(b, c.GroupStatus, `data-status="`+html.EscapeString(c.GroupStatus)+`"`)
				b = append(b, `</h3>`...)
			}
		}
		id := html.EscapeString(c.ID)
		b = append(b, `<section class="component" id="component-`...)
		b = append(b, id...)
		b = append(b, `"><header><strong>`...)
		b = append(b, html.EscapeString(c.Name)...)
		b = append(b, `</strong> `...)
		b = appendBadge(b, c.Status, `data-status="`+html.EscapeString(c.Status)+`"`)
		b = append(b, `</header>`...)
		if c.Description != "" {
			b = append(b, `<div class="muted">`...)
			b = append(b, html.EscapeString(c.Description)...)
			b = append(b, `</div>`...)
		}
		b = appendBars(b, c.Days)
		b = append(b, `<div class="legend"><span>`...)
		b = strconv.AppendInt(b, int64(len(c.Days)), 10)
		b = append(b, ` days ago</span><span>`...)
		if c.Uptime90 == nil {
			b = append(b, "no data"...)
		} else {
			b = appendPercent(b, *c.Uptime90)
			b = append(b, "% uptime"...)
		}
		b = append(b, `</span><span>Today</span></div></section>`...)
	}
	if group != "" {
		b = append(b, `</div>`...)
	}
	return b
}

// appendMatrix renders the region matrix rows.
func appendMatrix(m []byte, p *StatusPage) []byte {
	for _, c := range p.Components {
		m = append(m, `<tr data-component="`...)
		m = append(m, html.EscapeString(c.ID)...)
		m = append(m, `"><th scope="row">`...)
		m = append(m, html.EscapeString(c.Name)...)
		m = append(m, `</th>`...)
		for _, cell := range c.Cells {
			if cell.Status == "" { // no check of the component runs there
				m = append(m, `<td class="muted" data-region="`+html.EscapeString(cell.Region)+`" title="not checked from this region">—</td>`...)
				continue
			}
			m = append(m, `<td>`...)
			m = appendBadge(m, cell.Status, `data-region="`+html.EscapeString(cell.Region)+`"`)
			m = append(m, `</td>`...)
		}
		m = append(m, "</tr>\n"...)
	}
	return m
}

// burnChart draws burn rates per window as labelled bars, with the 1×
// line (spending the budget exactly over the window).
func burnChart(burn []Burn) template.HTML {
	const w, h, pad = 420, 120, 24
	most := 1.0
	for _, b := range burn {
		most = math.Max(most, b.Rate)
	}
	scale := float64(h-2*pad) / math.Log1p(most)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="burn rates">`, w, h)
	step := float64(w-pad) / float64(max(len(burn), 1))
	for i, br := range burn {
		bh := math.Log1p(br.Rate) * scale
		x := float64(pad) + float64(i)*step
		color := "#1a7f37"
		if br.Rate > 1 {
			color = "#9a6700"
		}
		if br.Rate >= 6 {
			color = "#cf222e"
		}
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s: %.2f×</title></rect>`,
			x, float64(h-pad)-bh, step*0.6, bh, color, br.Window, br.Rate)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d">%s</text><text x="%.1f" y="%.1f">%.1f×</text>`, x, h-8, br.Window, x, float64(h-pad)-bh-3, br.Rate)
	}
	one := float64(h-pad) - math.Log1p(1)*scale
	fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#57606a" stroke-dasharray="4 3"/><text x="0" y="%.1f">1×</text></svg>`, pad, w, one, one, one+3)
	return template.HTML(b.String()) //nolint:gosec // numbers only
}

// latencyChart draws p50, p95 and p99 over time as three lines.
func latencyChart(points []Percentile) template.HTML {
	const w, h, pad = 480, 140, 30
	if len(points) == 0 {
		return ""
	}
	top := 1.0
	for _, p := range points {
		top = math.Max(top, math.Max(p.P99, p.FailedMS))
	}
	x := func(i int) float64 {
		if len(points) == 1 {
			return float64(w) / 2
		}
		return pad + float64(i)*float64(w-pad-4)/float64(len(points)-1)
	}
	y := func(v float64) float64 { return float64(h-pad) - v/top*float64(h-2*pad) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="latency percentiles">`, w, h)
	for _, line := range []struct {
		name, color string
		get         func(Percentile) float64
	}{{"p50", "#1a7f37", func(p Percentile) float64 { return p.P50 }}, {"p95", "#9a6700", func(p Percentile) float64 { return p.P95 }},
		{"p99", "#cf222e", func(p Percentile) float64 { return p.P99 }}} {
		b.WriteString(`<polyline fill="none" stroke-width="1.5" stroke="` + line.color + `" points="`)
		for i, p := range points {
			if p.Up > 0 {
				fmt.Fprintf(&b, "%.1f,%.1f ", x(i), y(line.get(p)))
			}
		}
		fmt.Fprintf(&b, `"><title>%s</title></polyline>`, line.name)
		// A dot per point, so that one point (the first minutes) shows.
		for i, p := range points {
			if p.Up > 0 {
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="2" fill="%s"><title>%s %.1f ms</title></circle>`, x(i), y(line.get(p)), line.color, line.name, line.get(p))
			}
		}
	}
	for i, p := range points {
		if p.Failed > 0 {
			fmt.Fprintf(&b, `<g class="failed"><title>%d failed at %s, the longest %.0f ms</title><path d="M%.1f %.1f l6 6 m0 -6 l-6 6" stroke="#cf222e" stroke-width="2"/></g>`,
				p.Failed, p.At.UTC().Format("2006-01-02 15:04"), p.FailedMS, x(i)-3, y(p.FailedMS)-3)
		}
	}
	layout := "15:04"
	if points[len(points)-1].At.Sub(points[0].At) > 24*time.Hour {
		layout = "Jan 2"
	}
	fmt.Fprintf(&b, `<text x="0" y="%d">%.0f ms</text><text x="0" y="%d">0</text>`, pad, top, h-pad)
	fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text><text x="%d" y="%d">%s</text>`, pad, h-8, points[0].At.UTC().Format(layout), w-60, h-8,
		points[len(points)-1].At.UTC().Format(layout))
	b.WriteString(`<text x="230" y="12">p50 green · p95 amber · p99 red · × failed</text></svg>`)
	return template.HTML(b.String()) //nolint:gosec // numbers and times only
}

// formatVital is a figure in its unit: milliseconds whole, CLS to three
// places.
func formatVital(f Vital, v float64) string {
	if f.Unit == "" {
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
	return strconv.FormatFloat(v, 'f', 0, 64) + " " + f.Unit
}

// vitalCell is the i-th figure of VitalFigures in a table cell, rated.
func vitalCell(i int, v *float64) template.HTML {
	f := VitalFigures[i]
	if v == nil {
		return `<td class="num muted" title="no run measured it">–</td>`
	}
	r := f.Rating(*v)
	return template.HTML(fmt.Sprintf(`<td class="num v-%s" data-figure="%s" title="%s (good up to %s, poor above %s)">%s</td>`, //nolint:gosec // numbers and fixed names only
		r, f.Name, r, formatVital(f, f.Good), formatVital(f, f.Poor), formatVital(f, *v)))
}

// regionColors tell the regions' lines apart.
var regionColors = []string{"#0969da", "#1a7f37", "#9a6700", "#8250df", "#bf3989", "#cf222e", "#57606a"}

// vitalChart draws a figure's 75th percentile per period, a line per
// region, over dashed lines at the good and poor thresholds.
func vitalChart(c VitalChart) template.HTML {
	const w, h, pad = 480, 150, 34
	if len(c.Series) == 0 {
		return ""
	}
	first, last := c.Series[0].Points[0].At, c.Series[0].Points[0].At
	top := c.Poor * 1.1
	for _, s := range c.Series {
		for _, p := range s.Points {
			top = math.Max(top, p.P75)
			if p.At.Before(first) {
				first = p.At
			}
			if p.At.After(last) {
				last = p.At
			}
		}
	}
	span := last.Sub(first)
	x := func(at time.Time) float64 {
		if span <= 0 {
			return float64(w) / 2
		}
		return pad + float64(at.Sub(first))/float64(span)*float64(w-pad-4)
	}
	y := func(v float64) float64 { return float64(h-pad) - v/top*float64(h-2*pad) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart vital" data-figure="%s" viewBox="0 0 %d %d" role="img" aria-label="%s by region">`, c.Name, w, h, c.Label)
	for _, t := range []struct {
		v     float64
		name  string
		color string
	}{{c.Good, "good", "#1a7f37"}, {c.Poor, "poor", "#cf222e"}} {
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="%s" stroke-dasharray="4 3"/><text x="%d" y="%.1f">%s %s</text>`,
			pad, w, y(t.v), y(t.v), t.color, w-110, y(t.v)-2, t.name, html.EscapeString(formatVital(c.Vital, t.v)))
	}
	for i, s := range c.Series {
		color := regionColors[i%len(regionColors)]
		b.WriteString(`<polyline fill="none" stroke-width="1.5" stroke="` + color + `" points="`)
		for _, p := range s.Points {
			fmt.Fprintf(&b, "%.1f,%.1f ", x(p.At), y(p.P75))
		}
		fmt.Fprintf(&b, `"><title>%s</title></polyline>`, html.EscapeString(s.Region))
		for _, p := range s.Points {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="2" fill="%s"><title>%s %s: %s</title></circle>`, x(p.At), y(p.P75), color,
				html.EscapeString(s.Region), p.At.UTC().Format("15:04"), html.EscapeString(formatVital(c.Vital, p.P75)))
		}
		fmt.Fprintf(&b, `<text x="%d" y="12" fill="%s">%s</text>`, pad+i*64, color, html.EscapeString(s.Region))
	}
	layout := "15:04"
	if span > 24*time.Hour {
		layout = "Jan 2"
	}
	fmt.Fprintf(&b, `<text x="0" y="%d">%s</text><text x="0" y="%d">0</text>`, pad, html.EscapeString(formatVital(c.Vital, top)), h-pad)
	fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text><text x="%d" y="%d">%s</text></svg>`, pad, h-8, first.UTC().Format(layout), w-60, h-8, last.UTC().Format(layout))
	return template.HTML(b.String()) //nolint:gosec // numbers, times and escaped region names only
}

// badgeSVG is a shields-style badge: the label and the figure in text.
func badgeSVG(label, value, color string) []byte {
	lw, vw := 7*len(label)+10, 7*len(value)+10
	return []byte(fmt.Sprintf(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="20" role="img" aria-label="%s: %s">`+
		`<title>%s: %s</title><rect width="%d" height="20" fill="#555"/><rect x="%d" width="%d" height="20" fill="%s"/>`+
		`<g fill="#fff" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11"><text x="5" y="14">%s</text><text x="%d" y="14">%s</text></g></svg>`,
		lw+vw, template.HTMLEscapeString(label), value, template.HTMLEscapeString(label), value, lw, lw, vw, color,
		template.HTMLEscapeString(label), lw+5, value))
}

// lasted says how long a resolved incident lasted ("" while it is open).
func lasted(in Incident) string {
	if in.ResolvedAt == nil {
		return ""
	}
	d := in.ResolvedAt.Sub(in.StartedAt).Round(time.Minute)
	if d < time.Minute {
		return "under a minute"
	}
	return strings.TrimSuffix(d.String(), "0s")
}
