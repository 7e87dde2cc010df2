package console

import (
	"fmt"
	"html/template"
	"sort"
	"strings"
	"time"

	"github.com/authz/authz/legacykeys"
)

// palette colours series in a fixed order, chosen to stay apart for the
// common colour-vision deficiencies.
var palette = []string{"#1b6ec2", "#e08a00", "#2e9e5b", "#b8b8b8", "#c0392b", "#8e44ad", "#16a085", "#7f8c8d"}

// seriesColor gives the well-known series fixed colours.
func seriesColor(name string, i int) string {
	switch name {
	case "legacy exchange", string(legacykeys.HolderLegacyOnly):
		return "#e08a00"
	case "client credentials", string(legacykeys.HolderTokenOnly):
		return "#2e9e5b"
	case string(legacykeys.HolderDual):
		return "#1b6ec2"
	case "refused", string(legacykeys.HolderRetired):
		return "#b8b8b8"
	}
	return palette[i%len(palette)]
}

func esc(s string) string { return template.HTMLEscapeString(s) }

// dayChart draws stacked bars per day over the last 30 days ending at now.
// days maps "2006-01-02" to counts by series.
func dayChart(now time.Time, days map[string]map[string]int, title string) template.HTML {
	const n, w, h, left, bottom, top = 30, 720, 220, 40, 30, 20
	seriesSet := map[string]bool{}
	max := 0
	var keys []string
	for i := n - 1; i >= 0; i-- {
		d := now.UTC().AddDate(0, 0, -i).Format("2006-01-02")
		keys = append(keys, d)
		sum := 0
		for s, v := range days[d] {
			seriesSet[s] = true
			sum += v
		}
		if sum > max {
			max = sum
		}
	}
	var series []string
	for s := range seriesSet {
		series = append(series, s)
	}
	sort.Strings(series)
	if max == 0 {
		max = 1
	}
	plotH := float64(h - bottom - top)
	bw := float64(w-left-10) / n
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg">`, w, h+20, esc(title))
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#888"/>`, left, h-bottom, w-10, h-bottom)
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" text-anchor="end" fill="#444">%d</text>`, left-4, top+4, max)
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" text-anchor="end" fill="#444">0</text>`, left-4, h-bottom)
	for i, d := range keys {
		y := float64(h - bottom)
		x := float64(left) + float64(i)*bw
		for si, s := range series {
			v := days[d][s]
			if v == 0 {
				continue
			}
			bh := plotH * float64(v) / float64(max)
			y -= bh
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %d</title></rect>`, x+1, y, bw-2, bh, seriesColor(s, si), d, esc(s), v)
		}
		if i%5 == 0 || i == n-1 {
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="10" fill="#444">%s</text>`, x, h-bottom+14, d[5:])
		}
	}
	lx := left
	for si, s := range series {
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="10" height="10" fill="%s"/><text x="%d" y="%d" font-size="11" fill="#222">%s</text>`, lx, h+4, seriesColor(s, si), lx+14, h+13, esc(s))
		lx += 24 + 7*len(s)
	}
	if len(series) == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="13" fill="#666">no %s in the last 30 days</text>`, left+10, top+40, esc(title))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // every interpolated string is escaped above
}

// holderChart draws, per tenant, one horizontal bar split by holder state.
func holderChart(rep legacykeys.MigrationReport, states []legacykeys.HolderState) template.HTML {
	const w, rowH, left = 720, 26, 180
	h := rowH*len(rep.Tenants) + 40
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="key holders by migration state" xmlns="http://www.w3.org/2000/svg">`, w, h)
	for i, t := range rep.Tenants {
		total := 0
		for _, s := range states {
			total += t.Holders[s]
		}
		y := 10 + i*rowH
		name := t.TenantName
		if name == "" {
			name = t.TenantID
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="12" text-anchor="end" fill="#222">%s</text>`, left-6, y+14, esc(name))
		if total == 0 {
			fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" fill="#666">no key holders</text>`, left, y+14)
			continue
		}
		x := float64(left)
		for si, s := range states {
			v := t.Holders[s]
			if v == 0 {
				continue
			}
			bw := float64(w-left-10) * float64(v) / float64(total)
			fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"><title>%s: %d</title></rect>`, x, y, bw, rowH-6, seriesColor(string(s), si), esc(string(s)), v)
			x += bw
		}
	}
	lx := left
	for si, s := range states {
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="10" height="10" fill="%s"/><text x="%d" y="%d" font-size="11" fill="#222">%s</text>`, lx, h-18, seriesColor(string(s), si), lx+14, h-9, esc(string(s)))
		lx += 30 + 7*len(s)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // every interpolated string is escaped above
}

// historyChart draws one line per holder state over the last n days
// ending at now, summing the tenants of each day; a day with no row (no
// recording that day) is a gap in the line, not a zero.
func historyChart(now time.Time, rows []legacykeys.MigrationDay, states []legacykeys.HolderState, n int) template.HTML {
	const w, h, left, bottom, top = 720, 220, 40, 30, 20
	sums := map[string]map[legacykeys.HolderState]int{}
	max := 0
	for _, r := range rows {
		if sums[r.Day] == nil {
			sums[r.Day] = map[legacykeys.HolderState]int{}
		}
		for _, s := range states {
			sums[r.Day][s] += r.Holders[s]
			if v := sums[r.Day][s]; v > max {
				max = v
			}
		}
	}
	if max == 0 {
		max = 1
	}
	plotH := float64(h - bottom - top)
	step := float64(w-left-10) / float64(n-1)
	x := func(i int) float64 { return float64(left) + float64(i)*step }
	y := func(v int) float64 { return float64(h-bottom) - plotH*float64(v)/float64(max) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart history" viewBox="0 0 %d %d" role="img" aria-label="key holders by migration state, last %d days" xmlns="http://www.w3.org/2000/svg">`, w, h+20, n)
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#888"/>`, left, h-bottom, w-10, h-bottom)
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" text-anchor="end" fill="#444">%d</text>`, left-4, top+4, max)
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" text-anchor="end" fill="#444">0</text>`, left-4, h-bottom)
	days := make([]string, n)
	for i := range n {
		days[i] = now.UTC().AddDate(0, 0, i-n+1).Format(time.DateOnly)
		switch {
		case i == n-1:
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="10" text-anchor="end" fill="#444">%s</text>`, x(i), h-bottom+14, days[i][5:])
		case i%15 == 0 && i < n-8:
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="10" fill="#444">%s</text>`, x(i), h-bottom+14, days[i][5:])
		}
	}
	for si, s := range states {
		color := seriesColor(string(s), si)
		var path strings.Builder
		pen := "M"
		for i, d := range days {
			c, ok := sums[d]
			if !ok {
				pen = "M"
				continue
			}
			fmt.Fprintf(&path, "%s%.1f %.1f ", pen, x(i), y(c[s]))
			pen = "L"
		}
		if path.Len() == 0 {
			continue
		}
		fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="%s" stroke-width="2"/>`, strings.TrimSpace(path.String()), color)
		for i, d := range days {
			if c, ok := sums[d]; ok {
				fmt.Fprintf(&b, `<circle class="point" data-state="%s" data-day="%s" data-value="%d" cx="%.1f" cy="%.1f" r="2.5" fill="%s"><title>%s %s: %d</title></circle>`, esc(string(s)), d, c[s], x(i), y(c[s]), color, d, esc(string(s)), c[s])
			}
		}
	}
	lx := left
	for si, s := range states {
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="10" height="10" fill="%s"/><text x="%d" y="%d" font-size="11" fill="#222">%s</text>`, lx, h+4, seriesColor(string(s), si), lx+14, h+13, esc(string(s)))
		lx += 30 + 7*len(s)
	}
	if len(sums) == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="13" fill="#666">no history recorded in the last %d days</text>`, left+10, top+40, n)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // every interpolated string is escaped above
}
