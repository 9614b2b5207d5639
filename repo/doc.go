// Package repo owns the evals/ tree as data: the entity types (experiment spec,
// case, dataset, parameters, trace, grade, result), strict loading with
// file:line:column errors, canonical JSON and content-hash IDs, and atomic
// writes. It imports nothing else of this module but its own internal
// packages, which hold the JSON machinery that knows nothing of these types.
package repo
