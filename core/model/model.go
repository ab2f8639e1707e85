package model

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/austen-diffusion/textdiffusion/core/nn"
)

// Model is the network with its parameter and gradient arenas and the activations of the
// last forward pass (kept for Backward). It is not safe for concurrent use.
type Model struct {
	Cfg    Config
	Params []float32 // arena of every parameter, in Specs order
	Grads  []float32 // same layout as Params
	W, G   Weights   // named views into Params and Grads

	// Drop is residual dropout for training; the zero value (P 0) turns it off, and the
	// trainer sets it only around its own forward and backward, so evaluation and
	// sampling never see it.
	Drop Dropout

	rope *nn.RopeTable
	act  *acts
	lat  *latentActs // a latent network's ends (latent.go)
}

// Dropout zeroes each output of a block's two projections (attention's wo and the MLP's
// w2) with probability P before it joins the residual stream, and scales the kept ones by
// 1/(1-P), so the expected stream is unchanged (GPT-2's residual dropout). The masks come
// from Rng, which the trainer derives from (seed, step) so a resumed run draws the same.
type Dropout struct {
	P   float32
	Rng *rand.Rand
}

// New returns a model with freshly initialised weights: N(0, 0.02) for matrices and
// embeddings, the output projections of each block (wo, w2) scaled by 1/sqrt(2 x layers)
// as in GPT-2 so the residual stream does not grow with depth, norms at 1.
func New(cfg Config, seed uint64) (*Model, error) {
	m, err := Empty(cfg)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	resid := 0.02 / math.Sqrt(2*float64(cfg.Layers))
	for _, s := range cfg.Specs() {
		t := m.W.ByName[s.Name]
		std := 0.02
		switch {
		case latentTensors[s.Name]:
			continue // biases start at 0
		case len(s.Shape) == 1:
			for i := range t {
				t[i] = 1
			}
			continue
		case hasSuffix(s.Name, ".wo"), hasSuffix(s.Name, ".w2"):
			std = resid
		}
		for i := range t {
			t[i] = float32(rng.NormFloat64() * std)
		}
	}
	return m, nil
}

// Empty returns a model with zero weights (to be filled from a checkpoint).
func Empty(cfg Config) (*Model, error) {
	m, err := EmptyInference(cfg)
	if err != nil {
		return nil, err
	}
	m.Grads = make([]float32, len(m.Params))
	m.G = cfg.view(m.Grads)
	return m, nil
}

// EmptyInference is Empty without the gradient arena, and its forward passes allocate no
// gradient scratch: a model that only samples (the page, the edge worker) needs half the
// memory. Backward panics on it.
func EmptyInference(cfg Config) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &Model{Cfg: cfg, Params: make([]float32, cfg.NumParams())}
	m.W = cfg.view(m.Params)
	m.rope = nn.NewRopeTable(cfg.SeqLen, cfg.Dim/cfg.Heads, cfg.RopeTheta)
	return m, nil
}

func hasSuffix(s, suf string) bool { return len(s) >= len(suf) && s[len(s)-len(suf):] == suf }

// acts holds every activation of a forward pass over (B, L) that the backward needs,
// plus gradient scratch of the same shapes, allocated once per (B, L).
type acts struct {
	B, L    int
	ids     []int32
	x       []float32 // (N,D) residual stream entering the final norm
	layers  []layerActs
	hf      []float32 // (N,D) final normed
	hs      []float32 // (N,D) hf shifted one position right within each sequence (Shift only)
	rstdf   []float32 // (N)
	rows    []int32   // the rows the head ran on (ForwardRows); nil: all N
	hr      []float32 // (len(rows),D) the head's input rows, gathered (ForwardRows only)
	logits  []float32 // (N,V), or (len(rows),V) in front
	drop    bool      // the last Forward applied dropout (layerActs.drop1/drop2 hold its masks)
	cond    []float32 // (N,D) the blocks' conditioning of the last pass (condBuf), nil: none
	condBuf []float32
	head    bool // the last pass ran the head (Forward, ForwardRows), not only the blocks

	// gradient scratch
	dx, dh, dao []float32 // (N,D)
	dqkv        []float32 // (N,3D)
	dgu         []float32 // (N,2F)
	ds          []float32 // (N,F)
	dS          []float32 // (B,H,L,L)
	dcond       []float32 // (N,D) BlocksBackward's gradient of the conditioning
}

type layerActs struct {
	xin, h1, ao, xmid, h2 []float32 // (N,D)
	qkv                   []float32 // (N,3D): each row q, k, v (the joined projection's output)
	rstd1, rstd2          []float32 // (N)
	gu                    []float32 // (N,2F): each row the gate's F values, then up's
	s                     []float32 // (N,F)
	probs                 []float32 // (B,H,L,L)
	drop1, drop2          []float32 // (N,D) dropout masks of wo's and w2's outputs: 0 or 1/(1-P); nil until used
}

func (m *Model) ensure(B, L int) *acts {
	if a := m.act; a != nil && a.B == B && a.L == L {
		return a
	}
	c := m.Cfg
	N, D, F, H := B*L, c.Dim, c.Hidden, c.Heads
	f := func(n int) []float32 { return make([]float32, n) }
	a := &acts{B: B, L: L, ids: make([]int32, N), x: f(N * D), hf: f(N * D), hr: f(N * D), rstdf: f(N), logits: f(N * c.Vocab)}
	a.layers = make([]layerActs, c.Layers)
	for i := range a.layers {
		a.layers[i] = layerActs{xin: f(N * D), h1: f(N * D), qkv: f(3 * N * D), ao: f(N * D),
			xmid: f(N * D), h2: f(N * D), rstd1: f(N), rstd2: f(N), gu: f(2 * N * F), s: f(N * F), probs: f(B * H * L * L)}
	}
	a.dh = f(N * D) // also the forward's scratch
	// An inference-only model never runs Backward: no gradient scratch.
	if m.Grads != nil {
		a.dx, a.dao, a.dqkv = f(N*D), f(N*D), f(3*N*D)
		a.dgu, a.ds, a.dS = f(2*N*F), f(N*F), f(B*H*L*L)
	}
	if c.Shift {
		a.hs = f(N * D)
	}
	m.act = a
	return a
}

// Forward runs the network on B sequences of length L = len(ids)/B and returns the
// logits (B*L, V), a view that stays valid until the next Forward. ids is (B, L).
func (m *Model) Forward(ids []int32, B int) []float32 { return m.forward(ids, B, nil) }

// ForwardRows is Forward with the head run on the listed rows of the (B*L) batch only:
// it returns their logits (len(rows), V), row i for position rows[i]. Rows that carry no
// loss (the unmasked positions of the diffusion objective) then cost nothing in the
// head, whose (V, D) weights are a seventh of the demo model's. Backward then takes the
// gradient of these logits. rows may be empty; each must be in [0, B*L).
func (m *Model) ForwardRows(ids []int32, B int, rows []int32) []float32 {
	if rows == nil {
		rows = []int32{} // nil means every row to forward
	}
	return m.forward(ids, B, rows)
}

func (m *Model) forward(ids []int32, B int, rows []int32) []float32 {
	c := m.Cfg
	if B <= 0 || len(ids)%B != 0 {
		panic("model: ids not divisible into B sequences")
	}
	a := m.start(len(ids)/B, B, nil)
	copy(a.ids, ids)
	nn.Embed(a.layers[0].xin, m.W.TokEmb, ids, c.Vocab, c.Dim)
	m.blocks(a)
	return m.headForward(a, rows)
}

// Hidden runs the network on ids (B, L) up to the final norm and returns its hidden states
// (B*L, D), before the head (and before Shift's move): a model's contextual encodings of
// the text. The view stays valid until the next pass.
func (m *Model) Hidden(ids []int32, B int) []float32 {
	if B <= 0 || len(ids)%B != 0 {
		panic("model: ids not divisible into B sequences")
	}
	a := m.start(len(ids)/B, B, nil)
	copy(a.ids, ids)
	nn.Embed(a.layers[0].xin, m.W.TokEmb, ids, m.Cfg.Vocab, m.Cfg.Dim)
	m.blocks(a)
	return a.hf
}

// BlocksForward runs the Transformer blocks and the final norm on vectors instead of token
// embeddings: x (B*L, D) enters the first block, cond (B*L, D; nil for none) is added to
// the residual stream at the start of every block (a time embedding, say), and the hidden
// states (B*L, D) are returned, a view valid until the next pass. BlocksBackward takes
// their gradient; Backward is for Forward only.
func (m *Model) BlocksForward(x []float32, B int, cond []float32) []float32 {
	D := m.Cfg.Dim
	if B <= 0 || len(x)%(B*D) != 0 {
		panic("model: x not divisible into B sequences of D-vectors")
	}
	L := len(x) / (B * D)
	if cond != nil && len(cond) != len(x) {
		panic("model: cond not the shape of x")
	}
	a := m.start(L, B, cond)
	copy(a.layers[0].xin, x)
	m.blocks(a)
	return a.hf
}

// start checks the shape (B sequences of L positions) and readies the activations of a
// pass, with its dropout and conditioning.
func (m *Model) start(L, B int, cond []float32) *acts {
	if L > m.Cfg.SeqLen || L == 0 {
		panic("model: sequence longer than Config.SeqLen")
	}
	a := m.ensure(B, L)
	a.drop = m.Drop.P > 0
	if a.drop && (m.Drop.P >= 1 || m.Drop.Rng == nil) {
		panic("model: dropout needs 0 <= P < 1 and a generator")
	}
	a.cond, a.head = nil, false
	if cond != nil {
		if len(a.condBuf) != len(cond) {
			a.condBuf = make([]float32, len(cond))
		}
		copy(a.condBuf, cond)
		a.cond = a.condBuf
	}
	return a
}

// blocks runs the blocks and the final norm on a.layers[0].xin, into a.hf.
func (m *Model) blocks(a *acts) {
	c := m.Cfg
	B, L := a.B, a.L
	N, D, F, H := B*L, c.Dim, c.Hidden, c.Heads
	hd := D / H
	for i, w := range m.W.Layers {
		la := &a.layers[i]
		next := a.x
		if i+1 < len(a.layers) {
			next = a.layers[i+1].xin
		}
		if a.cond != nil {
			nn.Add(la.xin, la.xin, a.cond)
		}
		nn.RMSNorm(la.h1, la.rstd1, la.xin, w.AttnNorm, N, D, c.NormEps)
		nn.Linear(la.qkv, la.h1, w.Wqkv, N, D, 3*D)
		nn.RoPE(la.qkv, 3*D, m.rope, B, L, 2*H) // q's and k's heads
		nn.Attention(la.ao, la.probs, la.qkv, la.qkv[D:], la.qkv[2*D:], 3*D, B, L, H, hd, c.Causal)
		nn.Linear(a.dh, la.ao, w.Wo, N, D, D) // dh as scratch for the projection
		if a.drop {
			m.dropout(a.dh, &la.drop1)
		}
		nn.Add(la.xmid, la.xin, a.dh)
		nn.RMSNorm(la.h2, la.rstd2, la.xmid, w.MLPNorm, N, D, c.NormEps)
		nn.Linear(la.gu, la.h2, w.W13, N, D, 2*F)
		nn.SwiGLU(la.s, la.gu, N, F)
		nn.Linear(a.dh, la.s, w.W2, N, F, D)
		if a.drop {
			m.dropout(a.dh, &la.drop2)
		}
		nn.Add(next, la.xmid, a.dh)
	}
	nn.RMSNorm(a.hf, a.rstdf, a.x, m.W.Norm, N, D, c.NormEps)
}

// headForward runs the head on the hidden states a.hf (moved by Shift), on every row or
// on rows only, and returns the logits.
func (m *Model) headForward(a *acts, rows []int32) []float32 {
	c := m.Cfg
	N, D, V := a.B*a.L, c.Dim, c.Vocab
	hin := a.hf
	if c.Shift {
		ShiftRows(a.hs, a.hf, a.B, a.L, D)
		hin = a.hs
	}
	a.rows, a.head = rows, true
	if rows == nil {
		nn.Linear(a.logits, hin, m.W.Head, N, D, V)
		return a.logits
	}
	if len(rows) > N {
		panic("model: more head rows than positions")
	}
	R := len(rows)
	for i, r := range rows {
		if r < 0 || int(r) >= N {
			panic("model: head row outside the batch")
		}
		copy(a.hr[i*D:(i+1)*D], hin[int(r)*D:int(r+1)*D])
	}
	nn.Linear(a.logits[:R*V], a.hr[:R*D], m.W.Head, R, D, V)
	return a.logits[:R*V]
}

// Backward adds to Grads the gradient of the loss whose gradient with respect to the
// logits of the last Forward is dlogits (B*L, V), or (len(rows), V) after ForwardRows.
func (m *Model) Backward(dlogits []float32) {
	a := m.trainable()
	if !a.head {
		panic("model: Backward after a pass without the head (use BlocksBackward)")
	}
	m.headBackward(a, dlogits)
	m.blocksBackward(a)
	nn.EmbedBackward(m.G.TokEmb, a.dx, a.ids, m.Cfg.Dim)
}

// BlocksBackward adds to Grads the gradient of the blocks and the final norm for a loss
// whose gradient with respect to the hidden states of the last pass is dh (B*L, D), and
// returns the gradients at the blocks' input x and at cond (nil when the pass had none),
// both (B*L, D) views valid until the next pass.
func (m *Model) BlocksBackward(dh []float32) (dx, dcond []float32) {
	a := m.trainable()
	N := a.B * a.L * m.Cfg.Dim
	if len(dh) != N {
		panic("model: dh not the shape of the hidden states")
	}
	copy(a.dh, dh)
	m.blocksBackward(a)
	if a.cond != nil {
		dcond = a.dcond
	}
	return a.dx, dcond
}

// trainable returns the activations of the last pass, which Backward needs, or panics.
func (m *Model) trainable() *acts {
	if m.act == nil {
		panic("model: Backward before Forward")
	}
	if m.Grads == nil {
		panic("model: Backward on an inference-only model")
	}
	return m.act
}

// headBackward adds the head's weight gradient and leaves the gradient at the hidden
// states a.hf in a.dh.
func (m *Model) headBackward(a *acts, dlogits []float32) {
	c := m.Cfg
	B, L := a.B, a.L
	N, D, V := B*L, c.Dim, c.Vocab
	hin := a.hf
	if c.Shift {
		hin = a.hs
	}
	clear(a.dh)
	if a.rows == nil {
		if len(dlogits) < N*V {
			panic("model: dlogits size mismatch")
		}
		nn.LinearBackward(a.dh, m.G.Head, dlogits, hin, m.W.Head, N, D, V)
	} else {
		// The head's input gradient of the gathered rows goes back to their positions
		// (dao as scratch); the other positions get none.
		R := len(a.rows)
		if len(dlogits) < R*V {
			panic("model: dlogits size mismatch")
		}
		dhr := a.dao[:R*D]
		clear(dhr)
		nn.LinearBackward(dhr, m.G.Head, dlogits, a.hr[:R*D], m.W.Head, R, D, V)
		for i, r := range a.rows {
			dst := a.dh[int(r)*D : int(r+1)*D]
			for j, g := range dhr[i*D : (i+1)*D] {
				dst[j] += g
			}
		}
	}
	if c.Shift {
		// The head saw the shifted rows a.hs. Once its weight gradient is taken, a.hs is
		// free to hold the gradient of those rows while it goes back to their sources.
		copy(a.hs, a.dh)
		unshiftRowsBackward(a.dh, a.hs, B, L, D)
	}
}

// blocksBackward takes the gradient at the hidden states in a.dh back through the final
// norm and the blocks, adding their weight gradients, into a.dx: the gradient at the first
// block's input (and, with a conditioning, its gradient into a.dcond).
func (m *Model) blocksBackward(a *acts) {
	c := m.Cfg
	B, L := a.B, a.L
	N, D, F, H := B*L, c.Dim, c.Hidden, c.Heads
	hd := D / H
	if a.cond != nil {
		if len(a.dcond) != N*D {
			a.dcond = make([]float32, N*D)
		}
		clear(a.dcond)
	}
	clear(a.dx)
	nn.RMSNormBackward(a.dx, m.G.Norm, a.dh, a.x, m.W.Norm, a.rstdf, N, D)
	for i := len(m.W.Layers) - 1; i >= 0; i-- {
		w, g, la := m.W.Layers[i], m.G.Layers[i], &a.layers[i]
		// MLP: x = xmid + W2(silu(W1 h2) * W3 h2), dx flows through the residual.
		// Dropout's gradient is its mask: the projections see dx * mask (dao as scratch).
		dout := a.dx
		if a.drop {
			dout = a.dao
			nn.Mul(dout, a.dx, la.drop2)
		}
		clear(a.ds)
		nn.LinearBackward(a.ds, g.W2, dout, la.s, w.W2, N, F, D)
		clear(a.dgu)
		nn.SwiGLUBackward(a.dgu, a.ds, la.gu, N, F)
		clear(a.dh)
		nn.LinearBackward(a.dh, g.W13, a.dgu, la.h2, w.W13, N, D, 2*F)
		nn.RMSNormBackward(a.dx, g.MLPNorm, a.dh, la.xmid, w.MLPNorm, la.rstd2, N, D)
		// Attention: xmid = xin + Wo(attn(q, k, v)).
		dout = a.dx
		if a.drop {
			dout = a.dqkv[:N*D] // free until AttentionBackward
			nn.Mul(dout, a.dx, la.drop1)
		}
		clear(a.dao)
		nn.LinearBackward(a.dao, g.Wo, dout, la.ao, w.Wo, N, D, D)
		clear(a.dqkv)
		nn.AttentionBackward(a.dqkv, a.dqkv[D:], a.dqkv[2*D:], a.dS, a.dao, la.probs, la.qkv, la.qkv[D:], la.qkv[2*D:], 3*D, B, L, H, hd)
		nn.RoPEBackward(a.dqkv, 3*D, m.rope, B, L, 2*H)
		clear(a.dh)
		nn.LinearBackward(a.dh, g.Wqkv, a.dqkv, la.h1, w.Wqkv, N, D, 3*D)
		nn.RMSNormBackward(a.dx, g.AttnNorm, a.dh, la.xin, w.AttnNorm, la.rstd1, N, D)
		// The conditioning joined the stream at this block's start: its gradient there.
		if a.cond != nil {
			nn.Add(a.dcond, a.dcond, a.dx)
		}
	}
}

// dropout draws a fresh mask into *mask (allocated on first use) and applies it to x.
func (m *Model) dropout(x []float32, mask *[]float32) {
	if len(*mask) != len(x) {
		*mask = make([]float32, len(x))
	}
	p, keep := m.Drop.P, 1/(1-m.Drop.P)
	rng := m.Drop.Rng
	for i := range *mask {
		if rng.Float32() < p {
			(*mask)[i] = 0
		} else {
			(*mask)[i] = keep
		}
	}
	nn.Mul(x, x, *mask)
}

// ZeroGrad clears the gradient arena.
func (m *Model) ZeroGrad() { clear(m.Grads) }

// Logits runs one sequence (any length up to SeqLen) and returns a fresh (L, V) slice.
// It makes *Model a sample.Denoiser.
func (m *Model) Logits(ids []int32) ([]float32, error) {
	if err := m.checkIDs(ids); err != nil {
		return nil, err
	}
	return append([]float32(nil), m.Forward(ids, 1)...), nil
}

// RowLogits runs one sequence and returns the (len(rows), V) logits of the positions rows
// only (ForwardRows: the head runs on those rows alone). The result is the model's
// buffer, valid until its next forward pass. It makes *Model a sample.RowDenoiser.
func (m *Model) RowLogits(ids []int32, rows []int32) ([]float32, error) {
	if err := m.checkIDs(ids); err != nil {
		return nil, err
	}
	for j, r := range rows {
		if r < 0 || int(r) >= len(ids) || j > 0 && r <= rows[j-1] {
			return nil, fmt.Errorf("model: row %d (entry %d) out of order or outside the sequence of %d", r, j, len(ids))
		}
	}
	return m.ForwardRows(ids, 1, rows), nil
}

// checkIDs reports a sequence the network cannot read: empty, past SeqLen, or with a
// token outside the vocabulary.
func (m *Model) checkIDs(ids []int32) error {
	if len(ids) == 0 || len(ids) > m.Cfg.SeqLen {
		return fmt.Errorf("model: sequence of %d tokens, want 1..%d", len(ids), m.Cfg.SeqLen)
	}
	for i, id := range ids {
		if id < 0 || int(id) >= m.Cfg.Vocab {
			return fmt.Errorf("model: token %d at position %d outside vocabulary of %d", id, i, m.Cfg.Vocab)
		}
	}
	return nil
}

// BatchLogits runs B sequences of the same length at once (ids is (B, L)) and returns the
// (B*L, V) logits: one set of matrix products over B*L rows. The result is the model's
// buffer, valid until its next forward pass. It makes *Model a sample.BatchDenoiser.
func (m *Model) BatchLogits(ids []int32, B int) ([]float32, error) {
	if B <= 0 || len(ids)%B != 0 {
		return nil, fmt.Errorf("model: %d tokens do not split into %d sequences", len(ids), B)
	}
	L := len(ids) / B
	if L == 0 || L > m.Cfg.SeqLen {
		return nil, fmt.Errorf("model: sequences of %d tokens, want 1..%d", L, m.Cfg.SeqLen)
	}
	for i, id := range ids {
		if id < 0 || int(id) >= m.Cfg.Vocab {
			return nil, fmt.Errorf("model: token %d at position %d of sequence %d outside vocabulary of %d", id, i%L, i/L, m.Cfg.Vocab)
		}
	}
	return m.Forward(ids, B), nil
}

// EarlyExit returns the network cut after its first n blocks: the same embedding, the
// first n blocks, then the final norm and the head (a self-speculative draft). It shares
// the weights with m and has no arenas: for inference only.
func (m *Model) EarlyExit(n int) (*Model, error) {
	if n < 1 || n > m.Cfg.Layers {
		return nil, fmt.Errorf("model: early exit after %d blocks of %d", n, m.Cfg.Layers)
	}
	cfg := m.Cfg
	cfg.Layers = n
	w := m.W
	w.Layers = m.W.Layers[:n:n]
	w.ByName = nil
	return &Model{Cfg: cfg, W: w, rope: m.rope}, nil
}

// Vocab is the vocabulary size.
func (m *Model) Vocab() int { return m.Cfg.Vocab }

// ShiftRows writes dst (B,L,D) = src moved one position later within each sequence: row i
// of a sequence is src's row i-1, and row 0 keeps its own. With Config.Shift the head
// reads these rows, so the logits at position i come from the hidden state at i-1, the
// position an autoregressive model predicts token i from.
func ShiftRows(dst, src []float32, B, L, D int) {
	for b := 0; b < B; b++ {
		o := b * L * D
		copy(dst[o:o+D], src[o:o+D])
		copy(dst[o+D:o+L*D], src[o:o+(L-1)*D])
	}
}

// unshiftRowsBackward is ShiftRows' gradient: dsrc (B,L,D) = the gradient g of the
// shifted rows sent back to their sources (row i-1 gets row i's, row 0 also its own).
func unshiftRowsBackward(dsrc, g []float32, B, L, D int) {
	for b := 0; b < B; b++ {
		o := b * L * D
		copy(dsrc[o:o+(L-1)*D], g[o+D:o+L*D])
		clear(dsrc[o+(L-1)*D : o+L*D])
		nn.Add(dsrc[o:o+D], dsrc[o:o+D], g[o:o+D])
	}
}
