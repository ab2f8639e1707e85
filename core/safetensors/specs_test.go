package safetensors

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/austen-diffusion/textdiffusion/core/model"
)

// TestSpecsMatchModel: the local tensor list and config parsing agree with
// core/model, so an export never silently drops or misnames a tensor.
func TestSpecsMatchModel(t *testing.T) {
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
	want := mc.Specs()
	got := c.specs()
	if len(got) != len(want) {
		t.Fatalf("%d specs, model has %d", len(got), len(want))
	}
	for i := range want {
		if got[i].name != want[i].Name || !slices.Equal(got[i].shape, want[i].Shape) {
			t.Errorf("spec %d: %s %v, model has %s %v", i, got[i].name, got[i].shape, want[i].Name, want[i].Shape)
		}
	}
}
