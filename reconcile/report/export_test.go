package report

// SetMaxDataRows lowers the rows per sheet for a test and returns the undo.
func SetMaxDataRows(n int) (undo func()) {
	old := maxDataRows
	maxDataRows = n
	return func() { maxDataRows = old }
}
