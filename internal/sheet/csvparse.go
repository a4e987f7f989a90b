package sheet

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// csvReader splits decoded CSV text into records exactly as encoding/csv
// does with LazyQuotes (a quote inside a field is kept as written; empty
// lines are skipped; CRLF reads as LF), but within bounds: it never
// holds more than one row of MaxRowBytes, refuses a cell as soon as it
// passes MaxCell, and refuses a quote that is never closed instead of
// reading the rest of the file into one cell. It also tells, per field,
// the line the field began on.
type csvReader struct {
	br    *bufio.Reader
	comma byte
	line  int // lines read so far: the line being parsed

	long   []byte // a line longer than br's buffer, put together
	buf    []byte // the record's fields, one after another
	ends   []int  // where each field ends in buf
	starts []int  // the line each field begins on (a quoted one: its quote)
	rec    []string
	size   int // the record's text as written, in bytes
	first  int // the line the record begins on
}

// csvError is a fault of the reader's, before it is given a row number.
type csvError struct {
	what  string // "cell", "row", "columns", "quote"
	line  int    // the line the cell or quote began on
	size  int64
	quote bool // the cell is quoted
}

func (e *csvError) Error() string { return e.what }

// readLine returns the next line with its newline (CRLF made LF; at the
// end of the text, a last CR dropped), io.EOF when there is none. The
// line is valid until the next call.
func (c *csvReader) readLine() ([]byte, error) {
	line, err := c.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		c.long = append(c.long[:0], line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			if len(c.long) > MaxRowBytes {
				return nil, c.overlong()
			}
			line, err = c.br.ReadSlice('\n')
			c.long = append(c.long, line...)
		}
		line = c.long
	}
	n := len(line)
	if n > 0 && errors.Is(err, io.EOF) {
		err = nil
		if line[n-1] == '\r' {
			line = line[:n-1]
		}
	}
	if err != nil {
		return nil, err
	}
	c.line++
	if n = len(line); n >= 2 && line[n-2] == '\r' && line[n-1] == '\n' {
		line[n-2] = '\n'
		line = line[:n-1]
	}
	return line, nil
}

// overlong describes a line over MaxRowBytes (in c.long): a cell over
// MaxCell if it holds one (a stretch without a delimiter), else a row
// over its bound; a quote opened and never closed if the quotes are odd.
func (c *csvReader) overlong() *csvError {
	e := &csvError{what: "row", line: c.line + 1, size: int64(len(c.long)), quote: bytes.Count(c.long, []byte{'"'})%2 == 1}
	for rest := c.long; len(rest) > 0; {
		i := bytes.IndexByte(rest, c.comma)
		if i < 0 {
			i = len(rest)
		}
		if i > MaxCell {
			e.what, e.size = "cell", int64(i)
			break
		}
		rest = rest[min(i+1, len(rest)):]
	}
	return e
}

func lengthNL(b []byte) int {
	if len(b) > 0 && b[len(b)-1] == '\n' {
		return 1
	}
	return 0
}

// read reads the next record into c.rec (and c.starts), io.EOF at the end.
func (c *csvReader) read() error {
	c.first = 0
	var line []byte
	for {
		l, err := c.readLine()
		if err != nil {
			return err
		}
		if len(l) == lengthNL(l) {
			continue // an empty line
		}
		line = l
		break
	}
	c.buf, c.ends, c.starts = c.buf[:0], c.ends[:0], c.starts[:0]
	c.size, c.first = len(line), c.line
	for {
		start := c.line
		if len(line) == 0 || line[0] != '"' {
			i := bytes.IndexByte(line, c.comma)
			field := line
			if i >= 0 {
				field = field[:i]
			} else {
				field = field[:len(field)-lengthNL(field)]
			}
			if len(field) > MaxCell {
				return &csvError{what: "cell", line: start, size: int64(len(field))}
			}
			c.buf = append(c.buf, field...)
			if err := c.endField(start); err != nil {
				return err
			}
			if i >= 0 {
				line = line[i+1:]
				continue
			}
			break
		}
		// A quoted field: up to a quote followed by the delimiter, the
		// end of the line or the end of the text; "" is a quote; any
		// other quote is kept as written.
		from := len(c.buf)
		line = line[1:]
		closed, more := false, false
		for !closed {
			if i := bytes.IndexByte(line, '"'); i >= 0 {
				c.buf = append(c.buf, line[:i]...)
				line = line[i+1:]
				switch {
				case len(line) > 0 && line[0] == '"':
					c.buf = append(c.buf, '"')
					line = line[1:]
				case len(line) > 0 && line[0] == c.comma:
					line = line[1:]
					closed, more = true, true
				case len(line) == lengthNL(line):
					closed = true
				default:
					c.buf = append(c.buf, '"')
				}
			} else {
				// The line ends inside the quotes: the field goes on
				// with the next line.
				c.buf = append(c.buf, line...)
				line = nil
			}
			if n := len(c.buf) - from; n > MaxCell {
				return &csvError{what: "cell", line: start, size: int64(n), quote: true}
			}
			if closed || len(line) > 0 {
				continue
			}
			l, err := c.readLine()
			if errors.Is(err, io.EOF) {
				return &csvError{what: "quote", line: start}
			}
			var ce *csvError
			if errors.As(err, &ce) {
				// A line too long to hold while inside quotes: the quote
				// is what is wrong.
				return &csvError{what: "cell", line: start, size: int64(len(c.buf)-from) + ce.size, quote: true}
			}
			if err != nil {
				return err
			}
			if c.size += len(l); c.size > MaxRowBytes {
				return &csvError{what: "cell", line: start, size: int64(len(c.buf) - from + len(l)), quote: true}
			}
			line = l
		}
		if err := c.endField(start); err != nil {
			return err
		}
		if !more {
			break
		}
	}
	str := string(c.buf)
	c.rec = c.rec[:0]
	prev := 0
	for _, end := range c.ends {
		c.rec = append(c.rec, str[prev:end])
		prev = end
	}
	return nil
}

// endField closes the field being read, which began on line start.
func (c *csvReader) endField(start int) error {
	if len(c.ends) >= MaxColumns {
		return &csvError{what: "columns", line: start, size: int64(len(c.ends) + 1)}
	}
	c.ends = append(c.ends, len(c.buf))
	c.starts = append(c.starts, start)
	return nil
}

// refusal turns a csvError into the error a reader returns for sheet row
// row.
func (e *csvError) refusal(row int) error {
	switch e.what {
	case "quote":
		return fmt.Errorf("row %d: %w: a double quote mark opened on line %d is never closed: everything after it would be one cell; "+
			"close the quote where the cell ends (or remove it) and save the file again", row, ErrRefused, e.line)
	case "columns":
		return &LimitError{What: "columns", Row: row, Line: e.line, Size: e.size, Limit: MaxColumns,
			Hint: fmt.Sprintf("the row begins on line %d; check the file's delimiter, or save it again from the spreadsheet", e.line)}
	case "row":
		hint := fmt.Sprintf("the row begins on line %d; a booking row is far shorter: save the file again from the spreadsheet", e.line)
		if e.quote {
			hint = fmt.Sprintf("a double quote mark opened on line %d is probably never closed: close it where the cell ends (or remove it) and save the file again", e.line)
		}
		return &LimitError{What: "row", Row: row, Line: e.line, Size: e.size, Limit: MaxRowBytes, Hint: hint}
	}
	hint := fmt.Sprintf("the cell begins on line %d; shorten it and save the file again", e.line)
	if e.quote {
		hint = fmt.Sprintf("a double quote mark opened on line %d is probably never closed: close it where the cell ends (or remove it) and save the file again", e.line)
	}
	return &LimitError{What: "cell", Row: row, Line: e.line, Size: e.size, Limit: MaxCell, Hint: hint}
}
