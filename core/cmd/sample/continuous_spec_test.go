package main

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/austen-diffusion/textdiffusion/core/cmd/internal/cli"
	"github.com/austen-diffusion/textdiffusion/core/cmd/internal/clitest"
	"github.com/austen-diffusion/textdiffusion/core/continuous"
)

// sampleContinuous with -draft frozen: fewer target calls than steps, the counts in the
// -json fields, frames drawn; -draft with a network is refused; without -draft it is the
// plain sampler.
func TestSampleContinuousSpeculative(t *testing.T) {
	tok := clitest.Tokenizer(t, text)
	l, err := cli.Load(clitest.Continuous(t, t.TempDir(), "tiny-tencdm.ckpt", tok, 16))
	if err != nil {
		t.Fatal(err)
	}
	mask := tok.Mask()
	ids := append(tok.Encode([]byte("It is")), mask, mask, mask, mask, mask, mask)
	const steps = 20
	opt := continuous.Options{Steps: steps, Seed: 2}
	for _, sc := range []string{"true", "false"} {
		f, err := parseFlags([]string{"-draft", "frozen", "-k", "3", "-selfcond=" + sc}, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		view := newLiveView(&buf, tok, ids, 0)
		r, fill, err := sampleContinuous(f, l.Continuous, ids, mask, opt, view)
		if err != nil {
			t.Fatal(err)
		}
		var o output
		fill(&o)
		b, _ := json.Marshal(o)
		t.Logf("-selfcond=%s: %s", sc, b)
		var obj map[string]any
		if err := json.Unmarshal(b, &obj); err != nil {
			t.Fatal(err)
		}
		if obj["draft"] != "frozen" || obj["k"] != 3.0 || obj["draft_calls"] != 0.0 || obj["exact"] != (sc == "false") {
			t.Errorf("-json fields %s", b)
		}
		if !(o.TargetCalls < steps && o.TargetRows >= steps && o.AcceptPerStep > 0 && o.AcceptPerStep <= 1) ||
			o.TargetCallsPerToken != float64(o.TargetCalls)/6 || r.DenoiserCalls != o.TargetCalls {
			t.Errorf("counts %s, denoiser calls %d", b, r.DenoiserCalls)
		}
		for i, id := range ids {
			if (id != mask && r.Tokens[i] != id) || r.Tokens[i] == mask {
				t.Fatalf("position %d: %d (template %d)", i, r.Tokens[i], id)
			}
		}
		if !strings.Contains(buf.String(), "\r\x1b[J") {
			t.Errorf("no frames drawn: %q", buf.String())
		}
	}
	f, _ := parseFlags([]string{"-draft", "self"}, io.Discard)
	if _, _, err := sampleContinuous(f, l.Continuous, ids, mask, opt, nil); err == nil || !strings.Contains(err.Error(), "frozen") {
		t.Errorf("-draft self: %v", err)
	}
	f, _ = parseFlags(nil, io.Discard)
	r, fill, err := sampleContinuous(f, l.Continuous, ids, mask, opt, nil)
	if err != nil || fill != nil || r.DenoiserCalls != steps {
		t.Errorf("plain: %v, fill %v, %d calls", err, fill != nil, r.DenoiserCalls)
	}
}
