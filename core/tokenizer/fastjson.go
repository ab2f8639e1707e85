package tokenizer

import (
	"encoding/json"
	"unicode/utf8"
)

// The vocab and merges of a tokenizer.json are the bulk of a release file's manifest, and
// encoding/json reads them slowly in WebAssembly, where the page's start-up waits for
// them (a few hundred ms on a cold engine). scanVocab and scanMerges read the common
// layout directly; on anything they do not expect they report false, and parseVocab and
// parseMerges read the input with encoding/json instead, which also words the errors.

// scanner walks JSON text; ok turns false at the first thing it does not expect.
type scanner struct {
	b  []byte
	i  int
	ok bool
}

func (s *scanner) space() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\n' || s.b[s.i] == '\t' || s.b[s.i] == '\r') {
		s.i++
	}
}

// byte consumes c after optional white space.
func (s *scanner) byte(c byte) bool {
	s.space()
	if s.ok && s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// peek is the next byte after white space, or 0 at the end.
func (s *scanner) peek() byte {
	s.space()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// str reads a JSON string; one with escapes goes through encoding/json.
func (s *scanner) str() string {
	if !s.byte('"') {
		s.ok = false
		return ""
	}
	start, escaped := s.i, false
	for ; s.i < len(s.b); s.i++ {
		switch c := s.b[s.i]; {
		case c == '\\':
			escaped = true
			s.i++ // skip the escaped byte: it may be a quote
		case c < 0x20:
			s.ok = false // control characters must be escaped
			return ""
		case c == '"':
			raw := s.b[start:s.i]
			s.i++
			if !escaped {
				if !utf8.Valid(raw) {
					s.ok = false
					return ""
				}
				return string(raw)
			}
			var v string
			if err := json.Unmarshal(s.b[start-1:s.i], &v); err != nil {
				s.ok = false
			}
			return v
		}
	}
	s.ok = false
	return ""
}

// id reads a non-negative integer below maxVocab.
func (s *scanner) id() int {
	s.space()
	start, n := s.i, 0
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		n = 10*n + int(s.b[s.i]-'0')
		s.i++
		if n >= maxVocab {
			s.ok = false
			return 0
		}
	}
	if s.i == start || s.b[start] == '0' && s.i-start > 1 {
		s.ok = false // no digits, or a leading zero
	}
	return n
}

// end reports whether only white space is left and nothing went wrong.
func (s *scanner) end() bool {
	s.space()
	return s.ok && s.i == len(s.b)
}

// scanVocab reads {"piece": id, ...} as parseVocab does, or reports false.
func scanVocab(raw []byte) (map[int]string, bool) {
	s := &scanner{b: raw, ok: true}
	keys := map[int]string{}
	seen := map[string]bool{}
	if !s.byte('{') {
		return nil, false
	}
	for more := s.peek() != '}'; more && s.ok; more = s.byte(',') {
		k := s.str()
		if !s.byte(':') {
			return nil, false
		}
		id := s.id()
		if !s.ok || seen[k] {
			return nil, false
		}
		if _, dup := keys[id]; dup {
			return nil, false
		}
		seen[k] = true
		keys[id] = k
	}
	if !s.byte('}') || !s.end() {
		return nil, false
	}
	return keys, true
}

// scanMerges reads ["a b", ...] or [["a", "b"], ...] as parseMerges does, or reports false.
func scanMerges(raw []byte, ids map[string]int32) ([][2]int32, bool) {
	s := &scanner{b: raw, ok: true}
	if !s.byte('[') {
		return nil, false
	}
	merges := [][2]int32{}
	for more := s.peek() != ']'; more && s.ok; more = s.byte(',') {
		var a, b string
		if s.peek() == '[' {
			s.i++
			a = s.str()
			if !s.byte(',') {
				return nil, false
			}
			b = s.str()
			if !s.byte(']') {
				return nil, false
			}
		} else {
			p := s.str()
			sp := -1
			for j := 0; j < len(p); j++ {
				if p[j] == ' ' {
					if sp >= 0 {
						return nil, false // more than two parts
					}
					sp = j
				}
			}
			if sp < 0 {
				return nil, false
			}
			a, b = p[:sp], p[sp+1:]
		}
		ia, oka := ids[a]
		ib, okb := ids[b]
		if !s.ok || !oka || !okb {
			return nil, false
		}
		merges = append(merges, [2]int32{ia, ib})
	}
	if !s.byte(']') || !s.end() {
		return nil, false
	}
	return merges, true
}
