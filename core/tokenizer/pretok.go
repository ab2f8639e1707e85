package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// Character classes of the GPT-2 pre-tokenizer pattern
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// written out by hand: a regexp engine is several times slower and Go's has no lookahead.
const (
	clsOther uint8 = iota
	clsLetter
	clsNumber
	clsSpace
)

// asciiClass is the class of each ASCII byte; \s is [\t\n\v\f\r ].
var asciiClass = func() (t [utf8.RuneSelf]uint8) {
	for c := range t {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
			t[c] = clsLetter
		case '0' <= c && c <= '9':
			t[c] = clsNumber
		case c == ' ', '\t' <= c && c <= '\r':
			t[c] = clsSpace
		}
	}
	return t
}()

// classAt returns the class and byte width of the character that starts at s[i].
// A byte that does not start valid UTF-8 is a one-byte "other" character, so every
// byte string splits, and the pieces concatenate back to it.
func classAt(s []byte, i int) (uint8, int) {
	if c := s[i]; c < utf8.RuneSelf {
		return asciiClass[c], 1
	}
	r, n := utf8.DecodeRune(s[i:])
	switch {
	case r == utf8.RuneError && n <= 1:
		return clsOther, 1
	case unicode.IsLetter(r):
		return clsLetter, n
	case unicode.IsNumber(r):
		return clsNumber, n
	case unicode.IsSpace(r):
		return clsSpace, n
	}
	return clsOther, n
}

// nextPretoken returns the end of the pre-token that starts at s[i] (i < len(s)).
func nextPretoken(s []byte, i int) int {
	c := s[i]
	if c == '\'' && i+1 < len(s) {
		switch s[i+1] {
		case 's', 't', 'm', 'd':
			return i + 2
		case 'r', 'v':
			if i+2 < len(s) && s[i+2] == 'e' {
				return i + 3
			}
		case 'l':
			if i+2 < len(s) && s[i+2] == 'l' {
				return i + 3
			}
		}
	}
	// " ?X+" for X letter, number or other: an optional leading space joins the run.
	j := i
	if c == ' ' && i+1 < len(s) {
		if cls, _ := classAt(s, i+1); cls != clsSpace {
			j = i + 1
		}
	}
	cls, n := classAt(s, j)
	if cls != clsSpace {
		j += n
		for j < len(s) {
			if b := s[j]; b < utf8.RuneSelf {
				if asciiClass[b] != cls {
					break
				}
				j++
				continue
			}
			c2, n2 := classAt(s, j)
			if c2 != cls {
				break
			}
			j += n2
		}
		return j
	}
	// Whitespace: "\s+(?!\S)" takes the run but leaves its last character to a following
	// non-space (so " word" keeps its space); a run of one before a non-space is "\s+".
	last, k := i, i
	for k < len(s) {
		c2, n2 := classAt(s, k)
		if c2 != clsSpace {
			break
		}
		last = k
		k += n2
	}
	if k == len(s) || last == i {
		return k
	}
	return last
}

// pretokenize splits s into pre-tokens; it is for tests and tools, Encode and Train
// walk nextPretoken directly.
func pretokenize(s []byte) [][]byte {
	var out [][]byte
	for i := 0; i < len(s); {
		j := nextPretoken(s, i)
		out = append(out, s[i:j])
		i = j
	}
	return out
}
