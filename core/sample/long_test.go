package sample

import (
	"errors"
	"slices"
	"testing"
)

// windowed wraps a toy so that a call longer than the window fails, and records every input.
type windowed struct {
	*toy
	window int
	inputs [][]int32
}

func (w *windowed) Logits(ids []int32) ([]float32, error) {
	if len(ids) > w.window {
		return nil, errors.New("input longer than the window")
	}
	w.inputs = append(w.inputs, slices.Clone(ids))
	return w.toy.Logits(ids)
}

func TestLongFitsIsSample(t *testing.T) {
	opt := Options{GenLength: 6, Temperature: 1, Seed: 7, Strategy: "random"}
	prompt := []int32{1, 2, 3}
	a, err := Long(noisy(12), 16, 0, prompt, opt)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Sample(noisy(12), prompt, opt)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.IDs, b.IDs) || a.NFE != b.NFE || a.Steps != b.Steps {
		t.Fatalf("Long within the window = %+v, Sample = %+v", a, b)
	}
}

func TestLongPastWindow(t *testing.T) {
	const v, window, n = 12, 16, 50
	prompt := []int32{1, 2, 3, 4, 5}
	for _, chunk := range []int{0, 5} {
		d := &windowed{toy: noisy(v), window: window}
		var seen []int
		var views [][]int32
		var lastStep int
		opt := Options{GenLength: n, Temperature: 1, Seed: 3, Strategy: "semi-ar", BlockLength: 4,
			OnStep: func(step int, ids []int32, committed []int) {
				if step != lastStep+1 {
					t.Fatalf("chunk %d: step %d after %d", chunk, step, lastStep)
				}
				lastStep = step
				if !slices.Equal(ids[:len(prompt)], prompt) {
					t.Fatalf("chunk %d: OnStep's text does not start with the prompt: %v", chunk, ids)
				}
				for _, p := range committed {
					if ids[p] == int32(v-1) {
						t.Fatalf("chunk %d: committed position %d is MASK", chunk, p)
					}
				}
				seen = append(seen, committed...)
				views = append(views, slices.Clone(ids))
			}}
		r, err := Long(d, window, chunk, prompt, opt)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Generated) != n || len(r.IDs) != len(prompt)+n || !slices.Equal(r.IDs[:len(prompt)], prompt) {
			t.Fatalf("chunk %d: %d generated of %d, %d ids", chunk, len(r.Generated), n, len(r.IDs))
		}
		if slices.Contains(r.IDs, int32(v-1)) {
			t.Fatalf("chunk %d: MASK left in %v", chunk, r.IDs)
		}
		if r.NFE != d.calls || r.Steps != lastStep {
			t.Fatalf("chunk %d: NFE %d for %d calls, Steps %d for %d reported", chunk, r.NFE, d.calls, r.Steps, lastStep)
		}
		// Every generated position was committed exactly once, in text coordinates.
		slices.Sort(seen)
		for i, p := range seen {
			if p != len(prompt)+i {
				t.Fatalf("chunk %d: committed positions %v, want %d..%d once each", chunk, seen, len(prompt), len(prompt)+n-1)
			}
		}
		// Each input is a stretch of the final text (its given tokens never change), with
		// the chunk's positions, MASK or committed, after its context.
		for _, in := range d.inputs {
			if !aligned(r.IDs, in, int32(v-1)) {
				t.Fatalf("chunk %d: input %v is no stretch of the text %v", chunk, in, r.IDs)
			}
		}
		// OnStep's text is the final text's beginning, MASKs aside: each chunk read the
		// latest tokens before it.
		for _, w := range views {
			if len(w) > len(r.IDs) || !aligned(r.IDs[:len(w)], w, int32(v-1)) {
				t.Fatalf("chunk %d: OnStep text %v is not the beginning of %v", chunk, w, r.IDs)
			}
		}
		longest := 0
		for _, in := range d.inputs {
			longest = max(longest, len(in))
		}
		if longest != window {
			t.Fatalf("chunk %d: the longest input has %d tokens, want the whole window %d", chunk, longest, window)
		}
	}
}

// aligned reports whether in, read with its MASKs as wildcards, is a stretch of text.
func aligned(text, in []int32, mask int32) bool {
	for off := 0; off+len(in) <= len(text); off++ {
		ok := true
		for i, x := range in {
			if x != mask && text[off+i] != x {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func TestLongSteps(t *testing.T) {
	d := &windowed{toy: noisy(12), window: 16}
	r, err := Long(d, 16, 8, []int32{1}, Options{GenLength: 40, Steps: 20, Strategy: "random", Temperature: 1})
	if err != nil {
		t.Fatal(err)
	}
	// 5 chunks of 8 tokens get round(20*8/40) = 4 steps each.
	if r.Steps != 20 || r.NFE != 20 {
		t.Fatalf("Steps %d, NFE %d, want 20 and 20", r.Steps, r.NFE)
	}
}

func TestLongStopAtEOT(t *testing.T) {
	const v = 12
	// peaked predicts token i%(v-2) at position i: EOT (v-2) never, so make one.
	d := &windowed{toy: &toy{v: v, f: func(ids []int32, out []float32) {
		for i := range ids {
			row := out[i*v : (i+1)*v]
			clear(row)
			row[3] = 10
			if len(ids) == 16 && i == 12 {
				row[v-2] = 30 // EOT at position 12 of a full window
			}
		}
	}}, window: 16}
	r, err := Long(d, 16, 8, []int32{1, 2}, Options{GenLength: 60, StopAtEOT: true})
	if err != nil {
		t.Fatal(err)
	}
	// Chunk 1 reads 2+8 tokens (no EOT); chunk 2 reads the last 8 of those and 8 MASKs, so
	// the EOT lands on its 5th token: 8 + 4 tokens, and no chunk after it.
	if slices.Contains(r.IDs, int32(v-2)) || len(r.Generated) != 12 {
		t.Fatalf("StopAtEOT: %d generated, want 12; ids %v", len(r.Generated), r.IDs)
	}
}

func TestLongErrors(t *testing.T) {
	d := noisy(12)
	for _, c := range []struct {
		window, chunk, n int
	}{{16, 16, 20}, {16, -1, 20}, {1, 0, 20}, {16, 0, 0}} {
		if _, err := Long(d, c.window, c.chunk, []int32{1}, Options{GenLength: c.n}); err == nil {
			t.Errorf("window %d chunk %d n %d: no error", c.window, c.chunk, c.n)
		}
	}
	d.fail = true
	if _, err := Long(d, 16, 0, []int32{1}, Options{GenLength: 40}); err == nil {
		t.Error("a failing denoiser gave no error")
	}
}
