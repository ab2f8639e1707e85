package tokenizer

import "fmt"

// Train learns a byte-level BPE vocabulary of vocabSize ids from texts: the 256 bytes,
// merges until there are vocabSize-2 pieces, then EOT (vocabSize-2) and MASK
// (vocabSize-1). Each step merges the adjacent pair with the highest count over all
// pre-tokens, ties going to the smallest (left id, right id), so the result is a pure
// function of the input. A merge whose bytes already are a piece (reached by another
// pair) reuses that id, as Hugging Face's trainer does, so there can be more merges
// than new ids. Train fails if the text runs out of pairs first.
func Train(texts [][]byte, vocabSize int) (*Tokenizer, error) {
	if vocabSize < 258 {
		return nil, fmt.Errorf("tokenizer: vocab size %d, need at least 258 (256 bytes and 2 specials)", vocabSize)
	}
	if vocabSize > 1<<24 {
		return nil, fmt.Errorf("tokenizer: vocab size %d is too large", vocabSize)
	}

	// Distinct pre-tokens with their counts; the merge loop works on these, not on the text.
	index := map[string]int32{}
	var words [][]int32
	var counts []int64
	for _, text := range texts {
		for i := 0; i < len(text); {
			j := nextPretoken(text, i)
			w := text[i:j]
			i = j
			if id, ok := index[string(w)]; ok {
				counts[id]++
				continue
			}
			index[string(w)] = int32(len(words))
			syms := make([]int32, len(w))
			for k, c := range w {
				syms[k] = int32(c)
			}
			words = append(words, syms)
			counts = append(counts, 1)
		}
	}

	pairCount := map[uint64]int64{}
	where := map[uint64][]int32{} // pair -> words that have (or had) it; may repeat
	for w, syms := range words {
		for k := 0; k+1 < len(syms); k++ {
			p := pairKey(syms[k], syms[k+1])
			pairCount[p] += counts[w]
			where[p] = append(where[p], int32(w))
		}
	}
	h := make(pairHeap, 0, len(pairCount))
	for p, c := range pairCount {
		h = append(h, pairEntry{c, p})
	}
	h.init()

	pieces := make([][]byte, 256, vocabSize)
	byPiece := make(map[string]int32, vocabSize)
	for b := range 256 {
		pieces[b] = []byte{byte(b)}
		byPiece[string(pieces[b])] = int32(b)
	}
	var merges [][2]int32
	stamp := make([]int32, len(words)) // last merge (1-based) that rewrote each word
	delta := map[uint64]int64{}
	for len(pieces) < vocabSize-2 {
		if len(h) == 0 {
			return nil, fmt.Errorf("tokenizer: the training text allows only %d pieces, fewer than the %d that vocab size %d needs",
				len(pieces), vocabSize-2, vocabSize)
		}
		e := h.pop()
		if c, ok := pairCount[e.key]; !ok || c != e.count {
			continue // stale: the count changed after this entry was pushed
		}
		a, b := int32(e.key>>32), int32(uint32(e.key))
		merged := append(append([]byte(nil), pieces[a]...), pieces[b]...)
		id, ok := byPiece[string(merged)]
		if !ok {
			id = int32(len(pieces))
			pieces = append(pieces, merged)
			byPiece[string(merged)] = id
		}
		merges = append(merges, [2]int32{a, b})
		mark := int32(len(merges))

		clear(delta)
		for _, w := range where[e.key] {
			if stamp[w] == mark {
				continue
			}
			stamp[w] = mark
			syms, c := words[w], counts[w]
			for k := 0; k+1 < len(syms); k++ {
				delta[pairKey(syms[k], syms[k+1])] -= c
			}
			out := syms[:0] // in place: the write index never passes the read index
			for k := 0; k < len(syms); {
				if k+1 < len(syms) && syms[k] == a && syms[k+1] == b {
					out = append(out, id)
					k += 2
				} else {
					out = append(out, syms[k])
					k++
				}
			}
			words[w] = out
			for k := 0; k+1 < len(out); k++ {
				p := pairKey(out[k], out[k+1])
				delta[p] += c
				if out[k] == id || out[k+1] == id {
					where[p] = append(where[p], w)
				}
			}
		}
		delete(where, e.key)
		for p, d := range delta {
			if d == 0 {
				continue
			}
			c := pairCount[p] + d
			if c <= 0 {
				delete(pairCount, p)
				continue
			}
			pairCount[p] = c
			h.push(pairEntry{c, p})
		}
	}
	pieces = append(pieces, []byte(EOTText), []byte(MaskText))
	t, err := build(pieces, merges)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: training made an invalid vocab: %w", err)
	}
	return t, nil
}

// pairEntry is a heap entry: a pair and its count when pushed.
type pairEntry struct {
	count int64
	key   uint64
}

// before orders the heap: highest count first, then the smallest pair.
func (x pairEntry) before(y pairEntry) bool {
	return x.count > y.count || x.count == y.count && x.key < y.key
}

type pairHeap []pairEntry

func (h pairHeap) init() {
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func (h *pairHeap) push(x pairEntry) {
	*h = append(*h, x)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if !s[i].before(s[p]) {
			break
		}
		s[p], s[i] = s[i], s[p]
		i = p
	}
}

func (h *pairHeap) pop() pairEntry {
	s := *h
	top := s[0]
	s[0] = s[len(s)-1]
	*h = s[:len(s)-1]
	h.down(0)
	return top
}

func (h pairHeap) down(i int) {
	for {
		l, m := 2*i+1, i
		if l < len(h) && h[l].before(h[m]) {
			m = l
		}
		if r := l + 1; r < len(h) && h[r].before(h[m]) {
			m = r
		}
		if m == i {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}
