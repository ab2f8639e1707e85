package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/austen-diffusion/textdiffusion/core/cmd/internal/clitest"
)

var escapes = regexp.MustCompile("\x1b\\[[0-9;]*[A-Za-z]")

// A frame of a text longer than the screen shows its end after an ellipsis, in at most the
// screen's rows; the last frame prints it whole.
func TestLiveViewFitsScreen(t *testing.T) {
	tok := clitest.Tokenizer(t, text)
	ids := tok.Encode([]byte(text))
	ids = append(ids, tok.Mask(), tok.Mask(), tok.Mask())
	var w bytes.Buffer
	v := &liveView{w: &w, tok: tok, mask: tok.Mask(), width: 30, height: 4}
	v.draw(ids, []int{len(ids) - 4}, nil, true)
	frame := escapes.ReplaceAllString(w.String(), "")
	frame = strings.TrimPrefix(frame, "\r")
	if rows := screenRows(frame, 30); rows > 4 || v.rows > 4 {
		t.Fatalf("frame of %d rows (counted %d) on a 4-row screen:\n%s", rows, v.rows, frame)
	}
	if !strings.HasPrefix(frame, ellipsis) || !strings.HasSuffix(frame, strings.Repeat(maskGlyph, 3)) {
		t.Fatalf("frame %q: want the ellipsis, then the text's end and its 3 masks", frame)
	}
	// One token more would not fit: the frame starts as early as it can.
	if from := v.fitFrom(ids); from == 0 || screenRows(ellipsis+v.plainOf(ids[from-1:]), 30) <= 4 {
		t.Fatalf("fitFrom %d is not the first token that fits", from)
	}
	w.Reset()
	v.finish(ids[:len(ids)-3])
	if got := escapes.ReplaceAllString(w.String(), ""); !strings.Contains(got, "Emma Woodhouse") || strings.Contains(got, ellipsis) {
		t.Fatalf("final frame %q: want the whole text", got)
	}
	// A short text fits whole.
	w.Reset()
	v.rows = 0
	v.draw(ids[:5], nil, nil, true)
	if strings.Contains(w.String(), ellipsis) {
		t.Fatalf("a short text was cut: %q", w.String())
	}
}
