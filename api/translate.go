package api

// TranslationState says how far a translated offset can be trusted.
type TranslationState string

// The translation states (package mirror/offsets computes them).
const (
	// TranslationCopied: the target offset points at the copy of the
	// first record at or after the source offset.
	TranslationCopied TranslationState = "copied"
	// TranslationEnd: every record before the source offset is copied and
	// none after it yet: the target offset is the target's end.
	TranslationEnd TranslationState = "end"
	// TranslationBehind: the copier has not reached the source offset
	// yet; ask again.
	TranslationBehind TranslationState = "behind"
	// TranslationTruncated: the records at the source offset are gone
	// from the source (retention); the target offset is the first copy
	// of what is left.
	TranslationTruncated TranslationState = "truncated"
)

// Translation is one partition of a group's offsets translated from a
// source region into the agent's region. Error is set, and State empty,
// when that partition could not be translated.
type Translation struct {
	Topic        string           `json:"topic"`
	Partition    int32            `json:"partition"`
	SourceOffset int64            `json:"source_offset"`
	TargetTopic  string           `json:"target_topic"`
	TargetOffset int64            `json:"target_offset"`
	State        TranslationState `json:"state,omitempty"`
	// OriginOffset is the source offset of the copy at TargetOffset when
	// State is copied: SourceOffset itself, or the next record that was
	// copied when SourceOffset names a marker, an aborted or compacted
	// record, or one the loop rules kept back.
	OriginOffset int64  `json:"origin_offset"`
	Error        string `json:"error,omitempty"`
}

// TranslateResponse is the body of GET /v1/translate?group=G&from=R.
type TranslateResponse struct {
	Group      string        `json:"group"`
	From       string        `json:"from"`
	To         string        `json:"to"`
	Partitions []Translation `json:"partitions"`
}
