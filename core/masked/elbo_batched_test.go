package masked

import (
	"math/rand/v2"
	"testing"
)

// TestELBOBatchedMatchesELBO: batching the draws changes nothing but the call pattern.
func TestELBOBatchedMatchesELBO(t *testing.T) {
	const L, V = 9, 6
	mask := int32(V - 1)
	// A deterministic "network": logits depend on the position and the visible tokens.
	net := func(xt []int32) []float32 {
		out := make([]float32, len(xt)*V)
		var h float32
		for _, x := range xt {
			h = h*0.7 + float32(x)
		}
		for i := range xt {
			for v := 0; v < V; v++ {
				out[i*V+v] = float32((i*3+v*5)%7)*0.3 + h*0.01*float32(v)
			}
		}
		return out
	}
	x0 := []int32{0, 1, 2, 3, 4, 0, 1, 2, 3}
	calls := 0
	one := func(xt []int32) ([]float32, error) { calls++; return net(xt), nil }
	a, sa, err := ELBO(one, x0, V, mask, 20, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	bcalls := 0
	batched := func(xt []int32, B int) ([]float32, error) {
		bcalls++
		var out []float32
		for b := 0; b < B; b++ {
			out = append(out, net(xt[b*L:(b+1)*L])...)
		}
		return out, nil
	}
	b, sb, err := ELBOBatched(batched, 7, x0, V, mask, 20, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	if a != b || sa != sb {
		t.Fatalf("batched %v±%v, unbatched %v±%v", b, sb, a, sa)
	}
	if calls != 20 || bcalls != 3 {
		t.Fatalf("calls %d (want 20), batched calls %d (want 3)", calls, bcalls)
	}
	// A network that returns only the masked rows' logits gives the same draws.
	rowsOnly := func(xt []int32, B int, rows []int32) ([]float32, error) {
		all, _ := batched(xt, B)
		var out []float32
		for _, r := range rows {
			if xt[r] != mask {
				t.Fatalf("row %d asked for is not masked", r)
			}
			out = append(out, all[int(r)*V:int(r+1)*V]...)
		}
		return out, nil
	}
	_, e1, err := ELBODraws(batched, 7, x0, V, mask, 20, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	_, e2, err := ELBODrawsRows(rowsOnly, 7, x0, V, mask, 20, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	for j := range e1 {
		if e1[j] != e2[j] {
			t.Fatalf("draw %d: %v from the masked rows' logits, %v from all", j, e2[j], e1[j])
		}
	}
}
