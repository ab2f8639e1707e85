package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/austen-diffusion/textdiffusion/core/cmd/internal/clitest"
	"github.com/austen-diffusion/textdiffusion/core/continuous"
)

func TestEncstats(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", t.TempDir()) // the token cache goes here
	mp := clitest.Model(t, dir, "m.ckpt", false, clitest.Tokenizer(t, clitest.Text), 16)
	dp := filepath.Join(dir, "train.txt")
	if err := os.WriteFile(dp, []byte(clitest.Text), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, enc := range []string{"contextual", "embeddings"} {
		out := filepath.Join(dir, enc+".json")
		args := []string{"-model", mp, "-data", dp, "-json", "-threads", "1", "-out", out}
		if enc == "embeddings" {
			args = append(args, "-embeddings")
		}
		var o, e bytes.Buffer
		if err := run(args, &o, &e); err != nil {
			t.Fatalf("encstats %v: %v\n%s", args, err, e.String())
		}
		var s Summary
		if err := json.Unmarshal(o.Bytes(), &s); err != nil {
			t.Fatalf("output is not a Summary: %v\n%s", err, o.String())
		}
		raw, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		st, err := continuous.ParseStats(raw)
		if err != nil {
			t.Fatal(err)
		}
		if s.Encoder != enc || s.N == 0 || s.N != st.N || s.D != st.D || !(s.StdMin > 0) || s.StdMin > s.StdMean || s.StdMean > s.StdMax {
			t.Errorf("%s: unexpected summary %+v for statistics of %d positions", enc, s, st.N)
		}
	}
	var o, e bytes.Buffer
	if err := run([]string{"-model", filepath.Join(dir, "none.ckpt")}, &o, &e); err == nil || !strings.Contains(err.Error(), "none.ckpt") {
		t.Errorf("missing model: %v", err)
	}
}
