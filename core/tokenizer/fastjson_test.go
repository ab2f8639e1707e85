package tokenizer

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"
)

// TestScanMatchesDecode: the direct readers of the vocab and merges give what
// encoding/json gives, on the shipped tokenizer and on odd but valid JSON, and decline
// (leaving the errors to encoding/json) what they do not read.
func TestScanMatchesDecode(t *testing.T) {
	shipped, err := os.ReadFile("../../weights/tokenizer.json")
	if err != nil {
		t.Fatal(err)
	}
	var f hfFile
	if err := json.Unmarshal(shipped, &f); err != nil {
		t.Fatal(err)
	}
	vocabs := map[string]string{
		"shipped": string(f.Model.Vocab),
		"escapes": `{"a\"b": 0, "\\": 1, "\u00e9t\u00e9": 2, "\ud83d\ude00": 3, "x\/y": 4}`,
		"spacing": " {\n\t\"a\" :0 ,\r\n\"b\":  1\n}\n",
		"empty":   `{}`,
		"unicode": `{"Ġthe": 0, "été": 1}`,
	}
	for name, raw := range vocabs {
		want, err := decodeVocab(json.RawMessage(raw))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, ok := scanVocab([]byte(raw))
		if !ok || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: scanVocab = %v, %v; encoding/json: %v", name, got, ok, want)
		}
	}
	for name, raw := range map[string]string{
		"repeated key": `{"a": 0, "a": 1}`, "repeated id": `{"a": 0, "b": 0}`, "negative": `{"a": -1}`,
		"fraction": `{"a": 1.0}`, "leading zero": `{"a": 01}`, "trailing comma": `{"a": 0,}`, "after": `{"a": 0} x`,
		"unterminated": `{"a": 0`, "bad utf-8": "{\"\xff\": 0}", "control": "{\"a\tb\": 0}", "huge": `{"a": 99999999999}`,
	} {
		if _, ok := scanVocab([]byte(raw)); ok {
			t.Errorf("scanVocab read %s: %s", name, raw)
		}
	}

	keys, err := decodeVocab(f.Model.Vocab)
	if err != nil {
		t.Fatal(err)
	}
	shippedIDs := map[string]int32{}
	for id, k := range keys {
		shippedIDs[k] = int32(id)
	}
	ids := map[string]int32{"a": 0, "b": 1, "ab": 2, "\"": 3}
	merges := map[string]string{
		"classic": `["a b", "ab b", "\" a"]`,
		"pairs":   `[["a", "b"], ["ab","b"] , ["\"", "a"]]`,
		"mixed":   `["a b", ["ab", "b"]]`,
		"empty":   ` [ ] `,
		"shipped": string(f.Model.Merges),
	}
	for name, raw := range merges {
		ids := ids
		if name == "shipped" {
			ids = shippedIDs
		}
		want, err := decodeMerges(json.RawMessage(raw), ids)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, ok := scanMerges([]byte(raw), ids)
		if !ok || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: scanMerges = %v, %v; encoding/json: %v", name, got, ok, want)
		}
	}
	for name, raw := range map[string]string{
		"three parts": `["a b b"]`, "one part": `["ab"]`, "unknown": `["a c"]`, "triple": `[["a", "b", "b"]]`,
		"object": `[{"a": "b"}]`, "unterminated": `["a b"`,
	} {
		if _, ok := scanMerges([]byte(raw), ids); ok {
			t.Errorf("scanMerges read %s: %s", name, raw)
		}
	}
}

// FuzzScan: whatever the direct readers accept, encoding/json reads the same way.
func FuzzScan(f *testing.F) {
	f.Add([]byte(`{"a": 0, "b\"": 1, "\u00e9": 2}`))
	f.Add([]byte(`["a b", ["ab", "b"]]`))
	f.Add([]byte(`{"a": 0, "a": 1}`))
	ids := map[string]int32{"a": 0, "b": 1, "ab": 2, "\"": 3, "é": 4}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if got, ok := scanVocab(raw); ok {
			want, err := decodeVocab(raw)
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("vocab %q: scanVocab %v, encoding/json %v (%v)", raw, got, want, err)
			}
		}
		if got, ok := scanMerges(raw, ids); ok {
			want, err := decodeMerges(raw, ids)
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("merges %q: scanMerges %v, encoding/json %v (%v)", raw, got, want, err)
			}
		}
	})
}
