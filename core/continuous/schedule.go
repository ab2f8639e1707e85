package continuous

import (
	"fmt"
	"math"
	"strings"
)

// Schedule is a variance-preserving noise schedule: Alpha(t) is the signal share a(t) of
// z_t = sqrt(a) z0 + sqrt(1-a) eps at time t in [0,1] (a(0)=1 and a(1)=0, up to a
// schedule's own documented ends), decreasing; DAlpha is its derivative in t.
type Schedule interface {
	Alpha(t float64) float64
	DAlpha(t float64) float64
	Name() string
}

// LogSNR is log(a/(1-a)), the log signal-to-noise ratio at t: +Inf at a=1, -Inf at a=0.
func LogSNR(s Schedule, t float64) float64 {
	a := s.Alpha(t)
	return math.Log(a) - math.Log1p(-a)
}

// Beta is the drift rate beta(t) = -a'(t)/a(t) of the VP SDE
// dz = -beta/2 z dt + sqrt(beta) dW whose marginals are the forward process; the reverse
// sampler steps with it. It grows without bound where a(t) reaches 0.
func Beta(s Schedule, t float64) float64 {
	return -s.DAlpha(t) / s.Alpha(t)
}

// TanD is TEncDM's schedule a(t) = 1/(1 + d^2 tan^2(pi t/2)) (Shabalin et al. 2025, eq. for
// "tan-d"; d = 9 there): a larger d spends more of [0,1] at low signal, where the
// denoiser must use the context. Written as c^2/(c^2 + d^2 s^2) with c, s the cosine and
// sine of pi t/2, so t=1 gives a(1) = 0 to rounding (about 1e-34) instead of tan's overflow.
type TanD struct{ D float64 }

func (s TanD) Alpha(t float64) float64 {
	c, sn := math.Cos(math.Pi/2*t), math.Sin(math.Pi/2*t)
	return c * c / (c*c + s.D*s.D*sn*sn)
}

// DAlpha is -pi d^2 c s / (c^2 + d^2 s^2)^2 (the quotient rule on c^2/(c^2+d^2 s^2)).
func (s TanD) DAlpha(t float64) float64 {
	c, sn := math.Cos(math.Pi/2*t), math.Sin(math.Pi/2*t)
	q := c*c + s.D*s.D*sn*sn
	return -math.Pi * s.D * s.D * c * sn / (q * q)
}

func (s TanD) Name() string { return fmt.Sprintf("tan-%g", s.D) }

// Cosine is the cosine schedule of Nichol & Dhariwal (2021, "Improved DDPM", eq. 17), the
// one TEncDM compares against: a(t) = f(t)/f(0) with f(t) = cos^2((t+S)/(1+S) pi/2) and
// offset S = 0.008, so a(0) = 1 and a(1) = 0 exactly.
type Cosine struct{ S float64 }

func (s Cosine) phase(t float64) float64 { return (t + s.S) / (1 + s.S) * math.Pi / 2 }

func (s Cosine) Alpha(t float64) float64 {
	c, c0 := math.Cos(s.phase(t)), math.Cos(s.phase(0))
	return c * c / (c0 * c0)
}

func (s Cosine) DAlpha(t float64) float64 {
	c0 := math.Cos(s.phase(0))
	return -math.Sin(2*s.phase(t)) * math.Pi / 2 / (1 + s.S) / (c0 * c0)
}

func (Cosine) Name() string { return "cosine" }

// Sqrt is Diffusion-LM's schedule (Li et al. 2022, section 4.2 and its code's "sqrt"):
// a(t) = 1 - sqrt(t + S) with S = 1e-4, held at 0 once that goes negative (the last S of
// [0,1]). Its documented ends are a(0) = 1 - sqrt(S) = 0.99 and a(1) = 0: it noises fast
// near t = 0, which Diffusion-LM chose so the easy, nearly clean steps are few.
type Sqrt struct{ S float64 }

func (s Sqrt) Alpha(t float64) float64 { return max(0, 1-math.Sqrt(t+s.S)) }

func (s Sqrt) DAlpha(t float64) float64 {
	if 1-math.Sqrt(t+s.S) <= 0 {
		return 0
	}
	return -0.5 / math.Sqrt(t+s.S)
}

func (Sqrt) Name() string { return "sqrt" }

// ScheduleByName returns "tan-d" (TanD with the given d), "cosine" or "sqrt", each with the
// constants of its paper.
func ScheduleByName(name string, d float64) (Schedule, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "tan-d", "tand", "tan":
		if !(d > 0) || math.IsInf(d, 0) {
			return nil, fmt.Errorf("continuous: tan-d needs d > 0, got %g", d)
		}
		return TanD{D: d}, nil
	case "cosine":
		return Cosine{S: 0.008}, nil
	case "sqrt":
		return Sqrt{S: 1e-4}, nil
	}
	return nil, fmt.Errorf("continuous: unknown schedule %q (want tan-d, cosine or sqrt)", name)
}
