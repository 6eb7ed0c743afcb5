package output

import (
	"bytes"
	"strings"
	"testing"
)

func TestTableAlignsWithoutTrailingSpace(t *testing.T) {
	var b bytes.Buffer
	rows := [][]string{{"pod1", "Ready"}, {"pod22", "Pending"}}
	if err := Table(&b, []string{"NAME", "STATUS"}, rows, false); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") {
		t.Fatalf("table:\n%s", b.String())
	}
	for _, l := range lines {
		if strings.HasSuffix(l, " ") {
			t.Errorf("trailing space in %q", l)
		}
	}
	if strings.Index(lines[1], "Ready") != strings.Index(lines[0], "STATUS") {
		t.Errorf("columns not aligned:\n%s", b.String())
	}

	b.Reset()
	if err := Table(&b, []string{"NAME", "STATUS"}, rows, true); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "NAME") || strings.Count(b.String(), "\n") != 2 {
		t.Errorf("--no-headers table:\n%q", b.String())
	}
}

func TestProgressIsSilentOffATerminal(t *testing.T) {
	var b bytes.Buffer
	p := NewProgress(&b, "applying")
	p.Set(1, 2)
	p.Done()
	if b.Len() != 0 {
		t.Errorf("progress wrote %q to a buffer", b.String())
	}
}
