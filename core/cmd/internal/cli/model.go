package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/austen-diffusion/textdiffusion/core/checkpoint"
	"github.com/austen-diffusion/textdiffusion/core/continuous"
	"github.com/austen-diffusion/textdiffusion/core/model"
	"github.com/austen-diffusion/textdiffusion/core/sample"
	"github.com/austen-diffusion/textdiffusion/core/tokenizer"
)

// Loaded is a model file's network: a token model (masked diffusion or autoregressive) in
// Model, or a continuous diffusion model in Continuous; the tokenizer stored with it
// (parsed, and its raw tokenizer.json bytes).
type Loaded struct {
	Model      *model.Model
	Continuous *continuous.Model
	Tok        *tokenizer.Tokenizer
	TokJSON    []byte
}

// Load reads a model file of either paradigm. Every error names the file once; a missing
// file says how the release files are made.
func Load(path string) (*Loaded, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: no such file; build the release files with build/train-demo.sh or pass another model file", path)
	}
	f, err := checkpoint.Load(path)
	if err != nil {
		return nil, FileError(path, err)
	}
	l := &Loaded{TokJSON: f.Tokenizer}
	vocab := 0
	if f.Notes["kind"] == continuous.Kind {
		var enc *checkpoint.File
		if ref, ok := f.Notes[continuous.EncoderFileNote]; ok {
			if enc, err = continuous.LoadEncoder(filepath.Dir(path), ref); err != nil {
				return nil, FileError(path, err)
			}
		}
		if l.Continuous, err = continuous.OpenWith(f, enc); err != nil {
			return nil, FileError(path, err)
		}
		vocab = l.Continuous.Decoder.Cfg.Vocab
	} else {
		if l.Model, err = model.FromFile(f); err != nil {
			return nil, FileError(path, err)
		}
		vocab = l.Model.Cfg.Vocab
	}
	if len(f.Tokenizer) == 0 {
		return nil, fmt.Errorf("%s: no tokenizer stored in the file", path)
	}
	if l.Tok, err = tokenizer.Parse(f.Tokenizer); err != nil {
		return nil, fmt.Errorf("%s: tokenizer: %w", path, err)
	}
	if l.Tok.Vocab() != vocab {
		return nil, fmt.Errorf("%s: tokenizer has %d tokens, model %d", path, l.Tok.Vocab(), vocab)
	}
	return l, nil
}

// LoadModel is Load for the commands that read token models (masked or autoregressive).
func LoadModel(path string) (*model.Model, *tokenizer.Tokenizer, []byte, error) {
	l, err := Load(path)
	if err != nil {
		return nil, nil, nil, err
	}
	if l.Model == nil {
		return nil, nil, nil, fmt.Errorf("%s: a continuous diffusion model; this command reads masked diffusion or autoregressive models", path)
	}
	return l.Model, l.Tok, l.TokJSON, nil
}

// FileError puts the file name in front of err exactly once (an error that starts with
// a file inside the folder name already says where).
func FileError(name string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %v", pe.Path, pe.Err)
	}
	if msg := err.Error(); strings.HasPrefix(msg, name+": ") || strings.HasPrefix(msg, filepath.Join(name, "")+string(filepath.Separator)) {
		return err
	}
	return fmt.Errorf("%s: %w", name, err)
}

// LoadDraft returns the draft of a speculative sampler over target, whose tokenizer.json
// bytes are tok: "frozen" (nil: the target's own latest output), "self" or "self:N" (the
// target's first N blocks, 2 by default, with its final norm and head), or a model file
// that shares the target's tokenizer and covers its positions. name describes it.
func LoadDraft(spec string, target *model.Model, tok []byte) (d *model.Model, name string, err error) {
	switch {
	case spec == sample.DraftFrozen:
		return nil, sample.DraftFrozen, nil
	case spec == "self" || strings.HasPrefix(spec, "self:"):
		n := 2
		if s, ok := strings.CutPrefix(spec, "self:"); ok {
			if _, err := fmt.Sscanf(s, "%d", &n); err != nil || fmt.Sprint(n) != s {
				return nil, "", fmt.Errorf("-draft %q: want self:N with N the number of blocks kept", spec)
			}
		}
		d, err := target.EarlyExit(n)
		if err != nil {
			return nil, "", fmt.Errorf("-draft %q: %w", spec, err)
		}
		return d, fmt.Sprintf("self:%d", n), nil
	}
	d, _, raw, err := LoadModel(spec)
	if err != nil {
		return nil, "", err
	}
	switch {
	case string(raw) != string(tok):
		return nil, "", fmt.Errorf("%s: the draft's tokenizer differs from the target's", spec)
	case d.Cfg.Causal:
		return nil, "", fmt.Errorf("%s: a draft must be a masked diffusion model, this one is autoregressive (causal)", spec)
	case d.Cfg.SeqLen < target.Cfg.SeqLen:
		return nil, "", fmt.Errorf("%s: the draft covers %d positions, the target %d", spec, d.Cfg.SeqLen, target.Cfg.SeqLen)
	}
	return d, spec, nil
}
