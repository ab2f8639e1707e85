package checkpoint

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// sameManifest fails t unless decodeManifest and encoding/json read b alike: the same
// Manifest, or both an error.
func sameManifest(t *testing.T, b []byte) {
	t.Helper()
	var got, want Manifest
	errGot, errWant := decodeManifest(b, &got), json.Unmarshal(b, &want)
	if (errGot == nil) != (errWant == nil) {
		t.Fatalf("%.80q: error %v, encoding/json's %v", b, errGot, errWant)
	}
	if errGot == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("%.80q: read %+v, encoding/json read %+v", b, got, want)
	}
}

// TestCutTokenizer: the release files' manifests take the fast path and read as
// encoding/json reads them; what the fast path cannot settle as encoding/json would goes
// to encoding/json whole.
func TestCutTokenizer(t *testing.T) {
	files, _ := filepath.Glob("../../weights/*.ckpt")
	if len(files) == 0 {
		t.Fatal("no release files in weights/")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m, err := ReadManifest(data)
		if err != nil {
			t.Fatal(err)
		}
		b := data[HeaderSize:m.PayloadOffset]
		if _, _, ok := cutTokenizer(b); !ok && m.Tokenizer != "" {
			t.Errorf("%s: the manifest's tokenizer did not take the fast path", f)
		}
		sameManifest(t, b)
	}
	for _, c := range []struct {
		manifest string
		fast     bool
	}{
		{`{"format":1,"tokenizer":"a\"b\\c\/d\u00e9\u20ac\n\t é","tensors":[]}`, true},
		{` { "tokenizer" : "x" , "notes" : {"a":"}]\"{"} } `, true},
		{`{"notes":{"tokenizer":"inner"},"tokenizer":"outer"}`, true},
		{`{"tokenizer":"x","tensors":[{"name":"[{\"","shape":[1],"dtype":"f32","offset":0,"size":4}]}`, true},
		{`{"tokenizer":"x","Tokenizer":"y"}`, false}, // encoding/json takes the last
		{`{"TOKENIZER":"y"}`, false},
		{`{"tokenizer":"x","tokenizer":"y"}`, false},
		{`{"tok\u0065nizer":"x"}`, false},
		{`{"tokenizer":"\ud83d\ude00"}`, false}, // a surrogate pair
		{`{"tokenizer":"\ud83d"}`, false},
		{"{\"tokenizer\":\"bad \xff byte\"}", false},
		{"{\"tokenizer\":\"a\x01b\"}", false},
		{`{"tokenizer":"\x"}`, false},
		{`{"tokenizer":"\u12"}`, false},
		{`{"tokenizer":12}`, false},
		{`{"format":1}`, false},
		{`{}`, false},
		{`{"tokenizer":"x",}`, false},
		{`{"tokenizer":"x"} trailing`, false},
		{`{"tokenizer":"x","format":tru}`, true}, // encoding/json refuses the rest
		{`{"tokenizer":"x","config":{"a":1]}`, true},
		{`[]`, false},
		{``, false},
	} {
		_, _, ok := cutTokenizer([]byte(c.manifest))
		if ok != c.fast {
			t.Errorf("%q: fast path %v, want %v", c.manifest, ok, c.fast)
		}
		sameManifest(t, []byte(c.manifest))
	}
}

// FuzzCutTokenizer: whatever the manifest, decodeManifest reads it as encoding/json does.
func FuzzCutTokenizer(f *testing.F) {
	f.Add([]byte(`{"format":1,"tokenizer":"a\"b\\c\u00e9","tensors":[{"name":"x","shape":[32],"dtype":"q8_0","offset":0,"size":34}],"notes":{"k":"v"}}`))
	f.Add([]byte(`{"tokenizer":"x","Tokenizer":"y"}`))
	f.Fuzz(func(t *testing.T, b []byte) { sameManifest(t, b) })
}
