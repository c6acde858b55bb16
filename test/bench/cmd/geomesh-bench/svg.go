package main

import (
	"bytes"
	"fmt"
	"math"
	"slices"
)

// Chart colours per copier, the same in every chart.
var copierColour = map[string]string{
	geomeshEOS: "#1f77b4",
	geomeshALO: "#6baed6",
	mm2EOS:     "#d62728",
	mm2ALO:     "#ff9896",
	raw:        "#7f7f7f",
}

func orderedCopiers(m map[string]stat) []string {
	var out []string
	for _, k := range copierKinds {
		if _, ok := m[k]; ok {
			out = append(out, k)
		}
	}
	return out
}

// niceMax rounds v up to 1, 2 or 5 times a power of ten.
func niceMax(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// barChart draws one bar per copier (the median) with a min–max whisker.
func barChart(title, unit string, m map[string]stat) []byte {
	const w, h, left, bottom, top = 640, 320, 80, 50, 40
	kinds := orderedCopiers(m)
	var hi float64
	for _, k := range kinds {
		hi = max(hi, m[k].Max)
	}
	ymax := niceMax(hi * 1.05)
	plotH := float64(h - bottom - top)
	y := func(v float64) float64 { return float64(h-bottom) - v/ymax*plotH }
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", w, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/><text x="%d" y="20" font-size="14">%s</text>`+"\n", left, title)
	for i := 0; i <= 5; i++ {
		v := ymax * float64(i) / 5
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n",
			left, w-10, y(v), y(v), left-5, y(v)+4, human(v))
	}
	fmt.Fprintf(&b, `<text x="15" y="%d" transform="rotate(-90 15 %d)" text-anchor="middle">%s</text>`+"\n", h/2, h/2, unit)
	slot := float64(w-left-10) / float64(max(len(kinds), 1))
	for i, k := range kinds {
		s := m[k]
		x := float64(left) + slot*float64(i) + slot*0.15
		bw := slot * 0.7
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`+"\n", x, y(s.Median), bw, float64(h-bottom)-y(s.Median), copierColour[k])
		cx := x + bw/2
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="black"/>`+"\n", cx, cx, y(s.Min), y(s.Max))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", cx, y(s.Max)-4, human(s.Median))
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", cx, h-bottom+16, k)
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

// latencyChart draws p50, p99 and p999 medians per copier, grouped, on a
// log scale.
func latencyChart(r *results) []byte {
	const w, h, left, bottom, top = 640, 340, 80, 60, 40
	ps := []struct {
		name string
		m    map[string]stat
		op   string
	}{
		{"p50", r.latencyOf(func(l latRun) float64 { return l.P50Ms }), "1.0"},
		{"p99", r.latencyOf(func(l latRun) float64 { return l.P99Ms }), "0.7"},
		{"p999", r.latencyOf(func(l latRun) float64 { return l.P999Ms }), "0.4"},
	}
	kinds := orderedCopiers(ps[0].m)
	var hi float64
	for _, p := range ps {
		for _, k := range kinds {
			hi = max(hi, p.m[k].Median)
		}
	}
	lo, top10 := 1.0, niceMax(hi*1.1)
	ymaxLog := math.Log10(top10)
	plotH := float64(h - bottom - top)
	y := func(v float64) float64 {
		v = max(v, lo)
		return float64(h-bottom) - (math.Log10(v)-math.Log10(lo))/(ymaxLog-math.Log10(lo))*plotH
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", w, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/><text x="%d" y="20" font-size="14">End-to-end latency at %d records/s (median of runs; p50, p99, p999; log scale)</text>`+"\n", left-60, r.LatencyRate)
	ticks := []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000}
	ticks = slices.DeleteFunc(ticks, func(t float64) bool { return t > top10 })
	for _, v := range ticks {
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="%d" y="%.1f" text-anchor="end">%s ms</text>`+"\n",
			left, w-10, y(v), y(v), left-5, y(v)+4, human(v))
	}
	slot := float64(w-left-10) / float64(max(len(kinds), 1))
	for i, k := range kinds {
		x0 := float64(left) + slot*float64(i) + slot*0.1
		bw := slot * 0.8 / 3
		for j, p := range ps {
			v := p.m[k].Median
			x := x0 + bw*float64(j)
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" fill-opacity="%s"/>`+"\n", x, y(v), bw-2, float64(h-bottom)-y(v), copierColour[k], p.op)
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="10">%s</text>`+"\n", x+bw/2, y(v)-3, human(v))
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" font-size="10">%s</text>`+"\n", x+bw/2, h-bottom+12, p.name)
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", x0+slot*0.4, h-bottom+30, k)
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

// human prints a number with k/M suffixes and few digits.
func human(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.0fk", v/1e3)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	case v >= 10:
		return fmt.Sprintf("%.0f", v)
	default:
		return fmt.Sprintf("%.1f", v)
	}
}
