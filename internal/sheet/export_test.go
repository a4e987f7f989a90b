package sheet

// Unexported helpers, for the external tests.
var (
	Excerpt   = excerpt
	CleanCell = cleanCell
)
