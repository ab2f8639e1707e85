package safetensors

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/austen-diffusion/textdiffusion/core/model"
)

// TestConfigMatchesModel: the local config parsing agrees with core/model, whose Specs
// (the one tensor schema) the export walks, so it never drops or misshapes a tensor.
func TestConfigMatchesModel(t *testing.T) {
	mc := model.Demo()
	js, _ := json.Marshal(mc)
	var c modelConfig
	if err := json.Unmarshal(js, &c); err != nil {
		t.Fatal(err)
	}
	if c.Vocab != mc.Vocab || c.Dim != mc.Dim || c.Layers != mc.Layers || c.Heads != mc.Heads || c.Hidden != mc.Hidden ||
		c.SeqLen != mc.SeqLen || c.Causal != mc.Causal || c.RopeTheta != mc.RopeTheta || float32(c.NormEps) != mc.NormEps {
		t.Fatalf("parsed %+v from %s", c, js)
	}
	want, got := mc.Specs(), c.specs()
	if !slices.EqualFunc(got, want, func(a, b model.Spec) bool { return a.Name == b.Name && slices.Equal(a.Shape, b.Shape) }) {
		t.Fatalf("the specs of the parsed config differ from the model's")
	}
}
