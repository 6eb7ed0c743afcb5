// Command docgen writes deskctl's man pages and markdown command reference
// from the command tree, so the docs never drift from the flags. `make docs`
// runs it.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra/doc"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/deskctl/deskctl/internal/cli"
)

func main() {
	out := flag.String("out", "docs", "directory that receives man/ and reference/")
	flag.Parse()
	if err := generate(*out); err != nil {
		fmt.Fprintf(os.Stderr, "docgen: %v\n", err)
		os.Exit(1)
	}
}

func generate(out string) error {
	// Defaults derived from the home directory (kubectl's cache directory)
	// read as ~ in the pages, not as the home of whoever generated them.
	if home, ok := os.LookupEnv("HOME"); ok {
		defer os.Setenv("HOME", home)
	}
	if err := os.Setenv("HOME", "~"); err != nil {
		return err
	}

	var discard bytes.Buffer
	root := cli.NewRootCommand(genericiooptions.IOStreams{In: &discard, Out: &discard, ErrOut: &discard})
	root.DisableAutoGenTag = true

	manDir := filepath.Join(out, "man")
	refDir := filepath.Join(out, "reference")

	// Start from empty directories so removed commands lose their pages.
	for _, dir := range []string{manDir, refDir} {
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}

	header := &doc.GenManHeader{
		Title:   "DESKCTL",
		Section: "1",
		Source:  "deskctl",
		Manual:  "deskctl manual",
		Date:    buildDate(),
	}
	if err := doc.GenManTree(root, header, manDir); err != nil {
		return fmt.Errorf("man pages: %w", err)
	}
	if err := doc.GenMarkdownTree(root, refDir); err != nil {
		return fmt.Errorf("markdown reference: %w", err)
	}
	return nil
}

// buildDate is SOURCE_DATE_EPOCH when set, so that release builds are
// reproducible, else now. Man pages show only month and year.
func buildDate() *time.Time {
	now := time.Now().UTC()
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		if sec, err := strconv.ParseInt(s, 10, 64); err == nil {
			now = time.Unix(sec, 0).UTC()
		}
	}
	return &now
}
