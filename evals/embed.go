// Package evals holds this project's own evals and the starter that
// `selfevals init` copies into a repository.
package evals

import (
	"embed"
	"path"

	"github.com/selfevals/selfevals/repo"
)

// Starter is the evals/ tree `selfevals init` writes: settings, the
// taxonomy, the pingpong experiment and its dataset, the .gitignore and the
// .gitattributes (LF line endings, the results merge driver).
//
//go:embed selfevals.yaml taxonomy.yaml .gitignore .gitattributes experiments/pingpong.yaml datasets/pingpong.jsonl
var Starter embed.FS

// StarterFiles lists the starter's files in the order init writes them.
var StarterFiles = []string{
	repo.SettingsName,
	repo.TaxonomyName,
	repo.GitignoreName,
	repo.GitattributesName,
	path.Join(repo.ExperimentsName, "pingpong.yaml"),
	path.Join(repo.DatasetsName, "pingpong.jsonl"),
}

// Skills are the agent skills shipped inside the binary (`selfevals skills`):
// one directory per skill under skills/, each with a SKILL.md.
//
//go:embed skills
var Skills embed.FS

// Hello is this project's hello experiment with its dataset, grader card
// and labels, which `selfevals examples copy hello` writes into a
// repository.
//
//go:embed experiments/hello.yaml datasets/hello.jsonl graders/reply_judge.yaml graders/reply_judge.labels.jsonl
var Hello embed.FS
