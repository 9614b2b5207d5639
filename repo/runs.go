package repo

// RunManifest is a run's run.json: what ran, on what, and how it ended.
type RunManifest struct {
	RunID            string         `json:"run_id"`
	Experiment       string         `json:"experiment"`
	ExperimentID     string         `json:"experiment_id"`
	Name             string         `json:"name"`
	Goal             string         `json:"goal"`
	Proposer         string         `json:"proposer"`
	DatasetID        string         `json:"dataset_id"`
	Cases            int            `json:"cases"`
	AgentFingerprint string         `json:"agent_fingerprint"`
	ToolVersion      string         `json:"tool_version"`
	GitCommit        string         `json:"git_commit,omitempty"`
	GitDirty         bool           `json:"git_dirty,omitempty"`
	StartedAt        string         `json:"started_at"`
	EndedAt          string         `json:"ended_at,omitempty"`
	Terminated       string         `json:"terminated,omitempty"`
	State            RunState       `json:"state"`
	Spec             string         `json:"spec"`
	Target           MetricTarget   `json:"target"`
	Guardrails       []MetricTarget `json:"guardrails,omitempty"`
	Confidence       float64        `json:"confidence"`
	Repetitions      int            `json:"repetitions"`
	MaxIterations    int            `json:"max_iterations"`
	// NoCache: the run was started with --no-cache, so its resumption
	// calls the agent and judges afresh too.
	NoCache bool `json:"no_cache,omitempty"`
	// Recorded is the reference blocks of the spec (frozen, datasets,
	// judge_defenses) that selfevals keeps but does not act on.
	Recorded map[string]any `json:"recorded,omitempty"`
	// Unfinished is the iteration an interrupt stopped, undecided.
	Unfinished *UnfinishedIteration `json:"unfinished,omitempty"`
	// NoPersist: the run writes only its record (run --no-persist); a
	// resume keeps it so.
	NoPersist bool `json:"no_persist,omitempty"`
	// Shard marks a run of one slice of the cases (run --shard i/n): it
	// decides and commits nothing; selfevals merge combines the shards.
	Shard *Shard `json:"shard,omitempty"`
	// MergedFrom are the shard runs a merge combined, shard 1 first.
	MergedFrom []string `json:"merged_from,omitempty"`
}
