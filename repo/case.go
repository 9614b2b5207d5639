package repo

import (
	"strings"

	"github.com/goccy/go-json"
)

// Case is one eval case (one line of a dataset). Only Input is required.
type Case struct {
	// ID is the explicit id when the case carries one, else the content hash
	// (case_…) computed at load time.
	ID             string          `json:"id,omitempty"`
	Name           string          `json:"name,omitempty"`
	TaskType       string          `json:"task_type,omitempty"`
	Modalities     []string        `json:"modalities,omitempty"`
	Input          json.RawMessage `json:"input"`
	Context        json.RawMessage `json:"context,omitempty"`
	Expected       *Expected       `json:"expected,omitempty"`
	Taxonomy       *CaseTaxonomy   `json:"taxonomy,omitempty"`
	Graders        []string        `json:"graders,omitempty"`
	FailureWeights map[string]int  `json:"failure_weights,omitempty"`
	Metadata       *CaseMetadata   `json:"metadata,omitempty"`
	Blocking       *Blocking       `json:"blocking,omitempty"`
	Holdout        bool            `json:"holdout,omitempty"`
	ThreadID       string          `json:"thread_id,omitempty"`
	ThreadPosition *int            `json:"thread_position,omitempty"`
	// ContentHash is the reference's field; accepted, not hashed.
	ContentHash string `json:"content_hash,omitempty"`

	// Line is where the case starts in its file (not part of the case).
	Line int `json:"-"`
	// explicitID is set when the file gave the id (it is then kept).
	explicitID bool
}

// CaseDefinition is the hash of what a case asks and how it is judged: its
// content hash (CaseID's canonical JSON) without its name, and never its
// explicit id, so a rename keeps it and an edit under a kept id changes it.
// Diff tells an edited case from a changed result by it.
func CaseDefinition(c *Case) string {
	tmp := *c
	tmp.Name = ""
	return DefinitionOfID(CaseID(&tmp))
}

// DefinitionOfID is the definition hash of a case whose ID is its content
// hash (no name, no id of its own): the same hash under its own prefix.
func DefinitionOfID(caseID string) string { return "def" + strings.TrimPrefix(caseID, "case") }

// DisplayName is the case's name, or its ID when it has none.
func (c *Case) DisplayName() string {
	if c.Name != "" {
		return c.Name
	}
	return c.ID
}

// Expected is what a correct answer looks like.
type Expected struct {
	Outcome           string          `json:"outcome,omitempty"`
	MustInclude       []string        `json:"must_include,omitempty"`
	MustNotInclude    []string        `json:"must_not_include,omitempty"`
	RequiredTools     []string        `json:"required_tools,omitempty"`
	ForbiddenTools    []string        `json:"forbidden_tools,omitempty"`
	Regex             string          `json:"regex,omitempty"`
	StructuredOutput  json.RawMessage `json:"structured_output,omitempty"`
	OutputSchema      json.RawMessage `json:"output_schema,omitempty"`
	RequiredCitations []string        `json:"required_citations,omitempty"`
	PolicyFlags       []string        `json:"policy_flags,omitempty"`
}

// CaseTaxonomy classifies a case: level, feature, modality, difficulty and
// the like, for slicing results.
type CaseTaxonomy struct {
	Level       string       `json:"level,omitempty"`
	Feature     *Feature     `json:"feature,omitempty"`
	Source      *CaseSource  `json:"source,omitempty"`
	GroundTruth *GroundTruth `json:"ground_truth,omitempty"`
	Runtime     string       `json:"runtime,omitempty"`
	DatasetType string       `json:"dataset_type,omitempty"`
	Risk        *RiskProfile `json:"risk,omitempty"`
}

// Feature is the product feature a case exercises.
type Feature struct {
	Primary   string   `json:"primary,omitempty"`
	Secondary []string `json:"secondary,omitempty"`
}

// CaseSource says where a case came from.
type CaseSource struct {
	Type         string `json:"type,omitempty"`
	FailureType  string `json:"failure_type,omitempty"`
	FailureID    string `json:"failure_id,omitempty"`
	ParentCaseID string `json:"parent_case_id,omitempty"`
}

// GroundTruth lists how correctness is established.
type GroundTruth struct {
	Methods []string `json:"methods,omitempty"`
}

// RiskProfile rates what is at stake.
type RiskProfile struct {
	Overall       string `json:"overall,omitempty"`
	UserTrust     string `json:"user_trust,omitempty"`
	Privacy       string `json:"privacy,omitempty"`
	Reversibility string `json:"reversibility,omitempty"`
	Safety        string `json:"safety,omitempty"`
	Cost          string `json:"cost,omitempty"`
}

// CaseMetadata is ownership and privacy data.
type CaseMetadata struct {
	Owner         string   `json:"owner,omitempty"`
	Tags          []string `json:"tags,omitempty"`
	PIIStatus     string   `json:"pii_status,omitempty"`
	ApprovedRawBy string   `json:"approved_raw_by,omitempty"`
	ApprovedRawAt string   `json:"approved_raw_at,omitempty"`
	Notes         string   `json:"notes,omitempty"`
}

// Blocking says whether a failing case blocks a merge or a release.
type Blocking struct {
	Merge   bool `json:"merge,omitempty"`
	Release bool `json:"release,omitempty"`
}
