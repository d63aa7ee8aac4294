package faults

import "testing"

func TestParseAndAt(t *testing.T) {
	if in, err := Parse(""); err != nil || in != nil {
		t.Fatalf("empty: %v %v", in, err)
	}
	for _, bad := range []string{"x=0.1", "deliver.after-post", "deliver.after-post=2", "batch.middle=x"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
	in, err := Parse("deliver.after-post=1, batch.middle=0")
	if err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() {
			if v := recover(); !IsCrash(v) || v.(Crash).Point != AfterPost {
				t.Errorf("recovered %v", v)
			}
		}()
		in.At(AfterPost)
		t.Error("no crash at a point with probability 1")
	}()
	in.At(MidBatch) // probability 0: goes on
	in.At(AfterFanoutWrite)
	var none *Injector
	none.At(AfterPost)
	if in.Crashes() != 1 || none.Crashes() != 0 {
		t.Errorf("crashes %d", in.Crashes())
	}
}
