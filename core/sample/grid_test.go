package sample

import (
	"slices"
	"testing"
)

func TestGridHandValues(t *testing.T) {
	cases := []struct {
		name string
		got  []int
		want []int
	}{
		// t(3)=cos^2(pi/8)=.854, t(2)=.5, t(1)=.146: left 4,3,2,1,0
		{"cosine 4/4", CosineGrid(4, 4), []int{1, 1, 1, 1}},
		// left round(10 t(i)) = 10, 9, 5, 1, 0
		{"cosine 10/4", CosineGrid(10, 4), []int{1, 4, 4, 1}},
		// t(i) over i=5..0 = 1, .905, .655, .345, .095, 0: left 2, 2, 1, 1, 0, 0
		{"cosine 2/5", CosineGrid(2, 5), []int{0, 1, 0, 1, 0}},
		{"cosine 7/1", CosineGrid(7, 1), []int{7}},
		{"cosine 0/3", CosineGrid(0, 3), []int{0, 0, 0}},
		{"linear 10/4", LinearGrid(10, 4), []int{3, 3, 2, 2}},
		{"linear 3/5", LinearGrid(3, 5), []int{1, 1, 1, 0, 0}},
		{"linear 8/8", LinearGrid(8, 8), []int{1, 1, 1, 1, 1, 1, 1, 1}},
	}
	for _, c := range cases {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestGridSumsAndShape(t *testing.T) {
	for n := 0; n <= 70; n++ {
		for steps := 1; steps <= 40; steps++ {
			for _, g := range [][]int{CosineGrid(n, steps), LinearGrid(n, steps)} {
				sum := 0
				for _, k := range g {
					if k < 0 {
						t.Fatalf("n=%d steps=%d: negative entry in %v", n, steps, g)
					}
					sum += k
				}
				if len(g) != steps || sum != n {
					t.Fatalf("n=%d steps=%d: %v has len %d sum %d", n, steps, g, len(g), sum)
				}
			}
			// The cosine grid commits few tokens at both ends and most in the middle: with
			// many tokens its first and last steps are no larger than the middle one.
			if n >= 4*steps && steps >= 3 {
				g := CosineGrid(n, steps)
				if g[0] > g[steps/2] || g[steps-1] > g[steps/2] {
					t.Fatalf("n=%d steps=%d: cosine grid %v not peaked in the middle", n, steps, g)
				}
			}
		}
	}
}
