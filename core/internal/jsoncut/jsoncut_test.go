package jsoncut

import "testing"

// TestMember: members found at their paths, and every case encoding/json might read
// otherwise refused.
func TestMember(t *testing.T) {
	for _, c := range []struct {
		doc  string
		path []string
		want string // the value, or "" for refused
	}{
		{`{"a":1,"b":"x"}`, []string{"b"}, `"x"`},
		{` { "m" : { "v" : [1, {"w": "]"}] , "n" : null } } `, []string{"m", "v"}, `[1, {"w": "]"}]`},
		{`{"m":{"n":{}},"v":2}`, []string{"v"}, `2`},
		{`{"x":{"v":1},"v":"\"}"}`, []string{"v"}, `"\"}"`},
		{`{"v":1,"V":2}`, []string{"v"}, ""},
		{`{"V":1}`, []string{"v"}, ""},
		{`{"\u0076":1}`, []string{"v"}, ""},
		{`{"m":[{"v":1}]}`, []string{"m", "v"}, ""},
		{`{"m":{"v":1},"m":{"v":2}}`, []string{"m", "v"}, ""},
		{`{"v":1,}`, []string{"v"}, ""},
		{`{"v":1} {}`, []string{"v"}, ""},
		{`{"v":"unterminated}`, []string{"v"}, ""},
		{`{"v":}`, []string{"v"}, ""},
		{`{}`, []string{"v"}, ""},
		{`[]`, []string{"v"}, ""},
	} {
		start, end, ok := Member([]byte(c.doc), c.path...)
		got := ""
		if ok {
			got = c.doc[start:end]
		}
		if got != c.want {
			t.Errorf("%s at %v: %q (found %v), want %q", c.doc, c.path, got, ok, c.want)
		}
	}
}

// TestUnquote: JSON's escapes decoded; what encoding/json would pair or replace refused.
func TestUnquote(t *testing.T) {
	for raw, want := range map[string]string{`a\"b\\c\/d\n\t\b\f\r`: "a\"b\\c/d\n\t\b\f\r", `\u00e9\u20AC é`: "é€ é", ``: ``} {
		if got, ok := Unquote([]byte(raw)); !ok || got != want {
			t.Errorf("%s: %q (%v), want %q", raw, got, ok, want)
		}
	}
	for _, raw := range []string{`\ud83d\ude00`, `\x`, `\u12`, "a\x01", "\xff", `\`} {
		if got, ok := Unquote([]byte(raw)); ok {
			t.Errorf("%q: decoded to %q, want refused", raw, got)
		}
	}
}
