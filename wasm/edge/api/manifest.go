package api

import (
	"encoding/json"
	"fmt"
	"path"
	"time"

	"github.com/austen-diffusion/textdiffusion/core/model"
)

// ManifestPath is where the worker's static assets hold the manifest (build/edge/pack
// writes it).
const ManifestPath = "/site/models.json"

// Manifest lists the models the worker serves; GET /api/models answers it as is.
type Manifest struct {
	Built   time.Time `json:"built"`   // when the assets were packed: /api/models' Last-Modified
	Default string    `json:"default"` // the Name used when a request names none
	Models  []Model   `json:"models"`
}

// Model is one release file among the static assets.
type Model struct {
	Name     string       `json:"name"`     // e.g. austen-mdm.q8_0
	Paradigm string       `json:"paradigm"` // "masked-diffusion" or "autoregressive"
	File     string       `json:"file"`     // its asset path, content-hashed: /site/austen-mdm.q8_0.<16 hex>.ckpt
	Bytes    int64        `json:"bytes"`
	SHA256   string       `json:"sha256"` // of the whole file
	DType    string       `json:"dtype"`  // of most of its matrix bytes
	Params   int          `json:"params"`
	Config   model.Config `json:"config"`
}

// Paradigm names a config's sampler.
func Paradigm(c model.Config) string {
	if c.Causal {
		return "autoregressive"
	}
	return "masked-diffusion"
}

// ParseManifest reads and checks a manifest: a default that exists, unique names, files
// under /site/.
func ParseManifest(b []byte) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	seen := map[string]bool{}
	for _, md := range m.Models {
		if seen[md.Name] {
			return nil, fmt.Errorf("manifest: model %q listed twice", md.Name)
		}
		seen[md.Name] = true
		if path.Dir(md.File) != "/site" {
			return nil, fmt.Errorf("manifest: model %q: file %q is not under /site/", md.Name, md.File)
		}
		if err := md.Config.Validate(); err != nil {
			return nil, fmt.Errorf("manifest: model %q: %w", md.Name, err)
		}
	}
	if !seen[m.Default] {
		return nil, fmt.Errorf("manifest: default model %q is not listed", m.Default)
	}
	return &m, nil
}

// Find returns the named model, or the default one for "".
func (m *Manifest) Find(name string) (Model, bool) {
	if name == "" {
		name = m.Default
	}
	for _, md := range m.Models {
		if md.Name == name {
			return md, true
		}
	}
	return Model{}, false
}
