package engine

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/austen-diffusion/textdiffusion/core/infill"
	"github.com/austen-diffusion/textdiffusion/core/sample"
)

// TestRequestDefaults checks that a request the page leaves empty samples with the
// command line's settings (sample.Defaults), and that the page's menus come from core/sample.
func TestRequestDefaults(t *testing.T) {
	r, err := ParseRequest([]byte(`{"prompt": "It is", "strategy": "random"}`))
	if err != nil {
		t.Fatal(err)
	}
	d := sample.Defaults()
	if r.Prompt != "It is" || r.Strategy != sample.StrategyRandom || r.Temperature != d.Temperature || r.TopP != d.TopP ||
		r.Grid != d.Grid || r.Confidence != d.Confidence || r.Length < 1 || r.Mode != "continue" {
		t.Errorf("parsed %+v, want the defaults under the given fields", r)
	}
	if o := r.options(); o.BlockLength != 0 || o.TopP != d.TopP {
		t.Errorf("random: block %d top-p %v, want one block and top-p %v", o.BlockLength, o.TopP, d.TopP)
	}
	def := DefaultRequest().options()
	if def.Strategy != d.Strategy || def.BlockLength != d.BlockLength || def.Temperature != d.Temperature || def.TopP != d.TopP {
		t.Errorf("default options %+v, want sample.Defaults %+v", def, d)
	}
	if r, err := ParseRequest([]byte(`{"mode": "infill"}`)); err != nil || r.Length != infill.DefaultTokens {
		t.Errorf("infill without a length: %d tokens per blank (%v), want %d", r.Length, err, infill.DefaultTokens)
	}
	if r, err := ParseRequest([]byte(`{"mode": "infill", "length": 3}`)); err != nil || r.Length != 3 {
		t.Errorf("infill with length 3: %d (%v)", r.Length, err)
	}
	if r, err := ParseRequest([]byte(`{"temperature": 0}`)); err != nil || r.Temperature != 0 {
		t.Errorf("temperature 0 given: %v %v, want greedy kept", r.Temperature, err)
	}
	for _, bad := range []string{`{"top_p": 0.5}`, `{"length": "x"}`, `[1]`} {
		if _, err := ParseRequest([]byte(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	var c Choices
	if err := json.Unmarshal([]byte(ChoicesJSON()), &c); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Strategies, sample.Strategies) || !slices.Equal(c.Grids, sample.Grids) || !slices.Equal(c.Confidences, sample.Confidences) ||
		c.Defaults != DefaultRequest() || c.Blank != infill.Spellings || c.BlankLength != infill.DefaultTokens {
		t.Errorf("choices %+v", c)
	}
}
