package quality

import (
	"cmp"
	"fmt"
	"image/color"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/austen-diffusion/textdiffusion/core/sample"
)

// WriteMarkdown writes the rows as a Markdown table under a short header (title, then the
// lines of note as a paragraph).
func WriteMarkdown(w io.Writer, title string, note []string, rows []Row) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", title)
	if len(note) > 0 {
		b.WriteString(strings.Join(note, "\n") + "\n\n")
	}
	cpu := false
	for _, r := range rows {
		cpu = cpu || r.CPUSecondsPerSample > 0
	}
	b.WriteString("| setting | NFE/token | judge PPL | ± s.e. | distinct-1 | distinct-2 | distinct-3 | memorised 8-grams | s/sample |")
	if cpu {
		b.WriteString(" CPU s/sample |")
	}
	b.WriteString("\n|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	if cpu {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	for _, r := range rows {
		nfe, secs, cpuSecs := fmt.Sprintf("%.3f", r.NFEPerToken), fmt.Sprintf("%.3f", r.SecondsPerSample), fmt.Sprintf(" %.3f |", r.CPUSecondsPerSample)
		name := r.Name
		if r.Reference {
			nfe, secs, cpuSecs, name = "-", "-", " - |", "**"+name+"**"
		}
		if !cpu {
			cpuSecs = ""
		}
		mem := "-"
		if r.Grams > 0 {
			mem = fmt.Sprintf("%.1f%%", 100*r.Memorised)
		}
		fmt.Fprintf(&b, "| %s | %s | %.1f | %.1f | %.3f | %.3f | %.3f | %s | %s |%s\n",
			name, nfe, r.JudgePPL, r.JudgeSE, r.Distinct1, r.Distinct2, r.Distinct3, mem, secs, cpuSecs)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WritePNG plots the judge's perplexity (log scale) against network calls per sample: one
// line per model x strategy x grid through its step counts (solid for the cosine grid and
// the sde solver, dashed for linear and ode), the left-to-right AR samples as a point, the reference as a horizontal line.
//
// When the sampled rows' network calls per sample are all within 10% of each other (an
// ablation: one setting across models), lines would stack at one x, so it draws
// WriteDots' plot instead.
func WritePNG(w io.Writer, title string, rows []Row) error {
	_, sampled := plotted(rows)
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, r := range sampled {
		lo, hi = math.Min(lo, r.NFEPerSample), math.Max(hi, r.NFEPerSample)
	}
	if len(sampled) > 1 && hi <= 1.1*lo {
		return WriteDots(w, title, rows)
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "network calls per sample (NFE)"
	p.Y.Label.Text = "judge perplexity (AR model, log scale)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = logTicks{}
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	p.Legend.Left = false

	type key struct{ model, strategy, grid string } // a line: one model's setting through its step counts
	var order []key
	lines := map[key]plotter.XYs{}
	ref, sampled := plotted(rows)
	xmin, xmax := math.Inf(1), math.Inf(-1)
	ymin, ymax := math.Inf(1), math.Inf(-1)
	for _, r := range sampled {
		k := key{r.Model, r.Strategy, r.Grid}
		if _, ok := lines[k]; !ok {
			order = append(order, k)
		}
		lines[k] = append(lines[k], plotter.XY{X: r.NFEPerSample, Y: r.JudgePPL})
		xmin, xmax = math.Min(xmin, r.NFEPerSample), math.Max(xmax, r.NFEPerSample)
		ymin, ymax = math.Min(ymin, r.JudgePPL), math.Max(ymax, r.JudgePPL)
	}
	strategies := map[[2]string]int{} // a colour per model and strategy
	for _, k := range order {
		if _, ok := strategies[[2]string{k.model, k.strategy}]; !ok {
			strategies[[2]string{k.model, k.strategy}] = len(strategies)
		}
	}
	for _, k := range order {
		xy := lines[k]
		slices.SortStableFunc(xy, func(a, b plotter.XY) int { return cmp.Compare(a.X, b.X) })
		c := plotutil.Color(strategies[[2]string{k.model, k.strategy}])
		l, pts, err := plotter.NewLinePoints(xy)
		if err != nil {
			return err
		}
		l.Color, pts.Color = c, c
		l.Width = vg.Points(1.5)
		pts.Shape = draw.CircleGlyph{}
		label := k.strategy + " / " + k.grid
		if k.model != "" {
			label = k.model + ": " + label
		}
		if k.strategy == LeftToRight {
			label = "AR, left to right (judge's own samples)"
			pts.Shape = draw.BoxGlyph{}
			pts.Radius = vg.Points(4)
			p.Add(pts)
			p.Legend.Add(label, pts)
			continue
		}
		if k.grid == sample.GridLinear || k.grid == "ode" { // the second grid, or the deterministic solver
			l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
			pts.Shape = draw.TriangleGlyph{}
		}
		p.Add(l, pts)
		p.Legend.Add(label, l, pts)
	}
	if ref != nil && ref.JudgePPL > 0 && !math.IsInf(xmin, 0) {
		pad := xPad(xmin, xmax)
		l, err := plotter.NewLine(plotter.XYs{{X: xmin - pad, Y: ref.JudgePPL}, {X: xmax + pad, Y: ref.JudgePPL}})
		if err != nil {
			return err
		}
		l.Color = color.Gray{Y: 60}
		l.Width = vg.Points(2)
		l.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("real text (Persuasion): %.1f", ref.JudgePPL), l)
	}
	if ref != nil && ref.JudgePPL > 0 {
		ymin, ymax = math.Min(ymin, ref.JudgePPL), math.Max(ymax, ref.JudgePPL)
	}
	if xmin <= xmax {
		pad := xPad(xmin, xmax)
		p.X.Min, p.X.Max = xmin-pad, xmax+pad
	}
	if ymin < ymax {
		// Room above the data for the legend (a third of the log range).
		r := math.Max(ymax/ymin, 1.5)
		p.Y.Min, p.Y.Max = ymin/math.Pow(r, 0.05), ymax*math.Pow(r, 0.6)
	}
	c := vgimg.PngCanvas{Canvas: vgimg.New(9*vg.Inch, 6*vg.Inch)}
	p.Draw(draw.New(c))
	_, err := c.WriteTo(w)
	return err
}

// WriteDots plots each row's judge perplexity (log scale) with its standard error as a
// whisker, one row per line, named on the left, the reference as a vertical line.
func WriteDots(w io.Writer, title string, rows []Row) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "judge perplexity (AR model, log scale); whiskers: one standard error"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = logTicks{}
	p.Add(plotter.NewGrid())
	var pts plotter.XYs
	var errs plotter.XErrors
	var names []string
	ref, sampled := plotted(rows)
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, r := range sampled {
		// The whisker's ends must stay positive on a log axis.
		below := math.Min(r.JudgeSE, 0.9*r.JudgePPL)
		pts = append(pts, plotter.XY{X: r.JudgePPL, Y: float64(len(names))})
		errs = append(errs, struct{ Low, High float64 }{below, r.JudgeSE})
		names = append(names, r.Name)
		lo, hi = math.Min(lo, r.JudgePPL-below), math.Max(hi, r.JudgePPL+r.JudgeSE)
	}
	if len(pts) == 0 {
		return fmt.Errorf("quality: no row to plot")
	}
	sc, err := plotter.NewScatter(pts)
	if err != nil {
		return err
	}
	sc.Shape, sc.Color = draw.CircleGlyph{}, plotutil.Color(0)
	eb, err := plotter.NewXErrorBars(struct {
		plotter.XYer
		plotter.XErrorer
	}{pts, errs})
	if err != nil {
		return err
	}
	eb.Color = plotutil.Color(0)
	p.Add(sc, eb)
	if ref != nil && ref.JudgePPL > 0 {
		l, err := plotter.NewLine(plotter.XYs{{X: ref.JudgePPL, Y: -0.5}, {X: ref.JudgePPL, Y: float64(len(names)) - 0.5}})
		if err != nil {
			return err
		}
		l.Color, l.Width, l.Dashes = color.Gray{Y: 60}, vg.Points(2), []vg.Length{vg.Points(2), vg.Points(2)}
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("real text (Persuasion): %.1f", ref.JudgePPL), l)
		lo, hi = math.Min(lo, ref.JudgePPL), math.Max(hi, ref.JudgePPL)
	}
	p.NominalY(names...)
	p.X.Min, p.X.Max = lo/1.2, hi*1.2
	p.Legend.Top = true
	c := vgimg.PngCanvas{Canvas: vgimg.New(9*vg.Inch, vg.Length(1.2+0.35*float64(len(names)))*vg.Inch)}
	p.Draw(draw.New(c))
	_, err = c.WriteTo(w)
	return err
}

// plotted splits the rows into the reference (nil if none) and the sampled rows with a
// finite, positive judge perplexity: the ones a plot can place.
func plotted(rows []Row) (ref *Row, sampled []*Row) {
	for i := range rows {
		r := &rows[i]
		switch {
		case r.Reference:
			ref = r
		case r.JudgePPL > 0 && !math.IsInf(r.JudgePPL, 0):
			sampled = append(sampled, r)
		}
	}
	return ref, sampled
}

// xPad is the margin either side of the NFE range, so no point sits on the frame.
func xPad(lo, hi float64) float64 { return math.Max(0.5, 0.03*(hi-lo)) }

// logTicks labels a log axis at 1, 2 and 5 times powers of ten, and at 1..9 times them when
// the range holds fewer than three of those (a perplexity axis often spans less than 10x).
type logTicks struct{}

func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(lo > 0) || !(hi > lo) {
		return nil
	}
	pick := func(mant []float64) []plot.Tick {
		var ts []plot.Tick
		for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
			for _, m := range mant {
				v := m * math.Pow(10, e)
				if v >= lo && v <= hi {
					ts = append(ts, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'g', -1, 64)})
				}
			}
		}
		return ts
	}
	if ts := pick([]float64{1, 2, 5}); len(ts) >= 3 {
		return ts
	}
	return pick([]float64{1, 2, 3, 4, 5, 6, 7, 8, 9})
}
