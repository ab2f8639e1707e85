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
	"regexp"
	"strings"

	"github.com/austen-diffusion/textdiffusion/core/tokenizer"
)

// Spellings are the ways to write a blank, for help texts and messages.
const Spellings = "___ or [MASK]"

// DefaultTokens is how many tokens a blank stands for when no count is given: about two
// words (a token is about 4 characters).
const DefaultTokens = 8

var (
	blank    = regexp.MustCompile(`_{3,}|\[MASK\]`)
	nearMiss = regexp.MustCompile(`(?i)\[mask\]`) // [MASK] in the wrong case
)

// Parse splits text at its blanks and returns the pieces of text around them: one more
// piece than there are blanks (pieces may be empty), with the space a blank takes from the
// text already removed. It fails when the text has no blank, or writes [MASK] in another
// case (a blank the writer meant, which would otherwise be sent to the model as text).
func Parse(text string) (pieces []string, err error) {
	for _, loc := range nearMiss.FindAllStringIndex(text, -1) {
		if s := text[loc[0]:loc[1]]; s != "[MASK]" {
			return nil, fmt.Errorf("infill: %q at byte %d: a blank is written %s (in capitals)", s, loc[0], Spellings)
		}
	}
	at := 0
	for _, loc := range blank.FindAllStringIndex(text, -1) {
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
