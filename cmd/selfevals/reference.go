package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

//go:generate go run . commands-reference --out ../../docs/commands.md

// newReferenceCmd is the hidden command that writes docs/commands.md from
// every command's --help, so the reference cannot drift from the binary (a
// test compares the two).
func newReferenceCmd(io *IOStreams) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:    "commands-reference",
		Short:  "Write the command reference (docs/commands.md) from every command's help",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ref := commandReference()
			if out == "" {
				_, err := io.Out.Write(ref)
				return err
			}
			return os.WriteFile(out, ref, 0o644)
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "the file to write (default: stdout)")
	return cmd
}

// commandReference is the markdown reference of every visible command: a
// table of contents, then each command's help text. The commands are built
// in an empty environment, so no default that comes from it ($USER, say)
// differs between machines.
func commandReference() []byte {
	var discard bytes.Buffer
	root := newRootCmd(&IOStreams{In: &discard, Out: &discard, ErrOut: &discard}, &Env{Vars: map[string]string{}})
	root.InitDefaultCompletionCmd()
	cmds := visibleCommands(root)
	machineFree(cmds)
	var b bytes.Buffer
	b.WriteString("# Command reference\n\n")
	b.WriteString("<!-- Generated from the commands' --help by `go generate ./cmd/selfevals`; do not edit. -->\n\n")
	for _, c := range cmds {
		fmt.Fprintf(&b, "- [`%s`](#%s) — %s\n", c.CommandPath(), anchor(c.CommandPath()), c.Short)
	}
	for _, c := range cmds {
		fmt.Fprintf(&b, "\n## %s\n\n%s.\n\n```text\n", c.CommandPath(), strings.TrimSuffix(c.Short, "."))
		var help bytes.Buffer
		c.SetOut(&help)
		_ = c.Help()
		b.WriteString(strings.TrimRight(help.String(), "\n"))
		b.WriteString("\n```\n")
	}
	return b.Bytes()
}

// visibleCommands is root and its commands, depth first, without hidden
// ones and help.
func visibleCommands(c *cobra.Command) []*cobra.Command {
	out := []*cobra.Command{c}
	for _, sub := range c.Commands() {
		if sub.Hidden || sub.Name() == "help" {
			continue
		}
		out = append(out, visibleCommands(sub)...)
	}
	return out
}

// anchor is the id GitHub gives a heading.
func anchor(heading string) string {
	return strings.ReplaceAll(strings.ToLower(heading), " ", "-")
}

// machineFree replaces flag defaults that come from the machine (the login
// that --by defaults to) with a placeholder.
func machineFree(cmds []*cobra.Command) {
	login := defaultBy(&Env{Vars: map[string]string{}})
	for _, c := range cmds {
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if f.DefValue == login {
				f.DefValue = "human:<your login>"
			}
		})
	}
}
