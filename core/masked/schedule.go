package masked

import (
	"fmt"
	"math"
	"strings"
)

// Schedule is a masking schedule: Alpha(t) is the probability that a token is still clean at
// time t in [0,1] (Alpha(0)=1, Alpha(1)=0 up to a schedule's own epsilon) and DAlpha its
// derivative in t.
type Schedule interface {
	Alpha(t float64) float64
	DAlpha(t float64) float64
	Name() string
}

// Weight is the ELBO weight -alpha'(t)/(1-alpha(t)) that multiplies the summed cross-entropy
// of the masked positions at time t; it is infinite at t=0, where nothing is masked.
func Weight(s Schedule, t float64) float64 {
	return -s.DAlpha(t) / (1 - s.Alpha(t))
}

// Linear is alpha(t) = 1-t; its weight is 1/t.
type Linear struct{}

func (Linear) Alpha(t float64) float64  { return 1 - t }
func (Linear) DAlpha(t float64) float64 { return -1 }
func (Linear) Name() string             { return "linear" }

// Cosine is alpha(t) = cos(pi t/2) (MDLM's form); its weight is
// (pi/2) sin(pi t/2) / (1 - cos(pi t/2)), about 2/t near 0.
type Cosine struct{}

func (Cosine) Alpha(t float64) float64  { return math.Cos(math.Pi / 2 * t) }
func (Cosine) DAlpha(t float64) float64 { return -math.Pi / 2 * math.Sin(math.Pi/2*t) }
func (Cosine) Name() string             { return "cosine" }

// LogLinear is MDLM's log-linear schedule: total noise sigma(t) = -log(1-(1-Eps)t), so the
// mask probability is (1-Eps)t and the weight is exactly 1/t. At t=1 a fraction Eps of the
// tokens stays clean; the ELBO's prior term for those is ignored, as in MDLM.
type LogLinear struct{ Eps float64 }

func (s LogLinear) Alpha(t float64) float64  { return 1 - (1-s.Eps)*t }
func (s LogLinear) DAlpha(t float64) float64 { return -(1 - s.Eps) }
func (LogLinear) Name() string               { return "loglinear" }

// ScheduleByName returns the schedule named "linear", "cosine" or "loglinear" (MDLM's
// epsilon 1e-3); "log-linear" and "log_linear" are accepted too.
func ScheduleByName(name string) (Schedule, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "linear":
		return Linear{}, nil
	case "cosine":
		return Cosine{}, nil
	case "loglinear", "log-linear", "log_linear":
		return LogLinear{Eps: 1e-3}, nil
	}
	return nil, fmt.Errorf("masked: unknown schedule %q (want linear, cosine or loglinear)", name)
}
