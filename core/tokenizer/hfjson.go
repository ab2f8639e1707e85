package tokenizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/austen-diffusion/textdiffusion/core/internal/jsoncut"
)

// The Hugging Face tokenizer.json form: GPT-2's byte-to-unicode table turns each byte
// into a printable character, so every piece is a JSON string and a merge is "a b".

// byteRune[b] is the character that stands for byte b in vocab and merge strings.
var byteRune, runeByte = func() (br [256]rune, rb map[rune]byte) {
	rb = make(map[rune]byte, 256)
	n := 0
	for b := range 256 {
		if '!' <= b && b <= '~' || 0xA1 <= b && b <= 0xAC || 0xAE <= b && b <= 0xFF {
			br[b] = rune(b)
		} else {
			br[b] = rune(256 + n)
			n++
		}
		rb[br[b]] = byte(b)
	}
	return br, rb
}()

// pieceString is the byte-level string of piece p.
func pieceString(p []byte) string {
	var sb strings.Builder
	for _, c := range p {
		sb.WriteRune(byteRune[c])
	}
	return sb.String()
}

// pieceBytes inverts pieceString.
func pieceBytes(s string) ([]byte, error) {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		b, ok := runeByte[r]
		if !ok {
			return nil, fmt.Errorf("character %q is not in the byte-level alphabet", r)
		}
		out = append(out, b)
	}
	return out, nil
}

// jsonString quotes s for JSON, escaping only what JSON requires (json.Marshal would
// also escape < and >, which makes "<|endoftext|>" unreadable).
func jsonString(s string) string {
	var sb strings.Builder
	sb.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			sb.WriteByte('\\')
			sb.WriteRune(r)
		case r < 0x20:
			fmt.Fprintf(&sb, `\u%04x`, r)
		default:
			sb.WriteRune(r)
		}
	}
	sb.WriteByte('"')
	return sb.String()
}

// Marshal returns the tokenizer as a Hugging Face tokenizer.json. The output is a pure
// function of the vocabulary and merges (vocab in id order), so equal tokenizers give
// equal bytes.
func (t *Tokenizer) Marshal() []byte {
	var b bytes.Buffer
	v := len(t.pieces)
	b.WriteString("{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": [\n")
	for i, id := range []int{v - 2, v - 1} {
		fmt.Fprintf(&b, `    {"id": %d, "content": %s, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}`,
			id, jsonString(string(t.pieces[id])))
		if i == 0 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString("  ],\n  \"normalizer\": null,\n")
	b.WriteString("  \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": true},\n")
	b.WriteString("  \"post_processor\": null,\n")
	b.WriteString("  \"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": true},\n")
	b.WriteString("  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": null,\n    \"unk_token\": null,\n")
	b.WriteString("    \"continuing_subword_prefix\": null,\n    \"end_of_word_suffix\": null,\n    \"fuse_unk\": false,\n    \"byte_fallback\": false,\n")
	b.WriteString("    \"vocab\": {\n")
	tokens, merges := t.ByteLevel()
	for id, s := range tokens {
		fmt.Fprintf(&b, "      %s: %d", jsonString(s), id)
		if id < v-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString("    },\n    \"merges\": [\n")
	for r, m := range merges {
		fmt.Fprintf(&b, "      %s", jsonString(m))
		if r < len(merges)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString("    ]\n  }\n}\n")
	return b.Bytes()
}

// ByteLevel returns the vocabulary and the merges in the byte-level alphabet of
// tokenizer.json, which GGUF's "gpt2" tokenizer also uses: tokens[id] is the piece
// of id (the two specials as their literal text) and merges[r] is "a b", the two
// pieces that merge r joins, in rank order.
func (t *Tokenizer) ByteLevel() (tokens, merges []string) {
	v := len(t.pieces)
	tokens = make([]string, v)
	for id, p := range t.pieces {
		tokens[id] = string(p) // the specials' text is the same in both alphabets (printable ASCII)
		if id < v-2 {
			tokens[id] = pieceString(p)
		}
	}
	merges = make([]string, len(t.merges))
	for r, m := range t.merges {
		merges[r] = tokens[m[0]] + " " + tokens[m[1]]
	}
	return tokens, merges
}

// Save writes the tokenizer.json form to w.
func (t *Tokenizer) Save(w io.Writer) error {
	_, err := w.Write(t.Marshal())
	return err
}

// SaveFile writes the tokenizer.json form to path atomically: a temporary file in the
// same folder, synced, then renamed over path.
func (t *Tokenizer) SaveFile(path string) error {
	if err := writeFileAtomic(path, t.Marshal()); err != nil {
		return fmt.Errorf("tokenizer: saving %s: %w", path, err)
	}
	return nil
}

func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	// Make the rename itself durable where the platform allows syncing a folder.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// maxFileSize bounds what Load reads: a 4096-token tokenizer.json is ~100 KB.
const maxFileSize = 256 << 20

// Load reads a tokenizer.json from r.
func Load(r io.Reader) (*Tokenizer, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("tokenizer: reading: %w", err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("tokenizer: input is larger than %d bytes", maxFileSize)
	}
	return Parse(data)
}

// LoadFile reads a tokenizer.json file; errors name the file.
func LoadFile(path string) (*Tokenizer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	t, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", path, err)
	}
	return t, nil
}

// Parse reads the tokenizer.json form made by Marshal, or a Hugging Face byte-level
// BPE tokenizer.json of the same kind: ByteLevel pre-tokenizer without prefix space,
// no normalizer, and exactly the two added tokens "<|endoftext|>" and "<|mask|>" as
// the last two ids.
func Parse(data []byte) (*Tokenizer, error) {
	t, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	return t, nil
}

type hfFile struct {
	AddedTokens  []hfAdded       `json:"added_tokens"`
	Normalizer   json.RawMessage `json:"normalizer"`
	PreTokenizer json.RawMessage `json:"pre_tokenizer"`
	Decoder      json.RawMessage `json:"decoder"`
	Model        *hfModel        `json:"model"`
}

type hfAdded struct {
	ID      *int64 `json:"id"`
	Content string `json:"content"`
	Special bool   `json:"special"`
}

type hfModel struct {
	Type                    string          `json:"type"`
	Dropout                 *float64        `json:"dropout"`
	ContinuingSubwordPrefix *string         `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string         `json:"end_of_word_suffix"`
	Vocab                   json.RawMessage `json:"vocab"`
	Merges                  json.RawMessage `json:"merges"`
}

type hfByteLevel struct {
	Type           string `json:"type"`
	AddPrefixSpace bool   `json:"add_prefix_space"`
	UseRegex       *bool  `json:"use_regex"`
}

// maxVocab bounds ids read from a file, so a bad id cannot make a huge allocation.
const maxVocab = 1 << 22

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(bytes.TrimSpace(raw)) == "null"
}

func parse(data []byte) (*Tokenizer, error) { return parseWith(data, unmarshalFile) }

// parseWith is parse reading the file's JSON with unmarshal (tests compare unmarshalFile
// against json.Unmarshal).
func parseWith(data []byte, unmarshal func([]byte, *hfFile) error) (*Tokenizer, error) {
	if !utf8.Valid(data) {
		return nil, errors.New("not valid UTF-8")
	}
	var f hfFile
	if err := unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("bad JSON: %w", err)
	}
	if f.Model == nil {
		return nil, errors.New(`no "model" object`)
	}
	m := f.Model
	if m.Type != "BPE" {
		return nil, fmt.Errorf("model type %q, want \"BPE\"", m.Type)
	}
	if m.Dropout != nil && *m.Dropout != 0 {
		return nil, fmt.Errorf("model dropout %v is not supported", *m.Dropout)
	}
	if m.ContinuingSubwordPrefix != nil && *m.ContinuingSubwordPrefix != "" {
		return nil, errors.New("continuing_subword_prefix is not supported")
	}
	if m.EndOfWordSuffix != nil && *m.EndOfWordSuffix != "" {
		return nil, errors.New("end_of_word_suffix is not supported")
	}
	if !isNull(f.Normalizer) {
		return nil, errors.New("a normalizer is not supported")
	}
	if err := checkByteLevel("pre_tokenizer", f.PreTokenizer, false); err != nil {
		return nil, err
	}
	if err := checkByteLevel("decoder", f.Decoder, true); err != nil {
		return nil, err
	}

	keys, err := parseVocab(m.Vocab)
	if err != nil {
		return nil, err
	}
	v := len(keys)
	specials := map[string]bool{EOTText: false, MaskText: false}
	for i, a := range f.AddedTokens {
		if a.ID == nil {
			return nil, fmt.Errorf("added token %d has no id", i)
		}
		seen, ok := specials[a.Content]
		if !ok {
			return nil, fmt.Errorf("added token %q is not supported (only %q and %q)", a.Content, EOTText, MaskText)
		}
		if seen {
			return nil, fmt.Errorf("added token %q appears twice", a.Content)
		}
		specials[a.Content] = true
		if !a.Special {
			return nil, fmt.Errorf("added token %q is not marked special", a.Content)
		}
		if *a.ID < 0 || *a.ID >= maxVocab {
			return nil, fmt.Errorf("added token %q has id %d out of range", a.Content, *a.ID)
		}
		id := int(*a.ID)
		if s, ok := keys[id]; ok {
			if s != a.Content {
				return nil, fmt.Errorf("added token %q has id %d, which the vocab gives to %q", a.Content, id, s)
			}
			continue
		}
		keys[id] = a.Content
		if len(keys) > v {
			v = len(keys)
		}
	}
	for s, seen := range specials {
		if !seen {
			return nil, fmt.Errorf("added_tokens lack %q", s)
		}
	}
	for id := range v {
		if _, ok := keys[id]; !ok {
			return nil, fmt.Errorf("no token has id %d (ids must run from 0 to %d)", id, v-1)
		}
	}
	if keys[v-2] != EOTText || keys[v-1] != MaskText {
		return nil, fmt.Errorf("the last two ids (%d, %d) must be %q and %q", v-2, v-1, EOTText, MaskText)
	}

	pieces := make([][]byte, v)
	ids := make(map[string]int32, v)
	for id := range v - 2 {
		p, err := pieceBytes(keys[id])
		if err != nil {
			return nil, fmt.Errorf("vocab entry %q (id %d): %w", keys[id], id, err)
		}
		pieces[id] = p
		ids[keys[id]] = int32(id)
	}
	pieces[v-2], pieces[v-1] = []byte(EOTText), []byte(MaskText)

	merges, err := parseMerges(m.Merges, ids)
	if err != nil {
		return nil, err
	}
	return build(pieces, merges)
}

// unmarshalFile reads a tokenizer.json into f as json.Unmarshal does, except that the
// model's vocab and merges (nearly all of its bytes) are handed over as they lie,
// unchecked: parseVocab and parseMerges read them strictly (their scanners, or
// encoding/json where those refuse), so a file parse accepts is the same either way, and
// only the wording of an error in those two values differs. encoding/json's loops over
// the whole file were what the page's first visit compiled again in the background
// (jsoncut). Where jsoncut cannot find the two as encoding/json would, json.Unmarshal
// reads the whole file.
func unmarshalFile(data []byte, f *hfFile) error {
	at, ok := cutVocabMerges(data)
	if !ok {
		return json.Unmarshal(data, f)
	}
	vs, ve, ms, me := at[0], at[1], at[2], at[3]
	// The rest, each of the two values replaced by null, the later one first.
	first, second := [2]int{vs, ve}, [2]int{ms, me}
	if ms < vs {
		first, second = second, first
	}
	rest := make([]byte, 0, len(data)-(ve-vs)-(me-ms)+8)
	rest = append(rest, data[:first[0]]...)
	rest = append(rest, "null"...)
	rest = append(rest, data[first[1]:second[0]]...)
	rest = append(rest, "null"...)
	rest = append(rest, data[second[1]:]...)
	if err := json.Unmarshal(rest, f); err != nil {
		return err
	}
	f.Model.Vocab, f.Model.Merges = data[vs:ve:ve], data[ms:me:me]
	return nil
}

// cutVocabMerges finds where the model's vocab and merges lie in a tokenizer.json:
// data[at[0]:at[1]] and data[at[2]:at[3]] (jsoncut.Member).
func cutVocabMerges(data []byte) (at [4]int, ok bool) {
	vs, ve, ok := jsoncut.Member(data, "model", "vocab")
	ms, me, ok2 := jsoncut.Member(data, "model", "merges")
	return [4]int{vs, ve, ms, me}, ok && ok2
}

func checkByteLevel(field string, raw json.RawMessage, nullOK bool) error {
	if isNull(raw) {
		if nullOK {
			return nil
		}
		return fmt.Errorf("%s is missing, want ByteLevel", field)
	}
	var bl hfByteLevel
	if err := json.Unmarshal(raw, &bl); err != nil {
		return fmt.Errorf("%s: %w", field, err)
	}
	if bl.Type != "ByteLevel" {
		return fmt.Errorf("%s type %q is not supported, want ByteLevel", field, bl.Type)
	}
	if field == "pre_tokenizer" {
		if bl.AddPrefixSpace {
			return errors.New("pre_tokenizer add_prefix_space=true is not supported")
		}
		if bl.UseRegex != nil && !*bl.UseRegex {
			return errors.New("pre_tokenizer use_regex=false is not supported")
		}
	}
	return nil
}

// parseVocab reads the vocab object in order, refusing repeated keys or ids, which a
// plain map decode would silently collapse.
func parseVocab(raw json.RawMessage) (map[int]string, error) {
	if isNull(raw) {
		return nil, errors.New("model has no vocab")
	}
	if keys, ok := scanVocab(raw); ok {
		return keys, nil
	}
	return decodeVocab(raw)
}

// decodeVocab is parseVocab through encoding/json's tokens.
func decodeVocab(raw json.RawMessage) (map[int]string, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New("vocab is not a JSON object")
	}
	keys := map[int]string{}
	seen := map[string]int{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("vocab: %w", err)
		}
		k, ok := tok.(string)
		if !ok {
			return nil, errors.New("vocab: key is not a string")
		}
		tok, err = dec.Token()
		if err != nil {
			return nil, fmt.Errorf("vocab entry %q: %w", k, err)
		}
		num, ok := tok.(json.Number)
		if !ok {
			return nil, fmt.Errorf("vocab entry %q: id is not a number", k)
		}
		id, err := strconv.ParseInt(string(num), 10, 64)
		if err != nil || id < 0 || id >= maxVocab {
			return nil, fmt.Errorf("vocab entry %q: id %s is not an integer in [0, %d)", k, num, maxVocab)
		}
		if prev, ok := seen[k]; ok {
			return nil, fmt.Errorf("vocab entry %q appears twice (ids %d and %d)", k, prev, id)
		}
		if prev, ok := keys[int(id)]; ok {
			return nil, fmt.Errorf("duplicate id %d: vocab entries %q and %q", id, prev, k)
		}
		seen[k] = int(id)
		keys[int(id)] = k
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("vocab: %w", err)
	}
	return keys, nil
}

// parseMerges reads merges as "a b" strings (the classic form) or ["a", "b"] pairs
// (the form of tokenizers >= 0.20).
func parseMerges(raw json.RawMessage, ids map[string]int32) ([][2]int32, error) {
	if isNull(raw) {
		return nil, nil
	}
	if merges, ok := scanMerges(raw, ids); ok {
		return merges, nil
	}
	return decodeMerges(raw, ids)
}

// decodeMerges is parseMerges through encoding/json, one merge at a time.
func decodeMerges(raw json.RawMessage, ids map[string]int32) ([][2]int32, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, fmt.Errorf("merges: %w", err)
	}
	merges := make([][2]int32, len(items))
	for r, it := range items {
		var parts []string
		var s string
		if err := json.Unmarshal(it, &s); err == nil {
			parts = strings.Split(s, " ")
		} else if err := json.Unmarshal(it, &parts); err != nil {
			return nil, fmt.Errorf("merge %d is neither a string nor an array of strings", r)
		}
		if len(parts) != 2 {
			return nil, fmt.Errorf("merge %d has %d parts, want 2", r, len(parts))
		}
		for k, p := range parts {
			id, ok := ids[p]
			if !ok {
				return nil, fmt.Errorf("merge %d refers to %q, which is not an ordinary vocab token", r, p)
			}
			merges[r][k] = id
		}
	}
	return merges, nil
}
