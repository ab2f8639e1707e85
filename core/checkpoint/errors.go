package checkpoint

import "errors"

// Errors returned (wrapped, with details) by Decode, Load, ReadManifest and
// Verify; test for them with errors.Is.
var (
	ErrNotCheckpoint = errors.New("not a checkpoint file (bad magic)")
	ErrVersion       = errors.New("unsupported checkpoint format version")
	ErrTruncated     = errors.New("truncated checkpoint")
	ErrHash          = errors.New("hash mismatch")
	ErrUnknownDType  = errors.New("unknown dtype")
	ErrShape         = errors.New("tensor shape or layout inconsistent")
	ErrTooLarge      = errors.New("declared size too large")
	ErrCorrupt       = errors.New("corrupt checkpoint")
)
