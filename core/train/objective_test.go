package train

import (
	"strings"
	"testing"
)

// The registry knows the two objectives, each consistent with the config it validates.
func TestObjectives(t *testing.T) {
	for name, causal := range map[string]bool{"mdm": false, "ar": true} {
		o, err := ObjectiveByName(name)
		if err != nil || o.Name() != name || o.Causal() != causal || o.Bound() == causal {
			t.Fatalf("%s: %v, %v", name, o, err)
		}
		c := Default()
		c.Objective, c.Model.Causal = name, causal
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		c.Model.Causal = !causal
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s with causal %v: error %v", name, !causal, err)
		}
	}
	if _, err := ObjectiveByName("sideways"); err == nil || !strings.Contains(err.Error(), "ar, continuous, decoder or mdm") {
		t.Errorf("unknown objective: error %v", err)
	}
	if w := (nextToken{}).Window(128); w != 129 {
		t.Errorf("ar window %d, want 129 (input and shifted targets)", w)
	}
}
