package main

import (
	"io"
	"os"
)

// IOStreams are the command's standard streams. Whether stderr is a
// terminal (live progress, colour) is decided once, here.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	// ErrTTY is true when stderr is an interactive terminal.
	ErrTTY bool
	// Color is true when colour may be used (a terminal and no NO_COLOR).
	Color bool
}

// SystemStreams are the process's own streams; NO_COLOR and TERM come
// from env.
func SystemStreams(env *Env) *IOStreams {
	tty := isTerminal(os.Stderr) && env.Getenv("TERM") != "dumb"
	_, noColor := env.LookupEnv("NO_COLOR")
	return &IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr, ErrTTY: tty, Color: tty && !noColor}
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	if err != nil {
		return false
	}
	return st.Mode()&os.ModeCharDevice != 0
}
