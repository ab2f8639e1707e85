package corpus

import "testing"

func TestSplit(t *testing.T) {
	tr, err := Train()
	if err != nil {
		t.Fatal(err)
	}
	if len(tr) != 5 {
		t.Fatalf("train books = %d, want 5", len(tr))
	}
	for _, b := range tr {
		if b.Name == ValidationBook {
			t.Fatal("validation book in training split")
		}
	}
	v, err := Validation()
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Text) != 466854 {
		t.Fatalf("persuasion has %d bytes, want 466854", len(v.Text))
	}
}
