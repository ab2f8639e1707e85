package tokenizer

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestSaveLoadFile(t *testing.T) {
	tok, texts := small(t)
	path := filepath.Join(t.TempDir(), "tokenizer.json")
	if err := tok.SaveFile(path); err != nil {
		t.Fatal(err)
	}
	back, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.Vocab() != tok.Vocab() || back.NumMerges() != tok.NumMerges() {
		t.Fatalf("loaded vocab %d merges %d, want %d %d", back.Vocab(), back.NumMerges(), tok.Vocab(), tok.NumMerges())
	}
	for _, text := range texts {
		if !slices.Equal(back.Encode(text), tok.Encode(text)) {
			t.Fatal("loaded tokenizer encodes differently")
		}
	}
	if !bytes.Equal(back.Marshal(), tok.Marshal()) {
		t.Fatal("Marshal after a load differs")
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}
}

func TestSaveLoadStream(t *testing.T) {
	tok, _ := small(t)
	var buf bytes.Buffer
	if err := tok.Save(&buf); err != nil {
		t.Fatal(err)
	}
	back, err := Load(&buf)
	if err != nil {
		t.Fatal(err)
	}
	s := []byte("It is a truth universally acknowledged, that a single man in possession of a good fortune")
	if !slices.Equal(back.Encode(s), tok.Encode(s)) {
		t.Fatal("loaded tokenizer encodes differently")
	}
}

// TestMarshalForm checks the Hugging Face fields that other tools rely on.
func TestMarshalForm(t *testing.T) {
	tok, _ := small(t)
	var f struct {
		AddedTokens []struct {
			ID      int    `json:"id"`
			Content string `json:"content"`
			Special bool   `json:"special"`
		} `json:"added_tokens"`
		PreTokenizer struct{ Type string } `json:"pre_tokenizer"`
		Decoder      struct{ Type string } `json:"decoder"`
		Model        struct {
			Type   string           `json:"type"`
			Vocab  map[string]int32 `json:"vocab"`
			Merges []string         `json:"merges"`
		} `json:"model"`
	}
	if err := json.Unmarshal(tok.Marshal(), &f); err != nil {
		t.Fatal(err)
	}
	if f.Model.Type != "BPE" || f.PreTokenizer.Type != "ByteLevel" || f.Decoder.Type != "ByteLevel" {
		t.Fatalf("types: model %q pre %q decoder %q", f.Model.Type, f.PreTokenizer.Type, f.Decoder.Type)
	}
	if len(f.AddedTokens) != 2 || f.AddedTokens[0].Content != EOTText || f.AddedTokens[0].ID != 1022 ||
		f.AddedTokens[1].Content != MaskText || f.AddedTokens[1].ID != 1023 || !f.AddedTokens[0].Special || !f.AddedTokens[1].Special {
		t.Fatalf("added tokens %+v", f.AddedTokens)
	}
	if len(f.Model.Vocab) != 1024 || len(f.Model.Merges) != tok.NumMerges() {
		t.Fatalf("vocab %d merges %d", len(f.Model.Vocab), len(f.Model.Merges))
	}
	// GPT-2's byte-to-unicode table: space is "Ġ", newline "Ċ", '!' itself.
	for s, id := range map[string]int32{"Ġ": ' ', "Ċ": '\n', "!": '!', "Ā": 0, "ÿ": 0xff} {
		if f.Model.Vocab[s] != id {
			t.Errorf("vocab[%q] = %d, want %d", s, f.Model.Vocab[s], id)
		}
	}
	the := tok.Encode([]byte(" the"))[0]
	if f.Model.Vocab["Ġthe"] != the {
		t.Errorf(`vocab["Ġthe"] = %d, want %d`, f.Model.Vocab["Ġthe"], the)
	}
	if !slices.Contains(f.Model.Merges, "Ġ t") && !slices.Contains(f.Model.Merges, "t h") {
		t.Error(`no "Ġ t" or "t h" merge`)
	}
}

func TestMarshalStable(t *testing.T) {
	tok, _ := small(t)
	a, b := tok.Marshal(), tok.Marshal()
	if !bytes.Equal(a, b) {
		t.Fatal("two Marshal calls differ")
	}
}

// TestParseHFPairMerges reads merges in the ["a", "b"] form of newer tokenizers.
func TestParseHFPairMerges(t *testing.T) {
	tok, _ := small(t)
	var f map[string]any
	if err := json.Unmarshal(tok.Marshal(), &f); err != nil {
		t.Fatal(err)
	}
	model := f["model"].(map[string]any)
	var pairs [][]string
	for _, m := range model["merges"].([]any) {
		pairs = append(pairs, strings.Split(m.(string), " "))
	}
	model["merges"] = pairs
	raw, _ := json.Marshal(f)
	back, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.Marshal(), tok.Marshal()) {
		t.Fatal("pair-form merges parse to a different tokenizer")
	}
}

// tinyJSON is a valid 258-token file with one merge, edited by the error cases.
func tinyJSON(t *testing.T) string {
	tok, err := Train([][]byte{[]byte("ab ab")}, 259) // one merge: "a b"
	if err != nil {
		t.Fatal(err)
	}
	return string(tok.Marshal())
}

func TestParseErrors(t *testing.T) {
	good := tinyJSON(t)
	if _, err := Parse([]byte(good)); err != nil {
		t.Fatal(err)
	}
	merge := `"a b"`
	if !strings.Contains(good, merge) {
		t.Fatalf("tiny file has no %s merge:\n%s", merge, good[len(good)-300:])
	}
	cases := []struct {
		name, data, want string
	}{
		{"empty", "", "bad JSON"},
		{"not json", "hello", "bad JSON"},
		{"truncated", good[:len(good)/2], "bad JSON"},
		{"array", "[]", "bad JSON"},
		{"no model", `{"version": "1.0"}`, `no "model"`},
		{"wrong type", strings.Replace(good, `"type": "BPE"`, `"type": "WordPiece"`, 1), `model type "WordPiece"`},
		{"unknown merge token", strings.Replace(good, merge, `"Ġ zz"`, 1), `"zz"`},
		{"merge of three", strings.Replace(good, merge, `"Ġ a b"`, 1), "3 parts"},
		{"merge not in vocab", strings.Replace(good, merge, `"Ġ a"`, 1), "not in the vocab"},
		{"duplicate id", strings.Replace(good, `"!": 33`, `"!": 34`, 1), "duplicate id 34"},
		{"duplicate key", strings.Replace(good, `"\"": 34`, `"!": 34`, 1), `"!" appears twice`},
		{"missing byte", strings.Replace(good, `"!": 33`, `"!!": 33`, 1), "byte 0x21"},
		{"gap", strings.Replace(good, `"ab": 256`, `"ab": 300`, 1), "no token has id"},
		{"negative id", strings.Replace(good, `"!": 33`, `"!": -1`, 1), "not an integer"},
		{"huge id", strings.Replace(good, `"!": 33`, `"!": 99999999999`, 1), "not an integer"},
		{"float id", strings.Replace(good, `"!": 33`, `"!": 3.5`, 1), "not an integer"},
		{"string id", strings.Replace(good, `"!": 33`, `"!": "33"`, 1), "not a number"},
		{"bad alphabet", strings.Replace(good, `"!": 33`, `" ": 33`, 1), "byte-level alphabet"},
		{"no specials", strings.Replace(good, `"<|mask|>"`, `"<|pad|>"`, -1), `"<|pad|>"`},
		{"specials swapped", strings.NewReplacer(`"<|mask|>"`, `"<|endoftext|>"`, `"<|endoftext|>"`, `"<|mask|>"`).Replace(good), "last two ids"},
		{"prefix space", strings.Replace(good, `"add_prefix_space": false`, `"add_prefix_space": true`, 1), "add_prefix_space"},
		{"normalizer", strings.Replace(good, `"normalizer": null`, `"normalizer": {"type": "NFC"}`, 1), "normalizer"},
		{"pre_tokenizer type", strings.Replace(good, `"pre_tokenizer": {"type": "ByteLevel"`, `"pre_tokenizer": {"type": "Whitespace"`, 1), "Whitespace"},
		{"dropout", strings.Replace(good, `"dropout": null`, `"dropout": 0.1`, 1), "dropout"},
		{"vocab array", strings.Replace(good, `"vocab": {`, `"vocab": [{`, 1), "bad JSON"},
		{"invalid utf8", good[:20] + "\xff" + good[21:], "UTF-8"},
	}
	for _, c := range cases {
		_, err := Parse([]byte(c.data))
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "tokenizer: ") {
			t.Errorf("%s: error %q, want it to mention %q", c.name, err, c.want)
		}
	}
}

func TestLoadFileErrorNamesFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "broken.json")
	if err := os.WriteFile(path, []byte(tinyJSON(t)[:100]), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadFile(path)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("error %v does not name %s", err, path)
	}
	_, err = LoadFile(filepath.Join(dir, "missing.json"))
	if err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Fatalf("error %v does not name missing.json", err)
	}
}

func FuzzParse(f *testing.F) {
	tok, err := Train([][]byte{[]byte("the cat sat on the mat, the end")}, 270)
	if err != nil {
		f.Fatal(err)
	}
	good := tok.Marshal()
	f.Add(good)
	f.Add(good[:len(good)/3])
	f.Add([]byte(`{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}`))
	f.Add([]byte(`{"model": {"type": "BPE", "vocab": {}, "merges": [["a", "b"]]}, "added_tokens": [{"id": 1}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, err := Parse(data)
		if err != nil {
			return
		}
		// Whatever parses must round trip text and survive a Marshal/Parse cycle.
		s := []byte("the cat \xff sat <|mask|>")
		if got := tok.Decode(tok.Encode(s)); !bytes.Equal(got, s) {
			t.Fatalf("round trip %q -> %q", s, got)
		}
		again, err := Parse(tok.Marshal())
		if err != nil {
			t.Fatalf("re-parse of Marshal: %v", err)
		}
		if !bytes.Equal(again.Marshal(), tok.Marshal()) {
			t.Fatal("Marshal not stable through Parse")
		}
	})
}
