package main

import (
	"bytes"
	"path/filepath"

	"gopkg.in/yaml.v3"
)

// namedSettings is the starter's selfevals.yaml with the workspace named
// after the repository, the directory holding evals/ (the starter names
// it "selfevals", after this project, and the web UI shows the name).
func namedSettings(settings []byte, evalsDir string) []byte {
	// evalsDir is relative only when the process runs in the user's
	// directory (Env.inDir), so the working directory Abs reads is theirs.
	abs, err := filepath.Abs(evalsDir)
	if err != nil {
		return settings
	}
	name := filepath.Base(filepath.Dir(abs))
	if name == "." || name == string(filepath.Separator) {
		return settings
	}
	// The encoder quotes a name YAML would read as something else (001,
	// true, a: b).
	quoted, err := yaml.Marshal(name)
	if err != nil {
		return settings
	}
	return bytes.Replace(settings, []byte("\nname: selfevals\n"), append([]byte("\nname: "), quoted...), 1)
}
