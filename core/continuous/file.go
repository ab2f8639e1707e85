package continuous

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/austen-diffusion/textdiffusion/core/checkpoint"
	"github.com/austen-diffusion/textdiffusion/core/model"
)

// A continuous model file is a checkpoint whose own network (Config, unprefixed tensors)
// is the denoiser, with beside it, so that the file alone samples and takes prompts:
//   - the encoder, the masked model whose states are the latents: tensors "encoder.*",
//     its config in the note EncoderNote, the latent kind in LatentsNote;
//   - the encoder's statistics (StatsNote);
//   - the decoder back to tokens: tensors "decoder.*", its config in DecoderNote (a
//     training checkpoint may not have one yet);
//   - the noise schedule's name (ScheduleNote) and Notes["kind"] = Kind.
const (
	Kind         = "continuous"
	EncoderNote  = "continuous.encoder"
	DecoderNote  = "continuous.decoder"
	LatentsNote  = "continuous.latents" // "contextual" or "embeddings"
	ScheduleNote = "continuous.schedule"

	// EncoderFileNote, in a release file, replaces the encoder's tensors with a reference
	// to the masked model's own release file, "name sha256:hex" (see Detach): the encoder
	// is that model, so a release ships it once, and a page that has the masked model has
	// the continuous model's encoder too.
	EncoderFileNote = "continuous.encoder_file"
)

// ErrNeedEncoder is wrapped by Open when the file refers to its encoder's file instead of
// holding it: OpenWith, or Load (which finds the file beside it), supplies it.
var ErrNeedEncoder = errors.New("continuous: the file refers to its encoder's file")

// Space is the latent space: a frozen encoder network, whether its hidden states
// (contextual) or its token embeddings are the latents, and their normalisation.
type Space struct {
	Net   *model.Model
	Kind  string // "contextual" or "embeddings"
	Stats Stats
	enc   Encoder
}

// NewSpace checks the encoder against its statistics and the kind.
func NewSpace(net *model.Model, kind string, st Stats) (*Space, error) {
	s := &Space{Net: net, Kind: kind, Stats: st}
	switch kind {
	case "contextual":
		if net.Cfg.Causal {
			return nil, fmt.Errorf("continuous: an autoregressive encoder sees only the left context")
		}
		s.enc = Contextual(net)
	case "embeddings":
		s.enc = Embeddings(net)
	default:
		return nil, fmt.Errorf("continuous: latents %q: want contextual or embeddings", kind)
	}
	if st.D != net.Cfg.Dim {
		return nil, fmt.Errorf("continuous: statistics of width %d for an encoder of width %d", st.D, net.Cfg.Dim)
	}
	return s, st.Validate()
}

// D is the latent width.
func (s *Space) D() int { return s.Net.Cfg.Dim }

// Encode writes the normalised latents of ids (B, L) into dst (B*L, D).
func (s *Space) Encode(dst []float32, ids []int32, B int) {
	copy(dst, s.enc(ids, B))
	s.Stats.Normalize(dst[:len(ids)*s.D()])
}

// Model is what sampling needs: the denoiser, the decoder, the latent space and the
// schedule the denoiser was trained under.
type Model struct {
	Denoiser, Decoder *model.Model
	Space             *Space
	Schedule          Schedule
}

// Attach writes into f (whose own network is a denoiser or a decoder) the latent space,
// the schedule and, when dec is not nil, the decoder; tensors are views, not copies.
func Attach(f *checkpoint.File, sp *Space, sched Schedule, dec *model.Model) error {
	if f.Notes == nil {
		f.Notes = map[string]string{}
	}
	if err := sp.Stats.Store(f); err != nil {
		return err
	}
	f.Notes["kind"] = Kind
	f.Notes[LatentsNote] = sp.Kind
	f.Notes[ScheduleNote] = sched.Name()
	nets := []struct {
		prefix, note string
		m            *model.Model
	}{{"encoder.", EncoderNote, sp.Net}, {"decoder.", DecoderNote, dec}}
	for _, n := range nets {
		if n.m == nil {
			continue
		}
		cfg, _ := json.Marshal(n.m.Cfg)
		f.Notes[n.note] = string(cfg)
		for _, s := range n.m.Cfg.Specs() {
			f.Tensors = append(f.Tensors, checkpoint.Tensor{Name: n.prefix + s.Name, Shape: s.Shape, DType: checkpoint.F32, F32: n.m.W.ByName[s.Name]})
		}
	}
	return nil
}

// SpaceFromFile reads the latent space and the schedule Attach wrote into f; a file that
// refers to its encoder's file needs it in enc (nil otherwise).
func SpaceFromFile(f, enc *checkpoint.File) (*Space, Schedule, error) {
	if f.Notes["kind"] != Kind {
		return nil, nil, fmt.Errorf("continuous: not a continuous model (kind %q)", f.Notes["kind"])
	}
	var net *model.Model
	var err error
	if ref, ok := f.Notes[EncoderFileNote]; ok {
		if enc == nil {
			return nil, nil, fmt.Errorf("%w %s", ErrNeedEncoder, ref)
		}
		if net, err = model.FromFileInference(enc); err != nil {
			return nil, nil, fmt.Errorf("continuous: encoder %s: %w", ref, err)
		}
		if cfg, _ := json.Marshal(net.Cfg); string(cfg) != f.Notes[EncoderNote] {
			return nil, nil, fmt.Errorf("continuous: the encoder file's config is not the one the model was trained on (%s)", ref)
		}
	} else if net, err = prefixed(f, "encoder.", EncoderNote); err != nil {
		return nil, nil, err
	}
	st, err := LoadStats(f)
	if err != nil {
		return nil, nil, err
	}
	sp, err := NewSpace(net, f.Notes[LatentsNote], st)
	if err != nil {
		return nil, nil, err
	}
	sched, err := ParseSchedule(f.Notes[ScheduleNote])
	return sp, sched, err
}

// Open reads a continuous model file for sampling (inference-only networks).
func Open(f *checkpoint.File) (*Model, error) { return OpenWith(f, nil) }

// OpenWith is Open for a file that refers to its encoder's file, given as enc (checked by
// Load against the reference's SHA-256; here against the config).
func OpenWith(f, enc *checkpoint.File) (*Model, error) {
	sp, sched, err := SpaceFromFile(f, enc)
	if err != nil {
		return nil, err
	}
	den, err := model.FromFileInference(f)
	if err != nil {
		return nil, fmt.Errorf("continuous: denoiser: %w", err)
	}
	if !den.Cfg.Denoiser || den.Cfg.Latent != sp.D() {
		return nil, fmt.Errorf("continuous: the file's network is not a denoiser of width %d", sp.D())
	}
	if _, ok := f.Notes[DecoderNote]; !ok {
		return nil, fmt.Errorf("continuous: the file has no decoder yet (train one with -objective decoder and pass it with -decoder)")
	}
	dec, err := prefixed(f, "decoder.", DecoderNote)
	if err != nil {
		return nil, err
	}
	if dec.Cfg.Latent != sp.D() || dec.Cfg.Denoiser {
		return nil, fmt.Errorf("continuous: the decoder does not read latents of width %d", sp.D())
	}
	return &Model{Denoiser: den, Decoder: dec, Space: sp, Schedule: sched}, nil
}

// Detach drops the encoder's tensors from f and refers instead to the encoder's own file,
// named name with contents raw, after checking that its weights are the ones f carries,
// bit for bit (a run trains on its encoder file's weights as read).
func Detach(f *checkpoint.File, name string, raw []byte) error {
	enc, err := checkpoint.Decode(raw)
	if err != nil {
		return fmt.Errorf("continuous: encoder %s: %w", name, err)
	}
	net, err := model.FromFileInference(enc)
	if err != nil {
		return fmt.Errorf("continuous: encoder %s: %w", name, err)
	}
	own, err := prefixed(f, "encoder.", EncoderNote)
	if err != nil {
		return err
	}
	if net.Cfg != own.Cfg || !slices.Equal(net.Params, own.Params) {
		return fmt.Errorf("continuous: %s is not the encoder this model was trained on (its weights differ)", name)
	}
	kept := f.Tensors[:0]
	for _, t := range f.Tensors {
		if !strings.HasPrefix(t.Name, "encoder.") {
			kept = append(kept, t)
		}
	}
	f.Tensors = kept
	f.Notes[EncoderFileNote] = fmt.Sprintf("%s sha256:%x", filepath.Base(name), sha256.Sum256(raw))
	return nil
}

// Load reads a continuous model file; a file that refers to its encoder's file finds it
// in the same folder and checks its SHA-256. Errors name the files.
func Load(path string) (*Model, *checkpoint.File, error) {
	f, err := checkpoint.Load(path)
	if err != nil {
		return nil, nil, err
	}
	var enc *checkpoint.File
	if ref, ok := f.Notes[EncoderFileNote]; ok && f.Notes["kind"] == Kind {
		if enc, err = LoadEncoder(filepath.Dir(path), ref); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	m, err := OpenWith(f, enc)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, f, nil
}

// LoadEncoder reads the encoder file a reference names ("name sha256:hex") from dir and
// checks its SHA-256.
func LoadEncoder(dir, ref string) (*checkpoint.File, error) {
	name, _, ok := strings.Cut(ref, " sha256:")
	if !ok || name != filepath.Base(name) {
		return nil, fmt.Errorf("continuous: encoder reference %q is not \"name sha256:hex\"", ref)
	}
	raw, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return nil, fmt.Errorf("continuous: the model's encoder, the masked model %s, should sit beside it: %v", name, err)
	}
	return CheckEncoder(ref, raw, filepath.Join(dir, name))
}

// CheckEncoder decodes raw, the bytes of the encoder file the reference ref names, after
// checking their SHA-256 against it; where names the bytes in errors.
func CheckEncoder(ref string, raw []byte, where string) (*checkpoint.File, error) {
	_, sum, ok := strings.Cut(ref, " sha256:")
	if !ok {
		return nil, fmt.Errorf("continuous: encoder reference %q is not \"name sha256:hex\"", ref)
	}
	if got := fmt.Sprintf("%x", sha256.Sum256(raw)); got != sum {
		return nil, fmt.Errorf("continuous: %s has SHA-256 %s, the model was made with %s", where, got, sum)
	}
	return checkpoint.Decode(raw)
}

// prefixed builds the network stored under prefix, its config in note.
func prefixed(f *checkpoint.File, prefix, note string) (*model.Model, error) {
	raw, ok := f.Notes[note]
	if !ok {
		return nil, fmt.Errorf("continuous: note %q missing", note)
	}
	g := &checkpoint.File{Config: json.RawMessage(raw)}
	for _, t := range f.Tensors {
		if name, ok := strings.CutPrefix(t.Name, prefix); ok {
			t.Name = name
			g.Tensors = append(g.Tensors, t)
		}
	}
	m, err := model.FromFileInference(g)
	if err != nil {
		return nil, fmt.Errorf("continuous: %s network: %w", strings.TrimSuffix(prefix, "."), err)
	}
	return m, nil
}

// ParseSchedule reads a schedule's Name: "tan-9", "tan-d" (d = 9), "cosine" or "sqrt".
func ParseSchedule(name string) (Schedule, error) {
	if d, ok := strings.CutPrefix(name, "tan-"); ok && d != "d" {
		v, err := strconv.ParseFloat(d, 64)
		if err != nil || math.IsNaN(v) {
			return nil, fmt.Errorf("continuous: schedule %q: bad d", name)
		}
		return ScheduleByName("tan-d", v)
	}
	return ScheduleByName(name, 9)
}
