package main

import "testing"

func TestQuartiles(t *testing.T) {
	for _, c := range []struct {
		x    []float64
		want [5]float64
	}{
		{[]float64{5, 1, 4, 2, 3}, [5]float64{2, 3, 4, 1, 5}},
		{[]float64{4, 1, 3, 2}, [5]float64{1.75, 2.5, 3.25, 1, 4}},
		{[]float64{7}, [5]float64{7, 7, 7, 7, 7}},
	} {
		in := append([]float64(nil), c.x...)
		if got := quartiles(c.x); got != c.want {
			t.Errorf("quartiles(%v) = %v, want %v", in, got, c.want)
		}
		for i := range in {
			if in[i] != c.x[i] {
				t.Fatalf("quartiles reordered its input: %v", c.x)
			}
		}
	}
}
