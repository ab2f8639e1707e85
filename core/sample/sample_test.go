package sample

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

const testV = 16 // EOT = 14, MASK = 15

var strategies = []Options{
	{Strategy: "random", Temperature: 1},
	{Strategy: "low-confidence"},
	{Strategy: "low-confidence", Confidence: "entropy", Temperature: 0.7},
	{Strategy: "low-confidence", Confidence: "margin", TopK: 3, Temperature: 1},
	{Strategy: "semi-ar", BlockLength: 5, TopP: 0.8, Temperature: 1},
	{Strategy: "threshold", Threshold: 0.2},
	{Strategy: "low-confidence", CFGScale: 1.5, Temperature: 1, Grid: "linear"},
}

func TestPromptKeptNoMaskLeftNFEExact(t *testing.T) {
	prompt := []int32{3, 1, 4, 1, 5, 9, 2, 6}
	for _, o := range strategies {
		for _, steps := range []int{0, 1, 5, 23} {
			d := noisy(testV)
			o.Steps, o.GenLength, o.Seed = steps, 23, 7
			r, err := Sample(d, prompt, o)
			if err != nil {
				t.Fatalf("%+v: %v", o, err)
			}
			name := fmt.Sprintf("%s/%s steps=%d", o.Strategy, o.Confidence, steps)
			if len(r.IDs) != len(prompt)+23 || !slices.Equal(r.IDs[:len(prompt)], prompt) {
				t.Fatalf("%s: prompt changed or wrong length: %v", name, r.IDs)
			}
			if !slices.Equal(r.Generated, r.IDs[len(prompt):]) {
				t.Fatalf("%s: Generated %v is not IDs[len(prompt):]", name, r.Generated)
			}
			if slices.Contains(r.IDs, testV-1) {
				t.Fatalf("%s: MASK left in %v", name, r.IDs)
			}
			if r.NFE != d.calls {
				t.Fatalf("%s: NFE %d, denoiser saw %d calls", name, r.NFE, d.calls)
			}
			perStep := 1
			if o.CFGScale > 0 {
				perStep = 2
			}
			if r.NFE != perStep*r.Steps {
				t.Fatalf("%s: NFE %d for %d steps", name, r.NFE, r.Steps)
			}
			if steps > 0 && r.Steps > steps+4 { // semi-ar gives each of 5 blocks at least one step
				t.Fatalf("%s: %d steps taken", name, r.Steps)
			}
		}
	}
}

// The number committed at each step follows the grid, for several N and T.
func TestCommitsFollowGrid(t *testing.T) {
	for _, grid := range []string{"cosine", "linear"} {
		for _, strat := range []string{"random", "low-confidence"} {
			for _, nt := range [][2]int{{1, 1}, {4, 4}, {10, 4}, {2, 5}, {17, 6}, {32, 32}, {40, 7}, {3, 50}} {
				n, steps := nt[0], nt[1]
				var got []int
				o := Options{GenLength: n, Steps: steps, Grid: grid, Strategy: strat, Temperature: 1, Seed: 3,
					OnStep: func(step int, ids []int32, committed []int) {
						if step != len(got)+1 {
							t.Fatalf("step %d after %d steps", step, len(got))
						}
						if !slices.IsSorted(committed) {
							t.Fatalf("committed %v not sorted", committed)
						}
						for _, i := range committed {
							if ids[i] == testV-1 {
								t.Fatalf("position %d reported committed but still MASK", i)
							}
						}
						got = append(got, len(committed))
					}}
				d := noisy(testV)
				r, err := Sample(d, []int32{1, 2}, o)
				if err != nil {
					t.Fatal(err)
				}
				want := CosineGrid(n, steps)
				if grid == "linear" {
					want = LinearGrid(n, steps)
				}
				want = nonZero(want)
				if !slices.Equal(got, want) {
					t.Fatalf("%s %s n=%d T=%d: committed %v, want %v", grid, strat, n, steps, got, want)
				}
				if r.Steps != len(want) || r.NFE != len(want) || d.calls != len(want) {
					t.Fatalf("%s n=%d T=%d: steps %d NFE %d calls %d, want %d", grid, n, steps, r.Steps, r.NFE, d.calls, len(want))
				}
			}
		}
	}
}

func TestSemiARBlocks(t *testing.T) {
	const p, n, bl = 3, 14, 4 // blocks of 4, 4, 4, 2 after the prompt
	var counts []int
	var blocks []int
	o := Options{GenLength: n, Steps: 9, Strategy: "semi-ar", BlockLength: bl, Temperature: 1, Seed: 1,
		OnStep: func(step int, ids []int32, committed []int) {
			b := (committed[0] - p) / bl
			for _, i := range committed {
				if (i-p)/bl != b {
					t.Fatalf("step %d commits %v across blocks", step, committed)
				}
			}
			for i := p; i < p+b*bl; i++ {
				if ids[i] == testV-1 {
					t.Fatalf("step %d works on block %d while position %d is masked", step, b, i)
				}
			}
			counts = append(counts, len(committed))
			blocks = append(blocks, b)
		}}
	if _, err := Sample(noisy(testV), []int32{0, 1, 2}, o); err != nil {
		t.Fatal(err)
	}
	// 9 steps over 4 blocks: 3, 2, 2, 2; the cosine grid within each block.
	var want []int
	for b, s := range []int{3, 2, 2, 2} {
		want = append(want, nonZero(CosineGrid(min(bl, n-b*bl), s))...)
	}
	if !slices.Equal(counts, want) || !slices.IsSorted(blocks) {
		t.Fatalf("counts %v (blocks %v), want %v", counts, blocks, want)
	}
}

func TestSeeds(t *testing.T) {
	for _, o := range strategies {
		o.GenLength, o.Steps = 32, 12
		run := func(seed uint64) []int32 {
			o.Seed = seed
			r, err := Sample(noisy(testV), []int32{5}, o)
			if err != nil {
				t.Fatal(err)
			}
			return r.IDs
		}
		a, b, c := run(11), run(11), run(12)
		if !slices.Equal(a, b) {
			t.Fatalf("%s: same seed, different outputs %v %v", o.Strategy, a, b)
		}
		if (o.Temperature > 0 || o.Strategy == "random") && slices.Equal(a, c) {
			t.Fatalf("%s: seeds 11 and 12 give the same output %v", o.Strategy, a)
		}
	}
}

func TestInfillKeepsGivenTokens(t *testing.T) {
	const m = testV - 1
	in := []int32{m, m, 7, 8, m, m, m, 9, 10, 11, m, 12, m, m, m}
	for _, o := range strategies {
		o.Seed = 5
		if o.BlockLength > 0 {
			o.BlockLength = 4
		}
		d := noisy(testV)
		orig := slices.Clone(in)
		r, err := Infill(d, in, o)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(in, orig) {
			t.Fatalf("Infill modified its input")
		}
		var gen []int32
		for i, x := range in {
			if x != m && r.IDs[i] != x {
				t.Fatalf("%s: given token at %d changed: %v", o.Strategy, i, r.IDs)
			}
			if x == m {
				gen = append(gen, r.IDs[i])
			}
		}
		if slices.Contains(r.IDs, m) || !slices.Equal(gen, r.Generated) || r.NFE != d.calls {
			t.Fatalf("%s: ids %v generated %v NFE %d calls %d", o.Strategy, r.IDs, r.Generated, r.NFE, d.calls)
		}
	}
	// Nothing masked: nothing to do, no call.
	d := noisy(testV)
	r, err := Infill(d, []int32{1, 2, 3}, Options{})
	if err != nil || r.NFE != 0 || d.calls != 0 || !slices.Equal(r.IDs, []int32{1, 2, 3}) {
		t.Fatalf("no-mask infill: %+v %v calls %d", r, err, d.calls)
	}
}

func TestThresholdFewerCalls(t *testing.T) {
	// Peaked: every position is sure at once, so one call commits all 32.
	d := peaked(testV)
	r, err := Sample(d, []int32{1}, Options{GenLength: 32, Strategy: "threshold", Threshold: 0.9})
	if err != nil {
		t.Fatal(err)
	}
	if r.NFE >= 32 || r.NFE != d.calls || r.NFE != 1 {
		t.Fatalf("peaked threshold: NFE %d (calls %d), want 1", r.NFE, d.calls)
	}
	for i, x := range r.Generated {
		if want := int32((i + 1) % (testV - 2)); x != want {
			t.Fatalf("peaked threshold: position %d got %d want %d", i+1, x, want)
		}
	}
	// Flat: nothing reaches tau, so one token per step, or the grid's floor when Steps caps it.
	for _, c := range []struct{ steps, want int }{{0, 20}, {20, 20}, {6, 6}, {1, 1}} {
		d := flat(testV)
		r, err := Sample(d, nil, Options{GenLength: 20, Steps: c.steps, Strategy: "threshold", Grid: "linear"})
		if err != nil {
			t.Fatal(err)
		}
		if r.NFE != c.want || d.calls != c.want || slices.Contains(r.IDs, testV-1) {
			t.Fatalf("flat threshold, Steps %d: NFE %d calls %d, want %d; %v", c.steps, r.NFE, d.calls, c.want, r.IDs)
		}
	}
}

// cfgToy's conditional logits (prompt visible) prefer token 0 a little; its unconditional
// ones (prompt masked) prefer token 0 a lot, so guidance pushes towards token 1.
func cfgToy() *toy {
	return &toy{v: 4, f: func(ids []int32, out []float32) {
		uncond := ids[0] == 3
		for i := range ids {
			row := out[i*4 : (i+1)*4]
			row[0], row[1], row[2], row[3] = 1, 0, -5, 50
			if uncond {
				row[0] = 2
			}
		}
	}}
}

func TestCFG(t *testing.T) {
	// l0 = l_u + (s+1)(l_c - l_u) = 2 - (s+1) against l1 = 0: token 0 below s = 1, token 1 above.
	for _, c := range []struct {
		s    float64
		want int32
	}{{0, 0}, {0.5, 0}, {2, 1}} {
		d := cfgToy()
		r, err := Sample(d, []int32{2}, Options{GenLength: 5, CFGScale: c.s, MaskID: 3, EOTID: 2})
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range r.Generated {
			if x != c.want {
				t.Fatalf("s=%v: generated %v, want all %d", c.s, r.Generated, c.want)
			}
		}
		perStep := 1
		if c.s > 0 {
			perStep = 2
		}
		if r.NFE != perStep*r.Steps || r.NFE != d.calls {
			t.Fatalf("s=%v: NFE %d steps %d calls %d", c.s, r.NFE, r.Steps, d.calls)
		}
	}
	// No prompt: the unconditional input equals the conditional one, so the cache answers it
	// and it is not counted.
	d := noisy(testV)
	r, err := Sample(d, nil, Options{GenLength: 10, CFGScale: 1, Grid: "linear"})
	if err != nil {
		t.Fatal(err)
	}
	if r.NFE != r.Steps || d.calls != r.Steps || r.Steps != 10 {
		t.Fatalf("CFG without prompt: NFE %d calls %d steps %d, want 10 each", r.NFE, d.calls, r.Steps)
	}
}

func TestEvaluatorCache(t *testing.T) {
	d := noisy(testV)
	e := newEvaluator(d)
	a, b, c := []int32{1, 2, 3}, []int32{1, 2, 4}, []int32{5, 5, 5}
	la, _ := e.logits(a, nil)
	la = slices.Clone(la)
	lb, _ := e.logits(b, nil) // the toy reuses its buffer: the evaluator's copy of a must survive
	lb = slices.Clone(lb)
	for _, step := range []struct {
		ids   []int32
		want  []float32
		calls int
	}{{a, la, 2}, {b, lb, 2}, {a, la, 2}, {c, nil, 3}, {a, la, 3}, {b, lb, 4}} {
		got, err := e.logits(step.ids, nil)
		if err != nil {
			t.Fatal(err)
		}
		if step.want != nil && !slices.Equal(got, step.want) {
			t.Fatalf("cached logits of %v differ", step.ids)
		}
		if e.calls != step.calls || d.calls != step.calls {
			t.Fatalf("after %v: evaluator counted %d, denoiser saw %d, want %d", step.ids, e.calls, d.calls, step.calls)
		}
	}
}

// ordered's position i prefers token 0 with a peak of height 3i, so confidence rises with i.
func ordered() *toy {
	return &toy{v: 6, f: func(ids []int32, out []float32) {
		for i := range ids {
			row := out[i*6 : (i+1)*6]
			for j := range row {
				row[j] = 0
			}
			row[0] = float32(3 * i)
			row[1] = float32(i) // keeps the margin below the top probability
		}
	}}
}

func TestLowConfidenceOrder(t *testing.T) {
	for _, conf := range []string{"prob", "entropy", "margin"} {
		var order []int
		o := Options{GenLength: 5, Confidence: conf, Grid: "linear", OnStep: func(_ int, _ []int32, committed []int) {
			order = append(order, committed...)
		}}
		if _, err := Sample(ordered(), nil, o); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(order, []int{4, 3, 2, 1, 0}) {
			t.Fatalf("%s: committed in order %v, want most confident first", conf, order)
		}
	}
}

func TestTopKTopPGreedy(t *testing.T) {
	greedy, err := Sample(noisy(testV), []int32{1}, Options{GenLength: 16, Steps: 8})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []Options{{TopK: 1, Temperature: 1}, {TopP: 1e-6, Temperature: 3}} {
		o.GenLength, o.Steps, o.Seed = 16, 8, 9
		r, err := Sample(noisy(testV), []int32{1}, o)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(r.IDs, greedy.IDs) {
			t.Fatalf("%+v: %v, want greedy %v", o, r.IDs, greedy.IDs)
		}
	}
}

func TestStopAtEOT(t *testing.T) {
	const eot = testV - 2
	d := &toy{v: testV, f: func(ids []int32, out []float32) {
		for i := range ids {
			row := out[i*testV : (i+1)*testV]
			for j := range row {
				row[j] = 0
			}
			row[i%5] = 5
			if i == 5 || i == 8 {
				row[eot] = 9
			}
		}
	}}
	r, err := Sample(d, []int32{1, 2}, Options{GenLength: 10, StopAtEOT: true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.IDs, []int32{1, 2, 2, 3, 4}) || !slices.Equal(r.Generated, []int32{2, 3, 4}) {
		t.Fatalf("StopAtEOT: ids %v generated %v", r.IDs, r.Generated)
	}
	// Infill: an EOT in a middle span stays; the trailing span is cut at its first EOT.
	const m = testV - 1
	r, err = Infill(d, []int32{1, m, m, m, m, m, 6, m, m, m}, Options{StopAtEOT: true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.IDs, []int32{1, 1, 2, 3, 4, eot, 6, 2}) || !slices.Equal(r.Generated, []int32{1, 2, 3, 4, eot, 2}) {
		t.Fatalf("StopAtEOT infill: ids %v generated %v", r.IDs, r.Generated)
	}
}

func TestErrors(t *testing.T) {
	bad := &toy{v: testV, f: func(ids []int32, out []float32) {}}
	cases := []struct {
		d      Denoiser
		prompt []int32
		o      Options
		want   string
	}{
		{noisy(testV), nil, Options{}, "GenLength"},
		{noisy(testV), []int32{testV - 1}, Options{GenLength: 2}, "MASK at position 0"},
		{noisy(testV), []int32{testV}, Options{GenLength: 2}, "outside the vocabulary"},
		{noisy(testV), nil, Options{GenLength: 2, Strategy: "greedy"}, "unknown Strategy"},
		{noisy(testV), nil, Options{GenLength: 2, Grid: "log"}, "unknown Grid"},
		{noisy(testV), nil, Options{GenLength: 2, Confidence: "p"}, "unknown Confidence"},
		{noisy(testV), nil, Options{GenLength: 2, Strategy: "semi-ar"}, "BlockLength"},
		{noisy(testV), nil, Options{GenLength: 2, Strategy: "threshold", Confidence: "entropy"}, "negative Threshold"},
		{noisy(testV), nil, Options{GenLength: 2, Temperature: -1}, "Temperature"},
		{noisy(testV), nil, Options{GenLength: 2, MaskID: 99}, "MaskID"},
		{&toy{v: testV, fail: true}, nil, Options{GenLength: 2}, "toy failure"},
		{&wrongLen{}, nil, Options{GenLength: 2}, "returned 3 logits"},
		{bad, nil, Options{GenLength: 2}, ""}, // all-zero logits are fine
	}
	for _, c := range cases {
		_, err := Sample(c.d, c.prompt, c.o)
		if c.want == "" {
			if err != nil {
				t.Errorf("%+v: unexpected %v", c.o, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one containing %q", c.o, err, c.want)
		}
	}
}

type wrongLen struct{}

func (wrongLen) Vocab() int                            { return testV }
func (wrongLen) Logits(ids []int32) ([]float32, error) { return make([]float32, 3), nil }

// rowToy is a toy that computes the rows it is asked for (sample.RowDenoiser), recording
// how many it was asked for.
type rowToy struct {
	*toy
	rowCalls, rows int
}

func (r *rowToy) RowLogits(ids []int32, rows []int32) ([]float32, error) {
	l, err := r.toy.Logits(ids)
	if err != nil {
		return nil, err
	}
	r.rowCalls++
	r.rows += len(rows)
	out := make([]float32, 0, len(rows)*r.v)
	for _, i := range rows {
		out = append(out, l[int(i)*r.v:int(i+1)*r.v]...)
	}
	return out, nil
}

// The evaluator asks a RowDenoiser for the rows a step reads; a cached entry answers a
// later call that needs a subset of its rows, and only that.
func TestEvaluatorRows(t *testing.T) {
	d := &rowToy{toy: noisy(testV)}
	e := newEvaluator(d)
	a := []int32{1, 2, 3, 4}
	full, _ := noisy(testV).Logits(a)
	v := testV
	for _, step := range []struct {
		rows         []int
		calls, asked int // the denoiser's calls and RowLogits's rows after the step
	}{{[]int{0, 2}, 1, 2}, {[]int{2}, 1, 2}, {[]int{1, 2}, 2, 4}, {nil, 3, 4}, {[]int{3}, 3, 4}} {
		got, err := e.logits(a, step.rows)
		if err != nil {
			t.Fatal(err)
		}
		want := step.rows
		if want == nil {
			want = []int{0, 1, 2, 3}
		}
		for _, i := range want {
			if !slices.Equal(got[i*v:(i+1)*v], full[i*v:(i+1)*v]) {
				t.Fatalf("rows %v: row %d differs from the full logits", step.rows, i)
			}
		}
		if e.calls != step.calls || d.calls != step.calls || d.rows != step.asked {
			t.Fatalf("after rows %v: %d calls (denoiser %d), %d rows asked; want %d calls, %d rows",
				step.rows, e.calls, d.calls, d.rows, step.calls, step.asked)
		}
	}
}

// Every strategy writes the same tokens with the same calls whether or not the network
// computes only the rows a step reads, and then it computes fewer.
func TestSampleRowsSameOutput(t *testing.T) {
	for _, opt := range []Options{
		{Strategy: "random", Temperature: 1},
		{Strategy: "low-confidence", Temperature: 0.7, TopP: 0.9},
		{Strategy: "semi-ar", BlockLength: 4, Temperature: 0.8},
		{Strategy: "threshold", Threshold: 0.3, BlockLength: 6},
		{Strategy: "semi-ar", BlockLength: 4, CFGScale: 1},
	} {
		opt.GenLength, opt.Steps, opt.Seed = 12, 8, 7
		plain := noisy(testV)
		rows := &rowToy{toy: noisy(testV)}
		want, err := Sample(plain, []int32{1, 2, 3}, opt)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Sample(rows, []int32{1, 2, 3}, opt)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.IDs, want.IDs) || got.NFE != want.NFE {
			t.Errorf("%s: %v in %d calls with rows, %v in %d without", opt.Strategy, got.IDs, got.NFE, want.IDs, want.NFE)
		}
		if rows.rowCalls == 0 || rows.rows >= rows.calls*15 {
			t.Errorf("%s: %d row calls for %d rows over %d calls of 15 positions: no rows saved", opt.Strategy, rows.rowCalls, rows.rows, rows.calls)
		}
	}
}
