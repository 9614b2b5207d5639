package main

import (
	"strings"

	"github.com/selfevals/selfevals/reports"
	"github.com/spf13/cobra"
)

// Shell completion of experiment slugs and IDs (selfevals completion bash
// and the like print the scripts that call these).

// completeFirst completes a command's first argument with what list
// offers in the workspace (nothing, and no file names, elsewhere).
func completeFirst(g *globalOptions, list func(ws reports.Workspace, toComplete string) []cobra.Completion) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ws, err := workspace(g)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return list(ws, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

// completeSlugs completes the first argument with the experiments' slugs.
func completeSlugs(g *globalOptions) cobra.CompletionFunc {
	return completeFirst(g, func(ws reports.Workspace, toComplete string) []cobra.Completion {
		var out []cobra.Completion
		for _, s := range ws.Slugs() {
			if strings.HasPrefix(s, toComplete) {
				out = append(out, s)
			}
		}
		return out
	})
}

// completeIDs completes the first argument with the IDs show knows, each
// with what it names.
func completeIDs(g *globalOptions) cobra.CompletionFunc {
	return completeFirst(g, reports.Workspace.IDs)
}

// completeSlugsOrRuns completes a slug or a run ID (report, regrade).
func completeSlugsOrRuns(g *globalOptions) cobra.CompletionFunc {
	slugs := completeSlugs(g)
	ids := completeIDs(g)
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if strings.HasPrefix(toComplete, "run_") {
			return ids(cmd, args, toComplete)
		}
		return slugs(cmd, args, toComplete)
	}
}

// completeArgs gives the commands that take a slug, a run or an iteration
// their completion, where the command itself sets none.
func completeArgs(root *cobra.Command, g *globalOptions) {
	byName := map[string]cobra.CompletionFunc{
		"report":     completeSlugsOrRuns(g),
		"regrade":    completeSlugsOrRuns(g),
		"history":    completeSlugs(g),
		"candidates": completeSlugs(g),
		"compare":    completeIteration(g),
	}
	for _, c := range root.Commands() {
		if f, ok := byName[c.Name()]; ok && c.ValidArgsFunction == nil {
			c.ValidArgsFunction = f
		}
	}
}

// completeIteration completes iteration IDs (compare takes two).
func completeIteration(g *globalOptions) cobra.CompletionFunc {
	ids := completeIDs(g)
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if toComplete == "" {
			toComplete = "itr_"
		}
		return ids(cmd, nil, toComplete)
	}
}
