package train

import (
	"fmt"
	"image/color"
	"os"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// Plot draws the training loss (thin) and the validation loss (points and line) against
// the step, and writes a PNG atomically.
func Plot(path string, records []Record, objective string) error {
	var train, val plotter.XYs
	for _, r := range records {
		if r.Loss != nil {
			train = append(train, plotter.XY{X: float64(r.Step), Y: *r.Loss})
		}
		if r.ValLoss != nil {
			val = append(val, plotter.XY{X: float64(r.Step), Y: *r.ValLoss})
		}
	}
	if len(train) == 0 && len(val) == 0 {
		return nil
	}
	p := plot.New()
	p.Title.Text = objective
	if o, err := ObjectiveByName(objective); err == nil {
		p.Title.Text = o.Label()
	}
	p.X.Label.Text = "step"
	p.Y.Label.Text = "loss"
	p.Add(plotter.NewGrid())
	if len(train) > 0 {
		l, err := plotter.NewLine(train)
		if err != nil {
			return err
		}
		l.Color = color.RGBA{R: 70, G: 110, B: 200, A: 255}
		p.Add(l)
		p.Legend.Add("train", l)
	}
	if len(val) > 0 {
		l, pts, err := plotter.NewLinePoints(val)
		if err != nil {
			return err
		}
		l.Color, pts.Color = color.RGBA{R: 210, G: 80, B: 40, A: 255}, color.RGBA{R: 210, G: 80, B: 40, A: 255}
		l.Width = vg.Points(2)
		p.Add(l, pts)
		p.Legend.Add("validation (Persuasion)", l)
	}
	p.Legend.Top = true
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp.png")
	if err := p.Save(8*vg.Inch, 5*vg.Inch, tmp); err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}
