package transform

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	xtransform "golang.org/x/text/transform"
)

// TestLineEndsTransformer reads inputs through lineEnds a byte at a time and whole: bare CRs
// become LFs (a CR at the end of one read waits for the next byte), nothing else changes, and the
// lines are counted as CR, LF and CRLF end them.
func TestLineEndsTransformer(t *testing.T) {
	cases := []struct {
		in, want        string
		lines, lastText int
	}{
		{"", "", 0, 0},
		{"a", "a", 1, 1},
		{"a\r", "a\n", 1, 1},
		{"a\rb\rc", "a\nb\nc", 3, 3},
		{"a\r\nb\r\n", "a\r\nb\r\n", 2, 2},
		{"a\nb\n\n", "a\nb\n\n", 3, 2},
		{"a\r\r\nb\n\rc\r\r", "a\n\r\nb\n\nc\n\n", 6, 5},
		{"\r\r\r", "\n\n\n", 3, 0},
		{"\"x\ry\"\r\n", "\"x\ny\"\r\n", 2, 2},
	}
	for _, tc := range cases {
		for name, wrap := range map[string]func(io.Reader) io.Reader{
			"whole": func(r io.Reader) io.Reader { return r }, "one byte": iotest.OneByteReader,
		} {
			le := new(lineEnds)
			got, err := io.ReadAll(wrap(xtransform.NewReader(wrap(strings.NewReader(tc.in)), le)))
			if err != nil || string(got) != tc.want || le.lines() != tc.lines || le.lastText != tc.lastText {
				t.Errorf("%s %q: got %q %v, %d lines, last text on %d; want %q, %d, %d",
					name, tc.in, got, err, le.lines(), le.lastText, tc.want, tc.lines, tc.lastText)
			}
		}
	}
}

// TestUnaccountedLines: a reader that missed line ends (as encoding/csv alone misses bare CRs)
// leaves text after what it read as rows; the file is then rejected whole, never delivered.
func TestUnaccountedLines(t *testing.T) {
	// The CSV reader saw the header on line 1 and nothing after it; the input has text up to
	// line 4.
	p := &pipeline{st: &Stats{Reasons: map[string]int{}}, headerEnd: 1, x: newExplainer(Layout{}, nil)}
	err := p.finish(1, &lineEnds{ends: 4, lastText: 4})
	var fe *FileError
	if !errors.As(err, &fe) || fe.Reason != ReasonUnaccounted || fe.Line != 2 || !errors.Is(err, ErrRejected) {
		t.Fatalf("err = %v, want unaccounted_lines at line 2", err)
	}
	if p.st.Ignored != nil {
		t.Errorf("ignored columns %q of a rejected file", p.st.Ignored)
	}
}

// TestCheckPrintsNoCells runs Check on files whose header line is not what it seems (one bare-CR
// line end missed, no header at all) and on the line-end test files: whatever happens, no cell of
// a data row is printed, only header names.
func TestCheckPrintsNoCells(t *testing.T) {
	cells := []string{"Jan Jansen", "Dorpsstraat", "Utrecht", "Els de Vries", "Kerkweg", "Groningen",
		"Piet Bakker", "Laan 5", "Zwolle", "1.234,56", "99,95", "10,00", "belt terug"}
	for _, file := range []string{"lineends_cr.csv", "lineends_cr_noeol.csv", "lineends_mixed.csv", "lineends_lf.csv"} {
		in := readTestdata(t, file)
		var report bytes.Buffer
		st, err := Check(context.Background(), bytes.NewReader(in), acme, &report)
		if err != nil || st.Rows != 3 || !strings.Contains(report.String(), "ignored columns: Opmerking\n") {
			t.Errorf("%s: %+v %v\n%s", file, st, err, report.String())
		}
		for _, c := range cells {
			if strings.Contains(report.String(), c) {
				t.Errorf("%s: check printed a cell %q:\n%s", file, c, report.String())
			}
		}
	}
	// Without a header line, its first row is read as one.
	in := "V-1;K-1;Jan Jansen;Dorpsstraat;Utrecht;1.234,56;belt terug\rV-2;K-2;Els de Vries;Kerkweg;Groningen;99,95;\r"
	var report bytes.Buffer
	if _, err := Check(context.Background(), strings.NewReader(in), acme, &report); !errors.Is(err, ErrRejected) {
		t.Fatalf("no header: err = %v", err)
	}
	for _, c := range cells {
		if strings.Contains(report.String(), c) {
			t.Errorf("no header: check printed a cell %q:\n%s", c, report.String())
		}
	}
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
