package tokenizer

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/austen-diffusion/textdiffusion/core/corpus"
)

var (
	smallOnce sync.Once
	smallTok  *Tokenizer
	smallText [][]byte
	smallErr  error
)

// small returns a tokenizer of vocab 1024 trained on ~300 KB: the first 60 KB of each
// training book.
func small(t testing.TB) (*Tokenizer, [][]byte) {
	smallOnce.Do(func() {
		books, err := corpus.Train()
		if err != nil {
			smallErr = err
			return
		}
		for _, b := range books {
			smallText = append(smallText, b.Text[:60000])
		}
		smallTok, smallErr = Train(smallText, 1024)
	})
	if smallErr != nil {
		t.Fatal(smallErr)
	}
	return smallTok, smallText
}

func TestTrainShape(t *testing.T) {
	tok, _ := small(t)
	if tok.Vocab() != 1024 || tok.EOT() != 1022 || tok.Mask() != 1023 {
		t.Fatalf("vocab %d eot %d mask %d", tok.Vocab(), tok.EOT(), tok.Mask())
	}
	if tok.NumMerges() < 1024-258 {
		t.Fatalf("%d merges for %d new pieces", tok.NumMerges(), 1024-258)
	}
	for b := range 256 {
		if got := tok.TokenBytes(int32(b)); len(got) != 1 || got[0] != byte(b) {
			t.Fatalf("id %d is %q, want byte %d", b, got, b)
		}
	}
	if string(tok.TokenBytes(tok.EOT())) != EOTText || string(tok.TokenBytes(tok.Mask())) != MaskText {
		t.Fatal("specials have the wrong text")
	}
	// The merges learned from English prose include " the" as one token.
	if ids := tok.Encode([]byte(" the")); len(ids) != 1 {
		t.Fatalf(`" the" encodes to %v pieces %q`, ids, pieceList(tok, ids))
	}
}

func pieceList(tok *Tokenizer, ids []int32) []string {
	var out []string
	for _, id := range ids {
		out = append(out, string(tok.TokenBytes(id)))
	}
	return out
}

// TestTrainCompresses checks that the learned pieces compress the training text.
func TestTrainCompresses(t *testing.T) {
	tok, texts := small(t)
	ids := tok.Encode(texts[0])
	if ratio := float64(len(texts[0])) / float64(len(ids)); ratio < 2.5 {
		t.Fatalf("%.2f bytes per token on training text, want >= 2.5", ratio)
	}
}

func TestTrainDeterministic(t *testing.T) {
	_, texts := small(t)
	a, err := Train(texts[:2], 400)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Train(texts[:2], 400)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Marshal(), b.Marshal()) {
		t.Fatal("two trainings on the same text differ")
	}
}

// TestTrainTieBreak: every pair occurs once, so the first merge is the smallest pair
// of ids, (' ', 'c') = (32, 99); then the count decides.
func TestTrainTieBreak(t *testing.T) {
	tok, err := Train([][]byte{[]byte("ab cd")}, 259)
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.merges; !slices.Equal(got, [][2]int32{{' ', 'c'}}) {
		t.Fatalf("merges %v, want [[32 99]]", got)
	}
	tok, err = Train([][]byte{[]byte("ab cd xy xy xy cd")}, 260)
	if err != nil {
		t.Fatal(err)
	}
	// " x" and "xy" each occur 3 times: the smaller pair (' ', 'x') wins, then
	// (' x', 'y') has count 3 while " c" has 2.
	want := [][2]int32{{' ', 'x'}, {256, 'y'}}
	if got := tok.merges; !slices.Equal(got, want) {
		t.Fatalf("merges %v, want %v", got, want)
	}
}

func TestTrainErrors(t *testing.T) {
	if _, err := Train([][]byte{[]byte("abc")}, 100); err == nil {
		t.Fatal("vocab 100 accepted")
	}
	_, err := Train([][]byte{[]byte("abc abc")}, 300)
	if err == nil || !strings.Contains(err.Error(), "allows only") {
		t.Fatalf("tiny text for a large vocab: err = %v", err)
	}
}

func TestRoundTrip(t *testing.T) {
	tok, _ := small(t)
	cases := []string{
		"", "a", " ", "\n\n\n", "Emma Woodhouse, handsome, clever, and rich",
		"<|endoftext|>", "<|mask|>", "\x00\x01\xff\xfe", "caf\xc3\xa9 \xe2\x80\x94 na\xc3\xafve",
		strings.Repeat(" ", 1000), strings.Repeat("ab", 500), strings.Repeat("!?", 300) + "x",
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 300 {
		cases = append(cases, string(randomBytes(r, r.IntN(200))))
	}
	for _, s := range cases {
		ids := tok.Encode([]byte(s))
		for _, id := range ids {
			if id < 0 || id >= tok.EOT() {
				t.Fatalf("Encode(%q) gave id %d", s, id)
			}
		}
		if got := tok.Decode(ids); string(got) != s {
			t.Fatalf("Decode(Encode(%q)) = %q", s, got)
		}
	}
}

// TestHeapMatchesScan checks that the long-word merge loop and the short-word one agree.
func TestHeapMatchesScan(t *testing.T) {
	tok, texts := small(t)
	r := rand.New(rand.NewPCG(5, 6))
	for range 500 {
		var w []byte
		if r.IntN(2) == 0 {
			i := r.IntN(len(texts[1]) - 50)
			w = texts[1][i : i+2+r.IntN(46)]
		} else {
			w = randomBytes(r, 2+r.IntN(46))
		}
		scan := tok.bpe(nil, w)
		heap := tok.bpeHeap(nil, w)
		if !slices.Equal(scan, heap) {
			t.Fatalf("%q: scan %v, heap %v", w, scan, heap)
		}
	}
}

func TestSpecials(t *testing.T) {
	tok, _ := small(t)
	ids := tok.Encode([]byte("a<|endoftext|>b<|mask|>"))
	if slices.Contains(ids, tok.EOT()) || slices.Contains(ids, tok.Mask()) {
		t.Fatal("special text in the input encoded as a special id")
	}
	got := tok.Decode([]int32{'a', tok.EOT(), 'b', tok.Mask()})
	if string(got) != "a<|endoftext|>b<|mask|>" {
		t.Fatalf("Decode with specials = %q", got)
	}
}

func TestTokenString(t *testing.T) {
	tok, _ := small(t)
	cases := map[int32]string{
		'a': "a", '\n': `\n`, '\t': `\t`, 0: `\x00`, 0xe2: `\xe2`, ' ': " ",
		tok.EOT(): EOTText, tok.Mask(): MaskText, -1: "<bad id -1>", 5000: "<bad id 5000>",
	}
	for id, want := range cases {
		if got := tok.TokenString(id); got != want {
			t.Errorf("TokenString(%d) = %q, want %q", id, got, want)
		}
	}
	the := tok.Encode([]byte(" the"))[0]
	if got := tok.TokenString(the); got != " the" {
		t.Errorf("TokenString(\" the\") = %q", got)
	}
}

func TestDecodePanicsOnBadID(t *testing.T) {
	tok, _ := small(t)
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	tok.Decode([]int32{int32(tok.Vocab())})
}

// TestConcurrentEncode runs encoders in parallel (the cache is shared); run with -race.
func TestConcurrentEncode(t *testing.T) {
	tok, texts := small(t)
	want := tok.Encode(texts[2][:20000])
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if got := tok.Encode(texts[2][:20000]); !slices.Equal(got, want) {
				t.Error("concurrent encode differs")
			}
		})
	}
	wg.Wait()
}

func FuzzRoundTrip(f *testing.F) {
	tok, _ := small(f)
	for _, s := range []string{"", "Hello, world!", "\xff\x00 \n\n  x", "'s'll've", "\xe2\x80\x9cNo\xe2\x80\x9d"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, s []byte) {
		ids := tok.Encode(s)
		if got := tok.Decode(ids); !bytes.Equal(got, s) {
			t.Fatalf("Decode(Encode(%q)) = %q", s, got)
		}
	})
}
