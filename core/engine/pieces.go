package engine

import (
	"strings"

	"github.com/austen-diffusion/textdiffusion/core/sample"
	"unicode/utf8"
)

// The state of one position in a snapshot, for the page's styling.
const (
	Given     = 0 // part of the input (prompt or the text around a blank)
	Masked    = 1 // not yet written
	Written   = 2 // written by an earlier step
	Committed = 3 // written by this step
	End       = 4 // the end-of-text token, written by the model
	Accepted  = 5 // speculative: drafted and kept by the target
	Corrected = 6 // speculative: drafted, rejected and drawn again by the target
)

// Pieces is a sequence rendered for display: one text piece and one state per position.
// A character that spans tokens goes with the token that completes it, so each piece is
// valid UTF-8; masked and end positions have empty text.
type Pieces struct {
	Texts  []string `json:"texts"`
	States []int8   `json:"states"`
}

// Pieces renders ids; given marks the input positions (len(given) == len(ids)) and
// committed lists the positions this step wrote.
func (e *Engine) Pieces(ids []int32, given []bool, committed []int) Pieces {
	mask, eot := e.cfg.MaskID(), e.cfg.EOTID()
	p := Pieces{Texts: make([]string, len(ids)), States: make([]int8, len(ids))}
	for i, t := range ids {
		switch {
		case t == mask:
			p.States[i] = Masked
		case t == eot && !given[i]:
			p.States[i] = End
		case given[i]:
			p.States[i] = Given
		default:
			p.States[i] = Written
		}
	}
	for _, i := range committed {
		if p.States[i] == Written {
			p.States[i] = Committed
		}
	}
	// Texts run by run of decodable tokens, carrying incomplete characters forward.
	var pending []byte
	flush := func(i int) { // the run ended before position i
		if len(pending) > 0 && i > 0 {
			p.Texts[i-1] += strings.ToValidUTF8(string(pending), "\uFFFD")
		}
		pending = pending[:0]
	}
	for i, t := range ids {
		if p.States[i] == Masked || p.States[i] == End {
			flush(i)
			continue
		}
		pending = append(pending, e.tok.TokenBytes(t)...)
		cut := completePrefix(pending)
		p.Texts[i] = strings.ToValidUTF8(string(pending[:cut]), "\uFFFD")
		pending = append(pending[:0], pending[cut:]...)
	}
	flush(len(ids))
	return p
}

// mark gives the written positions that speculative sampling drafted their origin's
// state (Accepted or Corrected); origin is nil for plain sampling, else parallel to p.
func (p *Pieces) mark(origin []sample.Origin) {
	for i, o := range origin[:min(len(origin), len(p.States))] {
		if st := p.States[i]; st != Written && st != Committed {
			continue
		}
		switch o {
		case sample.Accepted:
			p.States[i] = Accepted
		case sample.Corrected:
			p.States[i] = Corrected
		}
	}
}

// completePrefix is the length of b without a trailing incomplete UTF-8 sequence (one
// that more bytes could still complete).
func completePrefix(b []byte) int {
	for k := 1; k <= utf8.UTFMax-1 && k <= len(b); k++ {
		c := b[len(b)-k]
		if c < 0x80 {
			return len(b) // ASCII: complete
		}
		if utf8.RuneStart(c) {
			if !utf8.FullRune(b[len(b)-k:]) {
				return len(b) - k
			}
			return len(b)
		}
	}
	return len(b)
}
