package train

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestRestartRemovesStaleTemps: a run killed while saving leaves the checkpoint writer's
// temporary files; the restarted run removes exactly those (of its checkpoint, model and
// last-model files) and touches nothing else in its folder.
func TestRestartRemovesStaleTemps(t *testing.T) {
	dir := t.TempDir()
	s := stream(5000)
	tr, _ := New(tinyConfig("mdm"), []byte(`{}`), windowBatch(s))
	ctx, cancel := context.WithCancel(context.Background())
	r := &Runner{T: tr, Dir: dir, OnStep: func(st Stats, _ float64) {
		if st.Step == 4 {
			cancel()
		}
	}}
	if err := r.Run(ctx); err != context.Canceled {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	// Three kills' worth of temporaries, and files that only look like them.
	stale := []string{".checkpoint.ckpt.tmp-1234567", ".checkpoint.ckpt.tmp-42", ".model.ckpt.tmp-99", ".model-last.ckpt.tmp-7"}
	other := map[string]string{
		".checkpoint.ckpt.tmp-notes": "mine", "checkpoint.ckpt.tmp-5": "mine too", ".other.ckpt.tmp-5": "another writer's",
		"notes.txt": "my notes",
	}
	for _, name := range stale {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("half a checkpoint"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, text := range other {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	res, err := Resume(filepath.Join(dir, CheckpointFile), windowBatch(s), 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := (&Runner{T: res, Dir: dir}).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, name := range stale {
		if _, err := os.Stat(filepath.Join(dir, name)); !os.IsNotExist(err) {
			t.Errorf("%s is still there after the restart (%v)", name, err)
		}
	}
	for name, text := range other {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(b) != text {
			t.Errorf("%s changed: %q, %v", name, b, err)
		}
	}
}
