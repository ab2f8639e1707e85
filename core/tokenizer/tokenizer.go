package tokenizer

import (
	"fmt"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// The two special tokens, always the last two ids.
const (
	EOTText  = "<|endoftext|>"
	MaskText = "<|mask|>"
)

// Tokenizer is a trained byte-level BPE vocabulary. It is safe for concurrent use.
type Tokenizer struct {
	pieces [][]byte          // pieces[id] is the byte string of id; specials hold their literal text
	byteID [256]int32        // byteID[b] is the id of the one-byte piece b
	merges [][2]int32        // merges in rank order
	ranks  map[uint64]uint64 // pairKey(a, b) -> rank<<32 | id of the merged piece

	mu    sync.RWMutex
	cache map[string][]int32 // pre-token -> its ids
}

// Cache limits: enough for every distinct word of a book collection, bounded for
// adversarial input (the cache is dropped when full).
const (
	maxCacheEntries = 1 << 17
	maxCachedLen    = 64
)

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// build checks a vocabulary and its merges and makes a Tokenizer. pieces holds every
// id including the two specials at the end; merges[r] = (a, b) merges into the
// non-special piece whose bytes are pieces[a]+pieces[b].
func build(pieces [][]byte, merges [][2]int32) (*Tokenizer, error) {
	v := len(pieces)
	if v < 258 {
		return nil, fmt.Errorf("vocab size %d, need at least 258 (256 bytes and 2 specials)", v)
	}
	if string(pieces[v-2]) != EOTText || string(pieces[v-1]) != MaskText {
		return nil, fmt.Errorf("ids %d and %d must be %q and %q, got %q and %q",
			v-2, v-1, EOTText, MaskText, pieces[v-2], pieces[v-1])
	}
	t := &Tokenizer{pieces: pieces, merges: merges, ranks: make(map[uint64]uint64, len(merges)), cache: map[string][]int32{}}
	byPiece := make(map[string]int32, v)
	for id, p := range pieces[:v-2] {
		if len(p) == 0 {
			return nil, fmt.Errorf("id %d has an empty piece", id)
		}
		if prev, ok := byPiece[string(p)]; ok {
			return nil, fmt.Errorf("ids %d and %d are the same piece %q", prev, id, p)
		}
		if string(p) == EOTText || string(p) == MaskText {
			return nil, fmt.Errorf("id %d is an ordinary token with the text of special token %q", id, p)
		}
		byPiece[string(p)] = int32(id)
	}
	for b := range 256 {
		id, ok := byPiece[string([]byte{byte(b)})]
		if !ok {
			return nil, fmt.Errorf("vocab has no token for byte 0x%02x", b)
		}
		t.byteID[b] = id
	}
	for r, m := range merges {
		a, b := m[0], m[1]
		if a < 0 || b < 0 || int(a) >= v-2 || int(b) >= v-2 {
			return nil, fmt.Errorf("merge %d refers to id %d or %d outside the vocab of %d non-special tokens", r, a, b, v-2)
		}
		id, ok := byPiece[string(pieces[a])+string(pieces[b])]
		if !ok {
			return nil, fmt.Errorf("merge %d (%q + %q) makes a piece that is not in the vocab", r, pieces[a], pieces[b])
		}
		k := pairKey(a, b)
		if prev, ok := t.ranks[k]; ok {
			return nil, fmt.Errorf("merge %d (%q + %q) repeats merge %d", r, pieces[a], pieces[b], prev>>32)
		}
		t.ranks[k] = uint64(r)<<32 | uint64(id)
	}
	return t, nil
}

// Vocab returns the number of ids, specials included.
func (t *Tokenizer) Vocab() int { return len(t.pieces) }

// EOT returns the id of "<|endoftext|>", Vocab()-2.
func (t *Tokenizer) EOT() int32 { return int32(len(t.pieces) - 2) }

// Mask returns the id of "<|mask|>", Vocab()-1.
func (t *Tokenizer) Mask() int32 { return int32(len(t.pieces) - 1) }

// NumMerges returns the number of merge rules.
func (t *Tokenizer) NumMerges() int { return len(t.merges) }

// Encode returns the ids of s. Any byte string is accepted, and the text of a special
// token inside s is encoded as ordinary bytes, never as the special id (as Hugging Face
// does with split_special_tokens=True), so Decode(Encode(s)) == s always.
func (t *Tokenizer) Encode(s []byte) []int32 {
	return t.AppendEncode(make([]int32, 0, len(s)/4+1), s)
}

// AppendEncode appends the ids of s to dst and returns it.
func (t *Tokenizer) AppendEncode(dst []int32, s []byte) []int32 {
	for i := 0; i < len(s); {
		j := nextPretoken(s, i)
		dst = t.appendWord(dst, s[i:j])
		i = j
	}
	return dst
}

// appendWord appends the ids of one pre-token, from the cache when it is there.
func (t *Tokenizer) appendWord(dst []int32, w []byte) []int32 {
	if len(w) == 1 {
		return append(dst, t.byteID[w[0]])
	}
	if len(w) > maxCachedLen {
		return t.bpe(dst, w)
	}
	t.mu.RLock()
	ids, ok := t.cache[string(w)]
	t.mu.RUnlock()
	if ok {
		return append(dst, ids...)
	}
	n := len(dst)
	dst = t.bpe(dst, w)
	ids = append([]int32(nil), dst[n:]...)
	t.mu.Lock()
	if len(t.cache) >= maxCacheEntries {
		clear(t.cache)
	}
	t.cache[string(w)] = ids
	t.mu.Unlock()
	return dst
}

// bpe appends the ids of w after applying the merges: repeatedly the adjacent pair of
// lowest rank, leftmost first (the order of Hugging Face's Word::merge_all).
func (t *Tokenizer) bpe(dst []int32, w []byte) []int32 {
	if len(w) > 48 {
		return t.bpeHeap(dst, w)
	}
	var buf [48]int32
	syms := buf[:len(w)]
	for i, c := range w {
		syms[i] = t.byteID[c]
	}
	for len(syms) > 1 {
		best, pos := ^uint64(0), -1
		for i := 0; i+1 < len(syms); i++ {
			if m, ok := t.ranks[pairKey(syms[i], syms[i+1])]; ok && m < best {
				best, pos = m, i
			}
		}
		if pos < 0 {
			break
		}
		syms[pos] = int32(uint32(best))
		syms = append(syms[:pos+1], syms[pos+2:]...)
	}
	return append(dst, syms...)
}

// bpeHeap is bpe in O(n log n) for long pre-tokens (a long run of spaces or of
// punctuation would make the quadratic scan slow): a linked list of symbols and a
// min-heap of candidate merges ordered by (rank, position), stale entries skipped.
func (t *Tokenizer) bpeHeap(dst []int32, w []byte) []int32 {
	n := len(w)
	syms := make([]int32, n)
	next := make([]int32, n)
	prev := make([]int32, n)
	alive := make([]bool, n)
	for i, c := range w {
		syms[i] = t.byteID[c]
		next[i] = int32(i + 1)
		prev[i] = int32(i - 1)
		alive[i] = true
	}
	next[n-1] = -1
	var h mergeHeap
	push := func(p int32) {
		if q := next[p]; q >= 0 {
			if m, ok := t.ranks[pairKey(syms[p], syms[q])]; ok {
				h.push(uint64(m>>32)<<32 | uint64(p))
			}
		}
	}
	for i := range n - 1 {
		push(int32(i))
	}
	for len(h) > 0 {
		e := h.pop()
		rank, p := uint32(e>>32), int32(uint32(e))
		q := next[p]
		if !alive[p] || q < 0 {
			continue
		}
		m, ok := t.ranks[pairKey(syms[p], syms[q])]
		if !ok || uint32(m>>32) != rank {
			continue
		}
		syms[p] = int32(uint32(m))
		alive[q] = false
		next[p] = next[q]
		if next[q] >= 0 {
			prev[next[q]] = p
		}
		if prev[p] >= 0 {
			push(prev[p])
		}
		push(p)
	}
	for i := int32(0); i >= 0; i = next[i] {
		dst = append(dst, syms[i])
	}
	return dst
}

// mergeHeap is a binary min-heap of rank<<32 | position.
type mergeHeap []uint64

func (h *mergeHeap) push(x uint64) {
	*h = append(*h, x)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if s[p] <= s[i] {
			break
		}
		s[p], s[i] = s[i], s[p]
		i = p
	}
}

func (h *mergeHeap) pop() uint64 {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s = s[:last]
	for i := 0; ; {
		l, m := 2*i+1, i
		if l < len(s) && s[l] < s[m] {
			m = l
		}
		if r := l + 1; r < len(s) && s[r] < s[m] {
			m = r
		}
		if m == i {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}

// Decode returns the bytes of ids. The special tokens decode to their literal text
// ("<|endoftext|>", "<|mask|>"), which Encode would read back as ordinary bytes.
// An id outside [0, Vocab()) is a programming error and panics.
func (t *Tokenizer) Decode(ids []int32) []byte {
	return t.AppendDecode(nil, ids)
}

// AppendDecode appends the bytes of ids to dst and returns it.
func (t *Tokenizer) AppendDecode(dst []byte, ids []int32) []byte {
	for _, id := range ids {
		if id < 0 || int(id) >= len(t.pieces) {
			panic("tokenizer: id out of range")
		}
		dst = append(dst, t.pieces[id]...)
	}
	return dst
}

// TokenBytes returns the bytes of one id (the literal text for a special); the caller
// must not modify them. It panics on an id outside [0, Vocab()).
func (t *Tokenizer) TokenBytes(id int32) []byte {
	if id < 0 || int(id) >= len(t.pieces) {
		panic("tokenizer: id out of range")
	}
	return t.pieces[id]
}

// TokenString returns a readable form of one id for displays: printable text as is,
// \n \t \r escaped, other control characters and bytes that are not valid UTF-8 on
// their own (part of a multi-byte character) as \xNN. An id out of range gives
// "<bad id N>".
func (t *Tokenizer) TokenString(id int32) string {
	if id < 0 || int(id) >= len(t.pieces) {
		return fmt.Sprintf("<bad id %d>", id)
	}
	p := t.pieces[id]
	var sb strings.Builder
	for i := 0; i < len(p); {
		r, n := utf8.DecodeRune(p[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			fmt.Fprintf(&sb, `\x%02x`, p[i])
		case r == '\n':
			sb.WriteString(`\n`)
		case r == '\t':
			sb.WriteString(`\t`)
		case r == '\r':
			sb.WriteString(`\r`)
		case !unicode.IsPrint(r) && r != ' ':
			for _, b := range p[i : i+n] {
				fmt.Fprintf(&sb, `\x%02x`, b)
			}
		default:
			sb.Write(p[i : i+n])
		}
		i += n
	}
	return sb.String()
}
