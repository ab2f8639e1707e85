package interop

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/austen-diffusion/textdiffusion/core/corpus"
	"github.com/austen-diffusion/textdiffusion/core/model"
	"github.com/austen-diffusion/textdiffusion/core/safetensors"
	"github.com/austen-diffusion/textdiffusion/core/tokenizer"
)

// hfResult is what hf.mjs prints: what transformers.js read from the export folder.
type hfResult struct {
	IDs            [][]int32 `json:"ids"`
	Decoded        []string  `json:"decoded"`
	EOSTokenID     int       `json:"eos_token_id"`
	MaskTokenID    int       `json:"mask_token_id"`
	ModelMaxLength int       `json:"model_max_length"`
	Config         struct {
		ModelType      string `json:"model_type"`
		MaskTokenID    int    `json:"mask_token_id"`
		SuppressTokens []int  `json:"suppress_tokens"`
	} `json:"config"`
	Generation struct {
		EOSTokenID     int   `json:"eos_token_id"`
		SuppressTokens []int `json:"suppress_tokens"`
	} `json:"generation"`
}

// hfExport writes a tiny random masked model with the released tokenizer as a Hugging
// Face folder under t.TempDir() and returns the folder and the tokenizer.
func hfExport(t *testing.T, seqLen int) (string, *tokenizer.Tokenizer) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "weights", "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.New(model.Config{Vocab: tok.Vocab(), Dim: 16, Layers: 1, Heads: 2, Hidden: 32, SeqLen: seqLen,
		RopeTheta: 10000, NormEps: 1e-5}, 1)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "hf")
	if err := safetensors.ExportHF(dir, m.ToFile(raw)); err != nil {
		t.Fatal(err)
	}
	return dir, tok
}

// hfTexts returns Austen text to encode: sentences from across Persuasion (never
// trained on, so the tokenizer meets it as a user's text), a long passage, and a line
// of non-ASCII punctuation that byte-level BPE must split the same way.
func hfTexts(t *testing.T) []string {
	t.Helper()
	book, err := corpus.Validation()
	if err != nil {
		t.Fatal(err)
	}
	sentences := bytes.SplitAfter(book.Text, []byte(". "))
	var texts []string
	for i := 0; i < len(sentences); i += len(sentences) / 8 {
		texts = append(texts, string(sentences[i]))
	}
	texts = append(texts, string(book.Text[len(book.Text)/2:len(book.Text)/2+20000]),
		"“Miss Anne Elliot”—naïve? Café, 1814…  two  spaces\n\tand a tab")
	return texts
}

// TestHFTransformersJS: transformers.js loads the export folder with
// AutoTokenizer.from_pretrained and AutoConfig.from_pretrained, encodes Austen to the
// Go tokenizer's ids, decodes them back, and reads the special tokens, the sequence
// length and the MASK exclusion.
func TestHFTransformersJS(t *testing.T) {
	const seqLen = 64
	dir, tok := hfExport(t, seqLen)
	texts := hfTexts(t)
	in, _ := json.Marshal(texts)
	textsPath := filepath.Join(t.TempDir(), "texts.json")
	if err := os.WriteFile(textsPath, in, 0o644); err != nil {
		t.Fatal(err)
	}
	out := runNode(t, "hf.mjs", dir, textsPath)
	var r hfResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("hf.mjs output: %v\n%s", err, out)
	}
	if len(r.IDs) != len(texts) || len(r.Decoded) != len(texts) {
		t.Fatalf("%d id lists and %d decoded texts for %d texts", len(r.IDs), len(r.Decoded), len(texts))
	}
	tokens := 0
	for i, text := range texts {
		want := tok.Encode([]byte(text))
		tokens += len(want)
		if !slices.Equal(r.IDs[i], want) {
			n := 0
			for n < min(len(want), len(r.IDs[i])) && want[n] == r.IDs[i][n] {
				n++
			}
			t.Errorf("text %d: transformers.js gives %d ids, Go %d; first difference at %d", i, len(r.IDs[i]), len(want), n)
		}
		if r.Decoded[i] != text {
			t.Errorf("text %d does not decode back in transformers.js: %.80q", i, r.Decoded[i])
		}
	}
	t.Logf("%d texts, %d tokens: the same ids in transformers.js and Go", len(texts), tokens)
	eot, mask := int(tok.EOT()), int(tok.Mask())
	if r.EOSTokenID != eot || r.MaskTokenID != mask || r.ModelMaxLength != seqLen {
		t.Errorf("tokenizer: eos %d mask %d max length %d, want %d %d %d", r.EOSTokenID, r.MaskTokenID, r.ModelMaxLength, eot, mask, seqLen)
	}
	if r.Config.ModelType != "llama" || r.Config.MaskTokenID != mask || !slices.Equal(r.Config.SuppressTokens, []int{mask}) {
		t.Errorf("config: %+v, want llama with mask_token_id and suppress_tokens [%d]", r.Config, mask)
	}
	if r.Generation.EOSTokenID != eot || !slices.Equal(r.Generation.SuppressTokens, []int{mask}) {
		t.Errorf("generation config: %+v, want eos %d and suppress_tokens [%d]", r.Generation, eot, mask)
	}
}
