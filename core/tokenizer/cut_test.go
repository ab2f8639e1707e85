package tokenizer

import (
	"bytes"
	"encoding/json"
	"testing"
)

// sameParse fails t unless parse, which reads the file through unmarshalFile, and parse
// through json.Unmarshal agree: the same tokenizer (its Marshal), or both an error.
func sameParse(t *testing.T, data []byte) {
	t.Helper()
	got, errGot := parse(data)
	want, errWant := parseWith(data, func(b []byte, f *hfFile) error { return json.Unmarshal(b, f) })
	if (errGot == nil) != (errWant == nil) {
		t.Fatalf("%.100q: error %v, through json.Unmarshal %v", data, errGot, errWant)
	}
	if errGot == nil && !bytes.Equal(got.Marshal(), want.Marshal()) {
		t.Fatalf("%.100q: a different tokenizer than through json.Unmarshal", data)
	}
}

// TestUnmarshalFile: a trained tokenizer's file and hand-made ones parse as they do
// through json.Unmarshal, whether or not the vocab and merges could be cut out, broken
// ones included.
func TestUnmarshalFile(t *testing.T) {
	tok, err := Train([][]byte{[]byte("the cat sat on the mat, the end")}, 270)
	if err != nil {
		t.Fatal(err)
	}
	good := tok.Marshal()
	if _, ok := cutVocabMerges(good); !ok {
		t.Fatal("a trained tokenizer's vocab and merges were not cut out")
	}
	sameParse(t, good)
	i := bytes.Index(good, []byte(`"merges"`))
	for _, doc := range [][]byte{
		append(append(bytes.Clone(good[:i]), `"Merges": [], `...), good[i:]...), // encoding/json takes the last
		bytes.Replace(good, []byte(`": 0,`), []byte(`": 0]`), 1),                // broken inside vocab
		bytes.Replace(good, []byte(`"merges": [`), []byte(`"merges": [,`), 1),   // broken inside merges
		bytes.Replace(good, []byte(`"type": "BPE"`), []byte(`"type": 5`), 1),    // a type error in the rest
		[]byte(`{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}`),
		[]byte(`{"model": {"vocab": {}}}`), // no merges: the whole file
		[]byte(`{"model": null}`),
		append(bytes.Clone(good), " x"...),
	} {
		sameParse(t, doc)
	}
}

// FuzzUnmarshalFile: whatever the document, parse through unmarshalFile and through
// json.Unmarshal agree.
func FuzzUnmarshalFile(f *testing.F) {
	tok, err := Train([][]byte{[]byte("the cat sat on the mat")}, 262)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tok.Marshal())
	f.Add([]byte(`{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": [["a", "b"]]}, "added_tokens": []}`))
	f.Fuzz(func(t *testing.T, data []byte) { sameParse(t, data) })
}
