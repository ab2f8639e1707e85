package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/austen-diffusion/textdiffusion/core/cmd/internal/clitest"
)

func TestTableAndPlot(t *testing.T) {
	dir := t.TempDir()
	tok := clitest.Tokenizer(t, clitest.Text)
	target := clitest.Model(t, dir, "mdm.ckpt", false, tok, 32)
	twin := clitest.Model(t, dir, "twin.ckpt", false, tok, 32) // the same network as the target
	judge := clitest.Model(t, dir, "ar.ckpt", true, tok, 32)
	md, png := filepath.Join(dir, "s.md"), filepath.Join(dir, "s.png")
	var out, errOut bytes.Buffer
	err := run([]string{"-model", target, "-judge", judge, "-drafts", "frozen," + twin, "-k", "1,3", "-strategies", "random",
		"-samples", "2", "-n", "12", "-steps", "12", "-threads", "1", "-json", "-out-md", md, "-out-png", png}, &out, &errOut)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d rows, want plain + 2 drafts x 2 K:\n%s", len(lines), out.String())
	}
	var rows []Row
	for _, l := range lines {
		var r Row
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
	plain := rows[0]
	if plain.Draft != "" || plain.Tokens != 24 || plain.CallsPerToken <= 0 || plain.Ratio["1"] != 1 {
		t.Errorf("plain row %+v", plain)
	}
	for _, r := range rows[1:] {
		// A draft equal to the target: every token accepted, about K+1 steps a call.
		if r.Draft == twin && (r.AcceptPerToken != 1 || r.AcceptPerStep != 1 || r.TargetCalls > (plain.TargetCalls+2*r.K)/(r.K+1)+2) {
			t.Errorf("twin draft K=%d: %+v", r.K, r)
		}
		if r.TargetCalls >= plain.TargetCalls && r.Draft == twin {
			t.Errorf("twin draft K=%d saved no target call: %d against %d", r.K, r.TargetCalls, plain.TargetCalls)
		}
		if r.Draft == "frozen" && (r.DraftCalls != 0 || r.DraftGFLOP != 0) {
			t.Errorf("frozen draft made calls: %+v", r)
		}
		if r.TargetGFLOP <= 0 || r.JudgePPL <= 0 || r.Seconds["1"] <= 0 {
			t.Errorf("row %+v", r)
		}
	}
	if b, err := os.ReadFile(md); err != nil || !strings.Contains(string(b), "| random | `frozen` | 3 |") {
		t.Errorf("table: %v\n%s", err, b)
	}
	if b, err := os.ReadFile(png); err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
		t.Errorf("plot: %v", err)
	}

	// -rows redraws the table from -json rows, a row seen twice once.
	jsonl := filepath.Join(dir, "rows.jsonl")
	if err := os.WriteFile(jsonl, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	md2 := filepath.Join(dir, "again.md")
	if err := run([]string{"-rows", jsonl + "," + jsonl, "-threads", "1", "-json", "-out-md", md2, "-out-png", ""}, &again, &errOut); err != nil {
		t.Fatal(err)
	}
	if again.String() != out.String() {
		t.Errorf("-rows changed the rows:\n%s\nwant\n%s", again.String(), out.String())
	}
	table := func(md string) string { return md[strings.Index(md, "\n|"):] }
	if a, b := table(mustRead(t, md)), table(mustRead(t, md2)); a != b {
		t.Errorf("-rows table differs:\n%s\nwant\n%s", b, a)
	}

	for _, args := range [][]string{
		{"-k", "0"},
		{"-threads", "x"},
		{"-samples", "0"},
		{"-model", judge, "-judge", judge},
		{"-model", target, "-judge", target},
		{"-model", target, "-judge", judge, "-drafts", "self:5"},
	} {
		if err := run(append(args, "-out-md", "", "-out-png", ""), &out, &errOut); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

func mustRead(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A continuous target: the plain sde line and the frozen draft at each K, fewer target
// calls than the plain line's steps, acceptance per step only.
func TestContinuousRows(t *testing.T) {
	dir := t.TempDir()
	tok := clitest.Tokenizer(t, clitest.Text)
	target := clitest.Continuous(t, dir, "tencdm.ckpt", tok, 16)
	judge := clitest.Model(t, dir, "ar.ckpt", true, tok, 32)
	var out, errOut bytes.Buffer
	err := run([]string{"-model", target, "-judge", judge, "-drafts", "frozen", "-k", "1,3", "-adaptive",
		"-samples", "2", "-n", "12", "-steps", "20", "-threads", "1", "-json", "-out-md", "", "-out-png", ""}, &out, &errOut)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	var rows []Row
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var r Row
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
	if len(rows) != 5 || rows[0].CPURatio["1"] != 1 || rows[0].Draft != "" || rows[0].TargetCalls != 40 || rows[0].Tokens != 24 || rows[0].Strategy != "sde" {
		t.Fatalf("rows %+v", rows)
	}
	for _, r := range rows[1:] {
		if !strings.HasPrefix(r.Draft, "frozen") || r.TargetCalls >= 40 || r.TargetRows < 40 || r.DraftCalls != 0 ||
			!(r.AcceptPerStep > 0 && r.AcceptPerStep <= 1) || r.AcceptPerToken != 0 || r.JudgePPL <= 0 {
			t.Errorf("K=%d: %+v", r.K, r)
		}
	}
	err = run([]string{"-model", target, "-judge", judge, "-drafts", "self:1", "-n", "12", "-threads", "1"}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "frozen") {
		t.Errorf("-drafts self:1 on a continuous target: %v", err)
	}
}
