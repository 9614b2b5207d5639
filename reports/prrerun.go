package reports

import (
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/selfevals/selfevals/internal/lazy"
	"github.com/selfevals/selfevals/repo"
)

// maxRerunLine is the longest rerun command shown; a case whose request
// is longer gets the experiment's run command instead.
const maxRerunLine = 1200

// addReruns gives each regressed case a command line, run from the
// repository root, that sends the agent the request the run sent it: a
// command agent gets it on standard input, an HTTP agent as the POST body.
// Other agents (built-in, OpenAI-compatible) get the command that reruns
// the experiment.
func addReruns(run *matchedRun, cases map[string]*CaseEvidence) {
	ls := loadRunSpec(run)
	if ls == nil {
		return
	}
	var params repo.Parameters
	if its, err := run.run.Iterations(); err == nil && len(its) > 0 && its[0].Index == 0 {
		params = its[0].Params
	}
	whole, wholeNote := experimentRerun(ls)
	_ = ls.Dataset.Each(func(c *repo.Case) error {
		ce, ok := cases[c.ID]
		if !ok {
			return nil
		}
		ce.Rerun, ce.RerunNote = whole, wholeNote
		req := &repo.Request{CaseID: c.ID, Input: c.Input, Context: c.Context, Parameters: params,
			Metadata: repo.RequestMetadata{Experiment: ls.Slug, Repetition: ce.rep, RunID: run.man.RunID, Taxonomy: c.Taxonomy}}
		if c.ThreadID != "" {
			req.Metadata.ThreadID = &c.ThreadID
		}
		body, err := req.AppendJSON(nil)
		if err != nil {
			return nil
		}
		if line, note := agentRerun(ls, strings.TrimSpace(string(body))); line != "" && len(line) <= maxRerunLine {
			ce.Rerun, ce.RerunNote = line, note
		}
		return nil
	})
}

// loadRunSpec loads the spec the run ran: its path as run.json has it
// (relative to where the run started), else the experiment's spec.
func loadRunSpec(run *matchedRun) *repo.LoadedSpec {
	evals := filepath.Dir(filepath.Dir(filepath.Dir(run.run.Path()))) // runs/<slug>/<run>
	settings, _ := repo.LoadSettings(evals)
	root, err := filepath.Abs(filepath.Dir(evals))
	if err != nil {
		return nil
	}
	paths := append([]string{run.man.Spec}, repo.Dir(evals).SpecCandidates(run.man.Experiment)...)
	for _, p := range paths {
		if _, err := os.Stat(p); p == "" || err != nil {
			continue
		}
		ls, err := repo.LoadExperiment(p, repo.LoadOptions{Root: root, Settings: settings})
		if err == nil && ls.Dataset != nil {
			return ls
		}
	}
	return nil
}

func experimentRerun(ls *repo.LoadedSpec) (string, string) {
	spec := ls.Path
	if abs, err := filepath.Abs(ls.Path); err == nil {
		if rel, err := filepath.Rel(ls.Root, abs); err == nil {
			spec = rel
		}
	}
	return "selfevals run " + shellQuote(filepath.ToSlash(spec)) + " --max-iterations 1 --no-commit",
		"this agent has no command line of its own, so this reruns the whole experiment"
}

// agentRerun is the command that sends body to the agent, or "".
func agentRerun(ls *repo.LoadedSpec, body string) (string, string) {
	a := ls.Spec.Agent
	switch {
	case len(a.Command) > 0:
		return commandRerun(a, body), "the agent gets the same request on standard input and prints its answer; no grader runs"
	case a.HTTP != nil:
		var b strings.Builder
		b.WriteString("curl -sS -X POST -H 'Content-Type: application/json'")
		for _, k := range sortedKeys(a.HTTP.Headers) {
			b.WriteString(" -H " + shellTemplate(k+": "+a.HTTP.Headers[k]))
		}
		b.WriteString(" --data-binary " + shellQuote(body) + " " + shellTemplate(a.HTTP.URL))
		return b.String(), "the agent gets the same request as the POST body and answers it; no grader runs"
	}
	return "", ""
}

// commandRerun pipes body into the agent command, in its working
// directory, with its env (${NAME} left for the shell to expand).
func commandRerun(a repo.Agent, body string) string {
	var words []string
	for _, k := range sortedKeys(a.Env) {
		words = append(words, k+"="+shellTemplate(a.Env[k]))
	}
	for i, arg := range a.Command {
		if i == 0 && a.Workdir != "" && strings.ContainsRune(arg, '/') && !filepath.IsAbs(arg) {
			// The program's path is relative to the repository root, the
			// shell's to the working directory.
			if rel, err := filepath.Rel(a.Workdir, arg); err == nil {
				arg = rel
			}
		}
		if i == 0 && strings.ContainsRune(arg, '/') && !filepath.IsAbs(arg) && !strings.HasPrefix(arg, ".") {
			arg = "./" + arg
		}
		words = append(words, shellTemplate(arg))
	}
	cmd := strings.Join(words, " ")
	if a.Workdir != "" {
		cmd = "(cd " + shellQuote(a.Workdir) + " && " + cmd + ")"
	}
	return "printf '%s\\n' " + shellQuote(body) + " | " + cmd
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// shellSafe are words the shell reads as they are.
var shellSafe = lazy.Regexp(`^[A-Za-z0-9_./:=@%+,-]+$`)

// shellQuote is s as one shell word, taken literally.
func shellQuote(s string) string {
	if shellSafe().MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

var envTemplate = lazy.Regexp(`\$\{[A-Za-z_][A-Za-z0-9_]*\}`)

// shellTemplate is s as one shell word in which each ${NAME} of the spec
// is expanded by the shell from its environment, as selfevals expands it
// from its own, and nothing else is: no value, secret or not, is written
// into the comment.
func shellTemplate(s string) string {
	if !envTemplate().MatchString(s) {
		return shellQuote(s)
	}
	var b strings.Builder
	b.WriteByte('"')
	last := 0
	for _, m := range envTemplate().FindAllStringIndex(s, -1) {
		b.WriteString(doubleQuoteEscaper.Replace(s[last:m[0]]))
		b.WriteString(s[m[0]:m[1]])
		last = m[1]
	}
	b.WriteString(doubleQuoteEscaper.Replace(s[last:]))
	b.WriteByte('"')
	return b.String()
}

var doubleQuoteEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "$", `\$`, "`", "\\`")
