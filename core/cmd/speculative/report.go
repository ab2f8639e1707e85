package main

import (
	"fmt"
	"image/color"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// writeMarkdown writes the rows as a table under a title and a note.
func writeMarkdown(w io.Writer, title string, note []string, rows []Row, threads []int) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n%s\n\n", title, strings.Join(note, "\n"))
	b.WriteString("| strategy | draft | K | accept/token | accept/step | target calls/token | target rows/token | target GFLOP/sample | draft calls/token | draft GFLOP/sample | judge PPL | ± s.e. | distinct-1 | distinct-2 |")
	for _, t := range threads {
		fmt.Fprintf(&b, " s/sample (%d thr) | time ratio (%d thr) |", t, t)
	}
	b.WriteString("\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	b.WriteString(strings.Repeat("---:|---:|", len(threads)))
	b.WriteString("\n")
	for _, r := range rows {
		draft, k, acc, accStep, dcalls := "plain", "-", "-", "-", "-"
		if r.Draft != "" {
			draft, k = "`"+r.Draft+"`", strconv.Itoa(r.K)
			acc, accStep = fmt.Sprintf("%.3f", r.AcceptPerToken), fmt.Sprintf("%.3f", r.AcceptPerStep)
			dcalls = fmt.Sprintf("%.3f", float64(r.DraftCalls)/float64(max(r.Tokens, 1)))
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %.3f | %.3f | %.2f | %s | %.2f | %.1f | %.1f | %.3f | %.3f |",
			r.Strategy, draft, k, acc, accStep, r.CallsPerToken, r.RowsPerToken, r.TargetGFLOP, dcalls, r.DraftGFLOP,
			r.JudgePPL, r.JudgeSE, r.Distinct1, r.Distinct2)
		for _, t := range threads {
			key := strconv.Itoa(t)
			fmt.Fprintf(&b, " %.3f | %.2f |", r.Seconds[key], r.Ratio[key])
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writePNG draws, for each strategy, two panels side by side: sequential target calls per
// token against K (one line per draft, the plain sampler as a flat line), and the median
// wall-time ratio to the plain sampler against K (solid: the first thread count, dashed:
// the others).
func writePNG(w io.Writer, rows []Row, threads []int) error {
	var strategies []string
	for _, r := range rows {
		if len(strategies) == 0 || strategies[len(strategies)-1] != r.Strategy {
			strategies = append(strategies, r.Strategy)
		}
	}
	const width, rowHeight = 12 * vg.Inch, 4.5 * vg.Inch
	img := vgimg.New(width, rowHeight*vg.Length(len(strategies)))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: len(strategies), Cols: 2, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 4,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	for si, st := range strategies {
		calls, err := panel(rows, st, threads, false)
		if err != nil {
			return err
		}
		timing, err := panel(rows, st, threads, true)
		if err != nil {
			return err
		}
		calls.Draw(tiles.At(dc, 0, si))
		timing.Draw(tiles.At(dc, 1, si))
	}
	_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(w)
	return err
}

// panel plots one strategy's rows against K: target calls per token, or (timing) the
// wall-time ratio to the plain sampler at each thread count.
func panel(rows []Row, strategy string, threads []int, timing bool) (*plot.Plot, error) {
	p := plot.New()
	p.X.Label.Text = "K (drafted steps per target call)"
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	var drafts []string
	byDraft := map[string][]Row{}
	var plain *Row
	kmax := 1
	for i := range rows {
		r := &rows[i]
		if r.Strategy != strategy {
			continue
		}
		if r.Draft == "" {
			plain = r
			continue
		}
		if _, ok := byDraft[r.Draft]; !ok {
			drafts = append(drafts, r.Draft)
		}
		byDraft[r.Draft] = append(byDraft[r.Draft], *r)
		kmax = max(kmax, r.K)
	}
	hline := func(y float64, label string, dashes ...vg.Length) error {
		l, err := plotter.NewLine(plotter.XYs{{X: 1, Y: y}, {X: float64(kmax), Y: y}})
		if err != nil {
			return err
		}
		l.Color = color.Gray{Y: 60}
		l.Width = vg.Points(2)
		l.Dashes = dashes
		p.Add(l)
		p.Legend.Add(label, l)
		return nil
	}
	if timing {
		p.Title.Text = strategy + ": wall time / plain sampler's (median over seeds)"
		p.Y.Label.Text = "time ratio (1 = plain)"
		if err := hline(1, "plain sampler", vg.Points(2), vg.Points(2)); err != nil {
			return nil, err
		}
	} else {
		p.Title.Text = strategy + ": sequential target calls per generated token"
		p.Y.Label.Text = "target calls / token"
		p.Y.Min = 0
		if plain != nil {
			if err := hline(plain.CallsPerToken, fmt.Sprintf("plain sampler: %.2f", plain.CallsPerToken), vg.Points(2), vg.Points(2)); err != nil {
				return nil, err
			}
			if err := hline(plain.CallsPerToken/2, "half of plain (the goal)", vg.Points(8), vg.Points(4)); err != nil {
				return nil, err
			}
			p.Y.Max = 1.6 * plain.CallsPerToken // room for the legend above the lines
		}
	}
	ymax := 1.0
	for di, d := range drafts {
		series := []int{0}
		if timing {
			series = series[:0]
			for ti := range threads {
				series = append(series, ti)
			}
		}
		for _, ti := range series {
			var xy plotter.XYs
			for _, r := range byDraft[d] {
				y := r.CallsPerToken
				if timing {
					y = r.Ratio[strconv.Itoa(threads[ti])]
				}
				xy = append(xy, plotter.XY{X: float64(r.K), Y: y})
				ymax = max(ymax, y)
			}
			l, pts, err := plotter.NewLinePoints(xy)
			if err != nil {
				return nil, err
			}
			c := plotutil.Color(di)
			l.Color, pts.Color = c, c
			l.Width = vg.Points(1.5)
			pts.Shape = draw.CircleGlyph{}
			label := filepath.Base(d) // a draft file by its name
			if timing {
				label = fmt.Sprintf("%s, %d thr", label, threads[ti])
				if ti > 0 {
					l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
					pts.Shape = draw.TriangleGlyph{}
				}
			}
			p.Add(l, pts)
			p.Legend.Add(label, l, pts)
		}
	}
	if timing {
		p.Y.Min, p.Y.Max = 0, 1.7*ymax // room for the legend above the lines
	}
	return p, nil
}
