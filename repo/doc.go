// Package repo owns the evals/ tree as data: its layout (Dir: every path
// and file name), the entity types (experiment spec, case, dataset,
// parameters, trace, grade, result), the record types (iteration, decision,
// evidence, run summary and manifest, committed result), strict loading with
// file:line:column errors, YAML edits that keep comments, canonical JSON and
// content-hash IDs, and atomic writes. It imports nothing else of this
// module but its own internal packages, which hold the JSON machinery that
// knows nothing of these types.
//
// Beside it: repo/runstore owns the run record (run directories and the
// committed result), repo/gitstore owns git, repo/paired and repo/stats say
// whether B is better than A.
package repo
