package cli

import (
	"errors"
	"fmt"
)

// Exit codes, documented in docs/exit-codes.md.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
	ExitLocked  = 3
)

// UsageError is bad input: a wrong argument, flag or configuration value.
// Nothing has been changed when one is returned.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// usageErrorf builds a UsageError from a format.
func usageErrorf(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// codedError is implemented by errors from the layers below the CLI that
// carry their own exit code (a held lock, a validation failure).
type codedError interface {
	error
	ExitCode() int
}

// exitCode maps an error to the process exit code. It is the only place that
// makes that decision.
func exitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var usage *UsageError
	if errors.As(err, &usage) {
		return ExitUsage
	}
	var coded codedError
	if errors.As(err, &coded) {
		return coded.ExitCode()
	}
	return ExitFailure
}
