// Package lazy builds package-level values on first use rather than at
// program start: every command pays for the package inits of everything
// the binary links, so a regexp or template that only one command needs
// is compiled by that command, not by `selfevals --version`.
package lazy

import (
	"regexp"
	"sync"
)

// Regexp returns a function that compiles expr on its first call and then
// returns the same *regexp.Regexp. expr must compile (as with
// regexp.MustCompile, a bad one panics, on first use).
func Regexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}
