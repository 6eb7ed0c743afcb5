// Package output prints deskctl's results: tables for people, JSON and
// YAML for scripts, and progress on stderr only on a smart terminal.
package output

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
	"golang.org/x/term"
)

// IsTerminal reports whether a stream (stdin, stdout or stderr) is a
// terminal.
func IsTerminal(stream any) bool {
	f, ok := stream.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// IsSmartTerminal reports whether w is a terminal that can take carriage
// returns and colour: a TTY, TERM not dumb, NO_COLOR unset.
func IsSmartTerminal(w io.Writer) bool {
	return IsTerminal(w) && os.Getenv("TERM") != "dumb" && os.Getenv("NO_COLOR") == ""
}

// Table writes rows under a header, aligned, without borders, in the
// style of kubectl get.
func Table(w io.Writer, header []string, rows [][]string, noHeaders bool) error {
	var buf bytes.Buffer
	t := tablewriter.NewTable(&buf,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{
			Borders: tw.BorderNone,
			Settings: tw.Settings{
				Separators: tw.Separators{BetweenColumns: tw.Off, BetweenRows: tw.Off},
				Lines:      tw.Lines{ShowHeaderLine: tw.Off},
			},
			Symbols: tw.NewSymbols(tw.StyleNone),
		})),
		tablewriter.WithConfig(tablewriter.Config{
			Header: tw.CellConfig{
				Formatting: tw.CellFormatting{AutoFormat: tw.Off},
				Alignment:  tw.CellAlignment{Global: tw.AlignLeft},
				Padding:    tw.CellPadding{Global: tw.Padding{Left: "", Right: "   "}},
			},
			Row: tw.CellConfig{
				Formatting: tw.CellFormatting{AutoWrap: tw.WrapNone},
				Alignment:  tw.CellAlignment{Global: tw.AlignLeft},
				Padding:    tw.CellPadding{Global: tw.Padding{Left: "", Right: "   "}},
			},
		}),
	)
	if !noHeaders {
		t.Header(header)
	}
	if err := t.Bulk(rows); err != nil {
		return err
	}
	if err := t.Render(); err != nil {
		return err
	}

	// Column padding leaves spaces at the ends of lines; drop them.
	var out bytes.Buffer
	for _, line := range strings.SplitAfter(buf.String(), "\n") {
		trimmed := strings.TrimRight(line, " \n")
		if trimmed == "" && line == "" {
			continue
		}
		out.WriteString(trimmed)
		if strings.HasSuffix(line, "\n") {
			out.WriteString("\n")
		}
	}
	_, err := w.Write(out.Bytes())
	return err
}

// Progress shows a one-line counter on a smart terminal and nothing
// elsewhere. It is safe for concurrent use.
type Progress struct {
	mu    sync.Mutex
	w     io.Writer
	on    bool
	label string
	shown bool
}

// NewProgress returns a progress line on w, shown only if w is a smart
// terminal.
func NewProgress(w io.Writer, label string) *Progress {
	return &Progress{w: w, on: IsSmartTerminal(w), label: label}
}

// Set shows done of total.
func (p *Progress) Set(done, total int) {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "\r\x1b[K%s %d/%d", p.label, done, total)
	p.shown = true
}

// Done clears the line.
func (p *Progress) Done() {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}
