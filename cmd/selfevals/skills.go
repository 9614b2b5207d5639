package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/selfevals/selfevals/evals"
	"github.com/selfevals/selfevals/repo"
)

func newSkillsCmd(io *IOStreams, g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "skills",
		Short: "Agent skills shipped in the binary: list, show, path",
		Long: `skills exposes the instructions selfevals ships for coding agents (and
people): the error-analysis method that analyze pull/push expect, and a
guide to running an experiment. Each skill is a directory with a SKILL.md
(front matter: name, description).

  list          names and one-line descriptions
  show <name>   print SKILL.md
  path <name>   write the skill's files to the user cache directory and print
                the directory, for agents that read skills as files`,
		Example: `  selfevals skills list
  selfevals skills show error-analysis
  cat "$(selfevals skills path error-analysis)/SKILL.md"`,
	}
	cmd.AddCommand(
		&cobra.Command{
			Use:     "list",
			Short:   "List the bundled skills",
			Long:    `list prints each bundled skill's name and description, sorted by name.`,
			Example: `  selfevals skills list`,
			Args:    cobra.NoArgs,
			RunE: func(cmd *cobra.Command, args []string) error {
				names, err := skillNames()
				if err != nil {
					return err
				}
				width := 0
				for _, n := range names {
					width = max(width, len(n))
				}
				for _, n := range names {
					data, _ := fs.ReadFile(evals.Skills, path.Join("skills", n, "SKILL.md"))
					fmt.Fprintf(io.Out, "%-*s  %s\n", width, n, skillDescription(data))
				}
				if len(names) == 0 {
					fmt.Fprintln(io.Out, "(no bundled skills)")
				}
				return nil
			},
		},
		&cobra.Command{
			Use:     "show <name>",
			Short:   "Print a skill's SKILL.md",
			Long:    `show prints the skill's SKILL.md to stdout.`,
			Example: `  selfevals skills show error-analysis`,
			Args:    cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				if err := checkSkill(args[0]); err != nil {
					return err
				}
				data, err := fs.ReadFile(evals.Skills, path.Join("skills", args[0], "SKILL.md"))
				if err != nil {
					return err
				}
				_, err = io.Out.Write(data)
				return err
			},
		},
		&cobra.Command{
			Use:   "path <name>",
			Short: "Write a skill's files to the cache directory and print it",
			Long: `path writes the skill's files under the user cache directory
(<cache>/selfevals/skills/<version>/<name>; XDG_CACHE_HOME is honoured) when
they are missing or differ, and prints the directory.`,
			Example: `  selfevals skills path error-analysis`,
			Args:    cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				if err := checkSkill(args[0]); err != nil {
					return err
				}
				dir, err := writeSkill(g.env, args[0])
				if err != nil {
					return err
				}
				fmt.Fprintln(io.Out, dir)
				return nil
			},
		},
	)
	return cmd
}

func skillNames() ([]string, error) {
	entries, err := fs.ReadDir(evals.Skills, "skills")
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if _, err := fs.Stat(evals.Skills, path.Join("skills", e.Name(), "SKILL.md")); e.IsDir() && err == nil {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

func checkSkill(name string) error {
	names, err := skillNames()
	if err != nil {
		return err
	}
	for _, n := range names {
		if n == name {
			return nil
		}
	}
	ue := &repo.UserError{Msg: fmt.Sprintf("no bundled skill named %q; available: %s", name, strings.Join(names, ", "))}
	if s := repo.Suggest(name, names); s != "" {
		ue.Hint = fmt.Sprintf("did you mean %q?", s)
	}
	return ue
}

// skillDescription is the description: line of SKILL.md's front matter.
func skillDescription(data []byte) string {
	text := string(data)
	if !strings.HasPrefix(text, "---\n") {
		return ""
	}
	front, _, _ := strings.Cut(text[4:], "\n---")
	for _, line := range strings.Split(front, "\n") {
		if v, ok := strings.CutPrefix(line, "description:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// writeSkill copies a skill to the cache directory. A development build has
// no version, so its directory is named by the skills' content instead.
func writeSkill(env *Env, name string) (string, error) {
	cache, err := env.userCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory to write the skill to: %w", err)
	}
	version := toolVersion()
	if version == "dev" {
		h := sha256.New()
		fs.WalkDir(evals.Skills, "skills", func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				data, _ := fs.ReadFile(evals.Skills, p)
				h.Write([]byte(p + "\x00"))
				h.Write(data)
			}
			return nil
		})
		version = "dev-" + hex.EncodeToString(h.Sum(nil))[:12]
	}
	dir := filepath.Join(cache, "selfevals", "skills", version, name)
	root := path.Join("skills", name)
	err = fs.WalkDir(evals.Skills, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(evals.Skills, p)
		if err != nil {
			return err
		}
		dest := filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(p, root+"/")))
		if old, err := os.ReadFile(dest); err == nil && bytes.Equal(old, data) {
			return nil
		}
		return repo.WriteFileAtomic(dest, data, 0o644)
	})
	if err != nil {
		return "", err
	}
	return dir, nil
}
