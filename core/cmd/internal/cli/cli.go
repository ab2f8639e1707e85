// Package cli holds what the commands share: the default corpus and tokenizer, and the
// validation windows every reported number is computed on.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/austen-diffusion/textdiffusion/core/corpus"
	"github.com/austen-diffusion/textdiffusion/core/data"
	"github.com/austen-diffusion/textdiffusion/core/tokenizer"
)

// Stream tokenizes the documents of Docs(files, which) with tok through the token cache
// and returns the stream with the documents (for their names).
func Stream(tok *tokenizer.Tokenizer, files, which string) (*data.Stream, []data.Doc, error) {
	docs, err := Docs(files, which)
	if err != nil {
		return nil, nil, err
	}
	st, err := data.Tokenize(tok, docs, CacheDir())
	if err != nil {
		return nil, nil, err
	}
	return st, docs, nil
}

// Docs returns the documents of a comma-separated file list, or the default books:
// the five training books (which=train) or Persuasion (which=val).
func Docs(files, which string) ([]data.Doc, error) {
	if strings.TrimSpace(files) != "" {
		return data.ReadFiles(SplitList(files))
	}
	var books []corpus.Book
	switch which {
	case "train":
		b, err := corpus.Train()
		if err != nil {
			return nil, err
		}
		books = b
	default:
		b, err := corpus.Validation()
		if err != nil {
			return nil, err
		}
		books = []corpus.Book{b}
	}
	docs := make([]data.Doc, len(books))
	for i, b := range books {
		docs[i] = data.Doc{Name: "corpus/" + b.Name, Text: b.Text}
	}
	return docs, nil
}

// SplitList splits a comma-separated flag value, dropping empty items.
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Tokenizer loads path, or, when it does not exist, trains a BPE of vocab ids on docs and
// saves it there (so every later run and the released models share it).
func Tokenizer(path string, vocab int, docs []data.Doc) (*tokenizer.Tokenizer, []byte, error) {
	if raw, err := os.ReadFile(path); err == nil {
		tok, err := tokenizer.Parse(raw)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		return tok, raw, nil
	} else if !os.IsNotExist(err) {
		return nil, nil, err
	}
	texts := make([][]byte, len(docs))
	for i, d := range docs {
		texts[i] = d.Text
	}
	tok, err := tokenizer.Train(texts, vocab)
	if err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, nil, err
	}
	if err := tok.SaveFile(path); err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(os.Stderr, "trained a %d-token BPE on %d documents, saved %s\n", tok.Vocab(), len(docs), path)
	return tok, tok.Marshal(), nil
}

// CacheDir is where token streams are cached.
func CacheDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "textdiffusion")
	}
	return filepath.Join(os.TempDir(), "textdiffusion-cache")
}

// ValWindows cuts the validation stream into windows of L tokens (at most maxTokens
// tokens in all; 0: all) and returns, for each, the token before it (EOT for the first):
// the AR model's one token of context, so both kinds score exactly the same tokens.
func ValWindows(s *data.Stream, L, maxTokens int, eot int32) (windows [][]int32, prev []int32) {
	windows = s.Windows(L)
	if maxTokens > 0 && len(windows) > maxTokens/L {
		windows = windows[:max(1, maxTokens/L)]
	}
	prev = make([]int32, len(windows))
	for i := range windows {
		prev[i] = eot
		if i > 0 {
			prev[i] = windows[i-1][L-1]
		}
	}
	return windows, prev
}

// ParseFlags parses args into fl and reports a bad flag as one line (the flag package's
// own messages span several lines); -h prints usage and the defaults to stderr and
// returns flag.ErrHelp. Positional arguments are refused.
func ParseFlags(fl *flag.FlagSet, args []string, stderr io.Writer, usage string) error {
	fl.SetOutput(io.Discard)
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fl.SetOutput(stderr)
			fmt.Fprint(stderr, usage)
			fl.PrintDefaults()
			return err
		}
		return fmt.Errorf("%v (see -h)", err)
	}
	if fl.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags only; quote text given to a flag)", fl.Arg(0))
	}
	return nil
}

// Main runs a command's run with the process's arguments and streams. An error is
// printed as one line, "name: reason" (a "name: " the error already starts with is not
// repeated; -h prints nothing more), and the process exits with status 1.
func Main(name string, run func(args []string, stdout, stderr io.Writer) error) {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	if err == nil {
		return
	}
	if !errors.Is(err, flag.ErrHelp) {
		msg := strings.Join(strings.Fields(err.Error()), " ") // one line whatever a wrapped error holds
		fmt.Fprintln(os.Stderr, name+": "+strings.TrimPrefix(msg, name+": "))
	}
	os.Exit(1)
}
