// Package infill reads text with blanks: the one syntax of the sample command's -infill
// and of the page's infilling mode.
//
// A blank is written ___ (three or more underscores; one run is one blank, however long)
// or [MASK] (in capitals). Every blank stands for the same number of tokens, given apart
// from the text (the command's -blank-len, the page's "Per blank"; DefaultTokens when not
// given); the text itself holds no count. Blanks may be adjacent ("___[MASK]" is two blanks of n tokens, 2n in a row)
// and may start or end the text.
//
// One space right before a blank belongs to the fill: the tokenizer attaches a space to
// the word after it, so "the ___" is "the" + " word…", and the model writes that space.
// Any other space, including a second one before a blank, is text and stays.
package infill

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/austen-diffusion/textdiffusion/core/tokenizer"
)

// Spellings are the ways to write a blank, for help texts and messages.
const Spellings = "___ or [MASK]"

// DefaultTokens is how many tokens a blank stands for when no count is given: about two
// words (a token is about 4 characters).
const DefaultTokens = 8

// blanks returns the [start, end) byte spans of the blanks in text, left to right: each
// run of three or more underscores, and each [MASK]. (A hand-written scan, not the
// regular expression `_{3,}|\[MASK\]`: package regexp is a twentieth of the page's engine.)
func blanks(text string) [][2]int {
	var spans [][2]int
	for i := 0; i < len(text); {
		switch {
		case text[i] == '_':
			j := i
			for j < len(text) && text[j] == '_' {
				j++
			}
			if j-i >= 3 {
				spans = append(spans, [2]int{i, j})
			}
			i = j
		case strings.HasPrefix(text[i:], "[MASK]"):
			spans = append(spans, [2]int{i, i + len("[MASK]")})
			i += len("[MASK]")
		default:
			i++
		}
	}
	return spans
}

// maskAnyCase returns the first [mask] in text written in any case (Unicode simple case
// folding, as `(?i)\[mask\]` matches) but [MASK], and its byte offset; "" if none.
func maskAnyCase(text string) (string, int) {
	for i := 0; i < len(text); i++ {
		if text[i] != '[' {
			continue
		}
		j := i + 1
		for _, want := range "mask" {
			r, n := utf8.DecodeRuneInString(text[j:])
			if n == 0 || !strings.EqualFold(string(r), string(want)) {
				j = -1
				break
			}
			j += n
		}
		if j < 0 || j >= len(text) || text[j] != ']' {
			continue
		}
		if s := text[i : j+1]; s != "[MASK]" {
			return s, i
		}
	}
	return "", 0
}

// Parse splits text at its blanks and returns the pieces of text around them: one more
// piece than there are blanks (pieces may be empty), with the space a blank takes from the
// text already removed. It fails when the text has no blank, or writes [MASK] in another
// case (a blank the writer meant, which would otherwise be sent to the model as text).
func Parse(text string) (pieces []string, err error) {
	if s, at := maskAnyCase(text); s != "" {
		return nil, fmt.Errorf("infill: %q at byte %d: a blank is written %s (in capitals)", s, at, Spellings)
	}
	at := 0
	for _, loc := range blanks(text) {
		pieces = append(pieces, strings.TrimSuffix(text[at:loc[0]], " "))
		at = loc[1]
	}
	if pieces == nil {
		return nil, errors.New("infill: the text has no blank: write " + Spellings + " where the model should write")
	}
	return append(pieces, text[at:]), nil
}

// Format writes pieces back as text with a blank, " [MASK]", between each two:
// Parse(Format(p)) gives p again for any p that Parse returned. (" ___" would not do:
// a piece that follows a [MASK] may start with underscores, which would join the blank.)
func Format(pieces []string) string {
	return strings.Join(pieces, " [MASK]")
}

// Encode returns the token ids of text with each blank replaced by n MASK tokens, and the
// [start, end) positions of each blank in ids. The pieces are encoded apart, so no token
// spans a blank. limit > 0 caps len(ids): the model's window.
func Encode(tok *tokenizer.Tokenizer, text string, n, limit int) (ids []int32, blanks [][2]int, err error) {
	if n < 1 {
		return nil, nil, fmt.Errorf("infill: %d tokens per blank, want at least 1", n)
	}
	pieces, err := Parse(text)
	if err != nil {
		return nil, nil, err
	}
	for i, p := range pieces {
		if i > 0 {
			blanks = append(blanks, [2]int{len(ids), len(ids) + n})
			for range n {
				ids = append(ids, tok.Mask())
			}
		}
		ids = tok.AppendEncode(ids, []byte(p))
	}
	if limit > 0 && len(ids) > limit {
		return nil, nil, fmt.Errorf("infill: the text with its %d blanks of %d tokens is %d tokens, more than the model's %d positions (shorten the text or the blanks)",
			len(blanks), n, len(ids), limit)
	}
	return ids, blanks, nil
}
