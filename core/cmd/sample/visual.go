package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/austen-diffusion/textdiffusion/core/sample"
	"github.com/austen-diffusion/textdiffusion/core/tokenizer"
)

// ANSI styles of the live view.
const (
	styleMask  = "\x1b[2m"      // dim
	styleNew   = "\x1b[1;36m"   // committed by this step (plain sampler, or the target alone)
	styleAcc   = "\x1b[1;32m"   // speculative: drafted and accepted by the target
	styleCorr  = "\x1b[1;4;31m" // speculative: drafted, rejected and drawn again
	styleReset = "\x1b[0m"
	maskGlyph  = "░"
)

// liveView redraws the sequence in place after every sampler step: committed text as it
// is, the tokens committed by this step highlighted, each masked position a dim ░. It
// moves the cursor back over the rows the last frame took, so it needs a terminal, and a
// frame must fit on the screen: a longer text (long generation grows past it) is shown
// from the first token that lets the rest fit, after an ellipsis; the final frame prints
// it whole.
type liveView struct {
	w      io.Writer
	tok    *tokenizer.Tokenizer
	mask   int32
	width  int
	height int // rows a frame may take
	rows   int // screen rows of the last frame
	delay  time.Duration
	slept  time.Duration // total pause, taken out of the reported time
	style  []string      // (L) the highlight of each position in this frame ("" none)
	sb     strings.Builder
	plain  strings.Builder // the frame without escapes, to count its rows
}

func newLiveView(w io.Writer, tok *tokenizer.Tokenizer, ids []int32, delay time.Duration) *liveView {
	v := &liveView{w: w, tok: tok, mask: tok.Mask(), width: 80, height: 23, delay: delay, style: make([]string, len(ids))}
	if f, ok := w.(*os.File); ok {
		if cols, rows, err := term.GetSize(int(f.Fd())); err == nil && cols > 0 && rows > 1 {
			v.width, v.height = cols, rows-1
		}
	}
	v.draw(ids, nil, nil, true)
	return v
}

// frame is the sampler's OnStep.
func (v *liveView) frame(_ int, ids []int32, committed []int) {
	v.draw(ids, committed, nil, true)
	v.pause()
}

// specFrame is the speculative sampler's OnStep: accepted and corrected drafted tokens
// get their own styles.
func (v *liveView) specFrame(_ int, ids []int32, committed []int, origin []sample.Origin) {
	v.draw(ids, committed, origin, true)
	v.pause()
}

func (v *liveView) pause() {
	if v.delay > 0 {
		time.Sleep(v.delay)
		v.slept += v.delay
	}
}

// finish draws the final text without highlights and ends the line.
func (v *liveView) finish(ids []int32) {
	v.draw(ids, nil, nil, false)
	fmt.Fprintln(v.w)
}

// draw writes the frame of ids with the committed positions highlighted, each by its
// origin when origin (parallel to committed) is given; fit keeps it within the screen's
// height (see liveView).
func (v *liveView) draw(ids []int32, committed []int, origin []sample.Origin, fit bool) {
	if len(v.style) < len(ids) {
		v.style = make([]string, len(ids))
	}
	clear(v.style)
	for j, i := range committed {
		v.style[i] = styleNew
		if origin != nil {
			switch origin[j] {
			case sample.Accepted:
				v.style[i] = styleAcc
			case sample.Corrected:
				v.style[i] = styleCorr
			}
		}
	}
	from := 0
	if fit {
		from = v.fitFrom(ids)
	}
	prev := v.rows
	v.render(ids, from, prev)
	if fit && v.rows > v.height && from < len(ids)-1 {
		// Highlights do not change the text's width, but decoding a piece alone can
		// (bytes of a character split at a highlight): take one token more.
		v.render(ids, from+1, prev)
	}
	io.WriteString(v.w, v.sb.String())
}

// fitFrom is the first token from which the frame (after an ellipsis) takes at most
// v.height rows: 0 when the whole text fits. Rows only fall as tokens are dropped from
// the front, so a binary search finds it.
func (v *liveView) fitFrom(ids []int32) int {
	rows := func(from int) int {
		s := v.plainOf(ids[from:])
		if from > 0 {
			s = ellipsis + s
		}
		return screenRows(s, v.width)
	}
	if rows(0) <= v.height {
		return 0
	}
	lo, hi := 1, len(ids) // rows(hi) fits: the empty tail
	for lo < hi {
		mid := (lo + hi) / 2
		if rows(mid) <= v.height {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// ellipsis stands for the text a fitted frame leaves out.
const ellipsis = "… "

// plainOf is the frame's text of ids without escapes.
func (v *liveView) plainOf(ids []int32) string {
	var b strings.Builder
	for i := 0; i < len(ids); {
		j := i
		if ids[i] == v.mask {
			for j < len(ids) && ids[j] == v.mask {
				j++
			}
			b.WriteString(strings.Repeat(maskGlyph, j-i))
		} else {
			for j < len(ids) && ids[j] != v.mask {
				j++
			}
			b.WriteString(displayText(v.tok.Decode(ids[i:j])))
		}
		i = j
	}
	return b.String()
}

// render builds the frame of ids[from:] into v.sb (and its plain text into v.plain), after
// moving back over the last frame's prev rows, and counts its rows into v.rows.
func (v *liveView) render(ids []int32, from, prev int) {
	v.sb.Reset()
	v.plain.Reset()
	// Back to the first row of the last frame, and clear from there.
	if prev > 1 {
		fmt.Fprintf(&v.sb, "\x1b[%dA", prev-1)
	}
	v.sb.WriteString("\r\x1b[J")
	if from > 0 {
		v.sb.WriteString(styleMask + ellipsis + styleReset)
		v.plain.WriteString(ellipsis)
	}
	for i := from; i < len(ids); {
		if ids[i] == v.mask {
			j := i
			for j < len(ids) && ids[j] == v.mask {
				j++
			}
			v.sb.WriteString(styleMask + strings.Repeat(maskGlyph, j-i) + styleReset)
			v.plain.WriteString(strings.Repeat(maskGlyph, j-i))
			i = j
			continue
		}
		j := i
		for j < len(ids) && ids[j] != v.mask && v.style[j] == v.style[i] {
			j++
		}
		text := displayText(v.tok.Decode(ids[i:j]))
		if v.style[i] != "" {
			v.sb.WriteString(v.style[i] + text + styleReset)
		} else {
			v.sb.WriteString(text)
		}
		v.plain.WriteString(text)
		i = j
	}
	v.rows = screenRows(v.plain.String(), v.width)
}

// displayText makes decoded bytes safe to print: bytes of a character split between
// pieces are dropped, tabs become a space and other control characters but newline are
// dropped (they would move the cursor and break the redraw).
func displayText(b []byte) string {
	s := strings.ToValidUTF8(string(b), "")
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n':
			return r
		case r == '\t':
			return ' '
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			return -1
		}
		return r
	}, s)
}

// screenRows is the number of terminal rows s takes from column 0 at the given width (a
// full row wraps only when the next character comes, as terminals do).
func screenRows(s string, width int) int {
	rows, col := 1, 0
	for len(s) > 0 {
		r, n := utf8.DecodeRuneInString(s)
		s = s[n:]
		if r == '\n' {
			rows, col = rows+1, 0
			continue
		}
		if col == width {
			rows, col = rows+1, 0
		}
		col++
	}
	return rows
}
