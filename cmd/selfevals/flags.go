package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
)

// formatValue is a --format flag: one of a command's formats, with
// "markdown" read as "md". Any other value is refused as the flags are
// parsed, so it is a usage error (exit 2) before the command does
// anything.
type formatValue struct {
	v       *string
	allowed []string
}

func (f *formatValue) Set(s string) error {
	if s == "markdown" {
		s = "md"
	}
	if !slices.Contains(f.allowed, s) {
		return fmt.Errorf("must be %s", formatList(f.allowed))
	}
	*f.v = s
	return nil
}

func (f *formatValue) String() string { return *f.v }
func (f *formatValue) Type() string   { return "string" }

// formatVar defines --format on fs, its default the first of allowed.
func formatVar(fs *pflag.FlagSet, p *string, usage string, allowed ...string) {
	*p = allowed[0]
	fs.Var(&formatValue{v: p, allowed: allowed}, "format", usage)
}

// formatList reads "md (or markdown), json or html".
func formatList(allowed []string) string {
	names := slices.Clone(allowed)
	for i, n := range names {
		if n == "md" {
			names[i] = "md (or markdown)"
		}
	}
	if len(names) == 1 {
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// countValue is a count flag such as --reps: a whole number of at least 1
// when given. Its absence leaves 0, which the command reads as "the
// spec's (or the built-in) default", so an explicit 0 cannot mean that
// silently: it is refused as the flags are parsed.
type countValue struct{ v *int }

func (c *countValue) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("must be a whole number")
	}
	if n < 1 {
		return fmt.Errorf("must be at least 1 (leave the flag out for the default)")
	}
	*c.v = n
	return nil
}

func (c *countValue) String() string { return strconv.Itoa(*c.v) }
func (c *countValue) Type() string   { return "int" }

// countVar defines a count flag on fs; 0 means it was not given.
func countVar(fs *pflag.FlagSet, p *int, name, usage string) {
	fs.Var(&countValue{v: p}, name, usage)
}
