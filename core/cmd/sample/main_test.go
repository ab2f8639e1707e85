package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/austen-diffusion/textdiffusion/core/cmd/internal/clitest"
	"github.com/austen-diffusion/textdiffusion/core/infill"
	"github.com/austen-diffusion/textdiffusion/core/tokenizer"
)

const text = clitest.Text + ` Emma Woodhouse, handsome, clever, and rich, with a comfortable home and happy
disposition, seemed to unite some of the best blessings of existence.`

// writeModel saves a tiny random model (bidirectional or causal) with a tokenizer trained
// on text, and returns its path.
func writeModel(t *testing.T, causal bool) string {
	t.Helper()
	return clitest.Model(t, t.TempDir(), "tiny.ckpt", causal, clitest.Tokenizer(t, text), 64)
}

func runArgs(args ...string) (stdout, stderr string, err error) {
	var o, e bytes.Buffer
	err = run(args, &o, &e)
	return o.String(), e.String(), err
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// lastJSON parses the last line of stdout as one JSON object.
func lastJSON(t *testing.T, stdout string) map[string]any {
	t.Helper()
	var obj map[string]any
	if err := json.Unmarshal([]byte(lastLine(stdout)), &obj); err != nil {
		t.Fatalf("last line is not a JSON object: %v\n%s", err, stdout)
	}
	return obj
}

func TestJSON(t *testing.T) {
	path := writeModel(t, false)
	stdout, stderr, err := runArgs("-model", path, "-json", "-n", "12", "-steps", "6", "-seed", "5", "-stop-eot=false")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stderr, "blas: ") {
		t.Errorf("stderr %q does not start with the blas line", stderr)
	}
	obj := lastJSON(t, stdout)
	for _, k := range []string{"text", "generated", "tokens", "ids", "nfe", "steps", "seconds", "strategy", "grid", "seed", "model", "sampler"} {
		if _, ok := obj[k]; !ok {
			t.Errorf("JSON has no %q: %v", k, obj)
		}
	}
	if obj["tokens"] != 12.0 || obj["seed"] != 5.0 || obj["sampler"] != "masked-diffusion" || obj["strategy"] != "semi-ar" || obj["block"] != 8.0 {
		t.Errorf("tokens %v seed %v sampler %v strategy %v block %v", obj["tokens"], obj["seed"], obj["sampler"], obj["strategy"], obj["block"])
	}
	// Six cosine steps over 12 tokens: at most 6 calls, at least one.
	if nfe := obj["nfe"].(float64); nfe < 1 || nfe > 6 {
		t.Errorf("nfe %v for 6 steps", nfe)
	}
	if ids := obj["ids"].([]any); len(ids) != 12 {
		t.Errorf("%d ids, want 12", len(ids))
	}

	// The same seed gives the same text; the stdout of -json is that one line.
	again, _, err := runArgs("-model", path, "-json", "-n", "12", "-steps", "6", "-seed", "5", "-stop-eot=false")
	if err != nil {
		t.Fatal(err)
	}
	if lastJSON(t, again)["text"] != obj["text"] || strings.Count(stdout, "\n") != 1 {
		t.Errorf("same seed, different output or extra lines:\n%s\n%s", stdout, again)
	}
}

func TestPlainText(t *testing.T) {
	path := writeModel(t, false)
	// -visual is on by default but stdout is not a terminal: plain text, no escapes.
	stdout, stderr, err := runArgs("-model", path, "-prompt", "It is a truth", "-n", "8", "-seed", "3", "-strategy", "semi-ar", "-block", "4")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stdout, "It is a truth") || strings.Contains(stdout, "\x1b") || strings.Count(stdout, "\n") < 1 {
		t.Errorf("stdout %q", stdout)
	}
	if !strings.Contains(stderr, "network calls") {
		t.Errorf("stderr %q has no summary", stderr)
	}
}

func TestAutoregressiveModel(t *testing.T) {
	path := writeModel(t, true)
	stdout, _, err := runArgs("-model", path, "-json", "-prompt", "Emma", "-n", "10", "-seed", "2", "-stop-eot=false")
	if err != nil {
		t.Fatal(err)
	}
	obj := lastJSON(t, stdout)
	if obj["sampler"] != "autoregressive" || obj["nfe"] != 10.0 || obj["tokens"] != 10.0 {
		t.Errorf("sampler %v nfe %v tokens %v", obj["sampler"], obj["nfe"], obj["tokens"])
	}
	if !strings.HasPrefix(obj["text"].(string), "Emma") {
		t.Errorf("text %q", obj["text"])
	}
	if _, _, err := runArgs("-model", path, "-infill", "Emma ___ wife."); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("infill with a causal model: %v", err)
	}
}

func TestInfillKeepsText(t *testing.T) {
	path := writeModel(t, false)
	stdout, _, err := runArgs("-model", path, "-json", "-infill", "Emma ___ the rightful property. [MASK] of a wife.", "-blank-len", "3", "-seed", "9")
	if err != nil {
		t.Fatal(err)
	}
	obj := lastJSON(t, stdout)
	got := obj["text"].(string)
	rest := got
	for _, piece := range []string{"Emma", " the rightful property.", " of a wife."} {
		i := strings.Index(rest, piece)
		if i < 0 {
			t.Fatalf("text %q lost %q", got, piece)
		}
		rest = rest[i+len(piece):]
	}
	if !strings.HasPrefix(got, "Emma") || !strings.HasSuffix(got, " of a wife.") {
		t.Errorf("text %q", got)
	}
	if fills := obj["fills"].([]any); len(fills) != 2 || obj["tokens"] != 6.0 {
		t.Errorf("fills %v tokens %v, want 2 blanks of 3 tokens", fills, obj["tokens"])
	}
	if _, _, err := runArgs("-model", path, "-infill", "no blank here"); err == nil {
		t.Error("-infill without a blank accepted")
	}
}

func TestErrors(t *testing.T) {
	path := writeModel(t, false)
	dir := t.TempDir()
	missing := filepath.Join(dir, "nothing.ckpt")

	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)/2] ^= 0x40
	corrupt := filepath.Join(dir, "corrupt.ckpt")
	if err := os.WriteFile(corrupt, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	junk := filepath.Join(dir, "junk.ckpt")
	if err := os.WriteFile(junk, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name string
		args []string
		want string // a part of the message
	}{
		{"over-long prompt", []string{"-model", path, "-prompt", text, "-n", "8"}, path},
		{"n beyond the model", []string{"-model", path, "-n", "65"}, path},
		{"missing model", []string{"-model", missing}, missing},
		{"corrupt model", []string{"-model", corrupt}, corrupt},
		{"not a checkpoint", []string{"-model", junk}, junk},
		{"unknown flag", []string{"-bogus"}, "-bogus"},
		{"bad n", []string{"-n", "0"}, "-n"},
		{"bad strategy", []string{"-model", path, "-n", "8", "-strategy", "sideways"}, "sideways"},
		{"bad grid", []string{"-model", path, "-n", "8", "-grid", "square"}, "square"},
		{"bad confidence", []string{"-model", path, "-n", "8", "-confidence", "vibes"}, "vibes"},
		{"bad temperature", []string{"-model", path, "-n", "8", "-temperature", "-1"}, "Temperature"},
		{"bad topp", []string{"-model", path, "-n", "8", "-topp", "-0.5"}, "TopP"},
		{"stray argument", []string{"-model", path, "hello"}, "hello"},
		{"prompt and infill", []string{"-prompt", "a", "-infill", "b ___"}, "-infill"},
	} {
		_, _, err := runArgs(c.args...)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, c.want) || strings.Contains(msg, "\n") {
			t.Errorf("%s: error %q does not mention %q", c.name, msg, c.want)
		}
	}
	if _, _, err := runArgs("-h"); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
}

func TestLiveView(t *testing.T) {
	tok, err := tokenizer.Train([][]byte{[]byte(text)}, 300)
	if err != nil {
		t.Fatal(err)
	}
	m := tok.Mask()
	ids := append(tok.Encode([]byte("Emma")), m, m, m)
	var buf bytes.Buffer
	v := newLiveView(&buf, tok, ids, 0)
	if got := strings.Count(buf.String(), maskGlyph); got != 3 {
		t.Fatalf("first frame has %d mask glyphs, want 3: %q", got, buf.String())
	}
	buf.Reset()
	ids[len(ids)-2] = tok.Encode([]byte(" the"))[0]
	v.frame(1, ids, []int{len(ids) - 2})
	out := buf.String()
	if strings.Count(out, maskGlyph) != 2 || !strings.Contains(out, styleNew) || !strings.Contains(out, "\r\x1b[J") {
		t.Fatalf("second frame %q", out)
	}
	buf.Reset()
	v.finish(tok.Encode([]byte("Emma the end")))
	if out := buf.String(); strings.Contains(out, maskGlyph) || strings.Contains(out, styleNew) || !strings.HasSuffix(out, "Emma the end\n") {
		t.Fatalf("final frame %q", out)
	}
}

func TestScreenRows(t *testing.T) {
	for _, c := range []struct {
		s     string
		width int
		want  int
	}{
		{"", 10, 1},
		{"abc", 10, 1},
		{"0123456789", 10, 1}, // a full row does not wrap until the next character
		{"0123456789x", 10, 2},
		{"ab\ncd", 10, 2},
		{"ab\n", 10, 2},
		{"░░░░░", 2, 3},
	} {
		if got := screenRows(c.s, c.width); got != c.want {
			t.Errorf("screenRows(%q, %d) = %d, want %d", c.s, c.width, got, c.want)
		}
	}
}

// TestInfillSyntax checks that -infill reads its text with core/infill, the page's parser:
// both spellings, one space before a blank left to the fill, the parser's errors.
func TestInfillSyntax(t *testing.T) {
	tok := clitest.Tokenizer(t, text)
	path := clitest.Model(t, t.TempDir(), "tiny.ckpt", false, tok, 64)
	const in = "Emma  ___ wife[MASK]. ___"
	want, blanks, err := infill.Encode(tok, in, 2, 64)
	if err != nil {
		t.Fatal(err)
	}
	stdout, _, err := runArgs("-model", path, "-json", "-infill", in, "-blank-len", "2", "-seed", "4")
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		IDs   []int32  `json:"ids"`
		Fills []string `json:"fills"`
	}
	if err := json.Unmarshal([]byte(lastLine(stdout)), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.IDs) != len(want) || len(out.Fills) != 3 || len(blanks) != 3 {
		t.Fatalf("%d ids and %d fills, want %d ids and 3 blanks", len(out.IDs), len(out.Fills), len(want))
	}
	for i, id := range want {
		if id != tok.Mask() && out.IDs[i] != id {
			t.Fatalf("id %d is %d, want %d: the given text is not encoded as core/infill does (%v vs %v)", i, out.IDs[i], id, out.IDs, want)
		}
	}
	if _, _, err := runArgs("-model", path, "-infill", "Emma [mask] wife"); err == nil || !strings.Contains(err.Error(), "[mask]") {
		t.Errorf("-infill with [mask] in lower case: %v, want the parser's error", err)
	}
}
