// Package jsoncut finds a member of a JSON document without decoding the rest, so that
// a caller can hand its one large member to a cheap loop of its own and the small rest
// to encoding/json. On the page's first visit the browser runs Go from its baseline
// compiler, and encoding/json's loops over a release file's 150 KB tokenizer made
// themselves hot enough to be compiled again in the background, on the cores the first
// sample then wanted (checkpoint's manifest, tokenizer's parse).
package jsoncut

import (
	"strings"
	"unicode/utf8"
)

// Member returns where the value at path (object keys from the top) lies in doc:
// doc[start:end]. ok is false wherever encoding/json might see it otherwise, and the
// caller then decodes doc whole: a path through something other than objects, no such
// member, a second member whose key equals the wanted one but for case (encoding/json
// matches keys regardless of case and keeps the last), a key with an escape, or a
// structure the walk does not follow to the end. It checks the structure's delimiters
// only: what lies outside the member is for encoding/json to check.
func Member(doc []byte, path ...string) (start, end int, ok bool) {
	s := jsonWalk{b: doc}
	start, end, ok = s.member(path)
	if !ok {
		return 0, 0, false
	}
	if s.space(); s.i != len(s.b) {
		return 0, 0, false
	}
	return start, end, true
}

// member walks the object at the walk's place to its end and returns where the value at
// path lies.
func (s *jsonWalk) member(path []string) (start, end int, ok bool) {
	if !s.next('{') || s.next('}') { // not an object, or one with no members
		return 0, 0, false
	}
	start, end = -1, -1
	for {
		s.space()
		key, ok := s.str()
		if !ok || strings.IndexByte(key, '\\') >= 0 || !s.next(':') {
			return 0, 0, false
		}
		s.space()
		if strings.EqualFold(key, path[0]) {
			if start >= 0 || key != path[0] {
				return 0, 0, false
			}
			if len(path) == 1 {
				start = s.i
				if !s.value() {
					return 0, 0, false
				}
				end = s.i
			} else if start, end, ok = s.member(path[1:]); !ok {
				return 0, 0, false
			}
		} else if !s.value() {
			return 0, 0, false
		}
		if s.next(',') {
			continue
		}
		if s.next('}') {
			break
		}
		return 0, 0, false
	}
	return start, end, start >= 0
}

// jsonWalk follows a JSON document's structure without decoding it.
type jsonWalk struct {
	b []byte
	i int
}

func (s *jsonWalk) space() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n' || s.b[s.i] == '\r') {
		s.i++
	}
}

// peek is the byte at the walk's place, or 0 at the end.
func (s *jsonWalk) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// next consumes c, after any white space, if it comes next.
func (s *jsonWalk) next(c byte) bool {
	if s.space(); s.peek() != c {
		return false
	}
	s.i++
	return true
}

// str consumes a string and returns its raw contents (escapes as written).
func (s *jsonWalk) str() (string, bool) {
	if s.peek() != '"' {
		return "", false
	}
	from := s.i + 1
	for i := from; i < len(s.b); i++ {
		switch s.b[i] {
		case '\\':
			i++ // the escaped byte cannot end the string
		case '"':
			s.i = i + 1
			return string(s.b[from:i]), true
		}
	}
	return "", false
}

// value consumes any value: a string, an object or array (to its matching end, strings
// inside skipped), or a literal or number (to the next delimiter).
func (s *jsonWalk) value() bool {
	switch s.peek() {
	case '"':
		_, ok := s.str()
		return ok
	case '{', '[':
		depth := 0
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '"':
				if _, ok := s.str(); !ok {
					return false
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					s.i++
					return true
				}
			}
			s.i++
		}
		return false
	}
	from := s.i
	for s.i < len(s.b) && !strings.ContainsRune(",}] \t\n\r", rune(s.b[s.i])) {
		s.i++
	}
	return s.i > from
}

// Unquote decodes a JSON string's raw contents (between its quotes) as encoding/json
// does, or reports false where it might not: ok is false for invalid UTF-8, a control character, an unknown
// escape or a \u escape of a surrogate (encoding/json pairs or replaces those).
func Unquote(raw []byte) (string, bool) {
	if !utf8.Valid(raw) {
		return "", false
	}
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c < 0x20 {
			return "", false
		}
		if c != '\\' {
			out = append(out, c)
			continue
		}
		if i++; i == len(raw) {
			return "", false
		}
		switch raw[i] {
		case '"', '\\', '/':
			out = append(out, raw[i])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			if i+4 >= len(raw) {
				return "", false
			}
			var r rune
			for _, h := range raw[i+1 : i+5] {
				switch {
				case '0' <= h && h <= '9':
					r = r<<4 | rune(h-'0')
				case 'a' <= h && h <= 'f':
					r = r<<4 | rune(h-'a'+10)
				case 'A' <= h && h <= 'F':
					r = r<<4 | rune(h-'A'+10)
				default:
					return "", false
				}
			}
			if 0xd800 <= r && r < 0xe000 {
				return "", false
			}
			out = utf8.AppendRune(out, r)
			i += 4
		default:
			return "", false
		}
	}
	return string(out), true
}
