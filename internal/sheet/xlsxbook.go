package sheet

import (
	"archive/zip"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"
)

// A book is a workbook opened for streaming its worksheets, the one way
// flabsync reads an XLSX's rows (partner sheets, mapping tables). It
// reads only the parts a read needs — the workbook, its relationships,
// the shared-strings table, the styles when a cell's number format asks
// for them, and the worksheets read — each from the zip as it streams,
// checked as it is read: there is no second pass and no temporary file.
//
// Before anything is unpacked, the sizes the zip declares are checked
// (checkDeclared: the whole, each part it may read, the shared-strings
// table);
// archive/zip fails a part that unpacks to more than it declared, so they
// hold. Then every token of the XML read is bounded (maxXMLToken), as are
// the shared-strings table (MaxSharedStringItems texts, maxSharedString
// each), every cell (MaxCell), every row (MaxRowBytes, MaxColumns) and
// the rows of a sheet (maxSheetRows); XML that is not well formed refuses
// the sheet where it breaks, never drops its rows silently. Memory is the
// shared-strings table (at most MaxSharedStrings) and one row.
type book struct {
	file     *os.File
	parts    map[string]*zip.File // by name in lower case
	sheets   []bookSheet          // in workbook order
	date1904 bool

	sst    *sharedStrings // loaded before the first sheet is read
	sstErr error
	// stylesErr is the styles part's check, made before the first sheet
	// is read (the formatter reads the part when a number needs it).
	stylesErr     error
	stylesChecked bool
	fm            *formatter
}

// bookSheet is one sheet the workbook lists.
type bookSheet struct {
	name   string
	part   string // the part's name in lower case; "" if the workbook names none
	hidden bool
}

// bookOptions are what openBook's caller may set.
type bookOptions struct {
	maxUnzip int64 // Options.MaxUnzipSize
}

// maxSheetRows is the most rows a worksheet has (Excel's 1,048,576): a
// row numbered beyond it is damage.
const maxSheetRows = 1 << 20

// openBook opens the workbook at path (a regular file: openFile) and
// reads its list of sheets, refusing (ErrRefused) one that is not a
// workbook or that the sizes its zip declares rule out.
func openBook(path string, opts bookOptions) (*book, error) {
	f, st, err := openFile(path)
	if err != nil {
		return nil, err
	}
	b, err := newBook(f, st.Size(), opts)
	if err != nil {
		f.Close()
		return nil, err
	}
	return b, nil
}

func newBook(f *os.File, size int64, opts bookOptions) (*book, error) {
	zr, err := zip.NewReader(f, size)
	if err != nil {
		return nil, fmt.Errorf("%w: the workbook cannot be opened (%w); open it in Excel, save it again as .xlsx, or save as .csv", ErrRefused, err)
	}
	b := &book{file: f, parts: make(map[string]*zip.File, len(zr.File))}
	if len(zr.File) > maxParts {
		return nil, &LimitError{What: "part count", Size: int64(len(zr.File)), Limit: maxParts, Hint: xlsxCheckHint}
	}
	if err := checkDeclared(zr, size, unzipBudget(size, opts.maxUnzip), false); err != nil {
		return nil, err
	}
	for _, zf := range zr.File {
		name := strings.ToLower(partName(zf.Name))
		if _, dup := b.parts[name]; !dup {
			b.parts[name] = zf
		}
	}
	if err := b.readWorkbook(); err != nil {
		return nil, err
	}
	return b, nil
}

// Close closes the workbook's file (and the scratch workbook that
// formats its numbers).
func (b *book) Close() error {
	if b.fm != nil && b.fm.f != nil {
		b.fm.f.Close()
	}
	return b.file.Close()
}

// part returns the zip entry named name (any case), or nil.
func (b *book) part(name string) *zip.File { return b.parts[strings.ToLower(name)] }

// readWorkbook reads the sheets the workbook lists, where their parts
// are, and whether its dates count from 1904.
func (b *book) readWorkbook() error {
	wbPath := "xl/workbook.xml"
	if zf := b.part("_rels/.rels"); zf != nil {
		for _, target := range relationships(zf, "/officeDocument") {
			wbPath = strings.TrimPrefix(path.Clean("/"+target), "/")
		}
	}
	wb := b.part(wbPath)
	if wb == nil {
		return fmt.Errorf("%w: the workbook has no %s (it is damaged); %s", ErrRefused, wbPath, xlsxCheckHint)
	}
	var targets map[string]string
	if rels := b.part(path.Join(path.Dir(wbPath), "_rels", path.Base(wbPath)+".rels")); rels != nil {
		targets = relationships(rels, "")
	}
	err := xmlTokens(wb, func(tok xml.Token) error {
		se, ok := tok.(xml.StartElement)
		if !ok {
			return nil
		}
		switch se.Name.Local {
		case "workbookPr":
			v := attr(se, "date1904")
			b.date1904 = v == "1" || strings.EqualFold(v, "true")
		case "sheet":
			if len(b.sheets) >= maxParts {
				return &LimitError{What: "part count", Part: wbPath, Size: maxParts + 1, Limit: maxParts, Hint: xlsxCheckHint}
			}
			s := bookSheet{}
			var id string
			for _, a := range se.Attr {
				switch {
				case a.Name.Local == "name":
					s.name = a.Value
				case a.Name.Local == "state":
					s.hidden = a.Value == "hidden" || a.Value == "veryHidden"
				case a.Name.Local == "id" && a.Name.Space != "":
					id = a.Value
				}
			}
			if t, ok := targets[id]; ok {
				s.part = strings.ToLower(partPath(wbPath, t))
			}
			b.sheets = append(b.sheets, s)
		}
		return nil
	})
	var le *LimitError
	switch {
	case errors.As(err, &le):
		return err
	case errors.Is(err, errToken):
		return &LimitError{What: "xml token", Part: wbPath, Size: maxXMLToken + 1, Limit: maxXMLToken, Hint: xlsxCheckHint}
	case err != nil:
		return fmt.Errorf("part %s: %w: the workbook's list of sheets is damaged (%s); %s", wbPath, ErrRefused, xmlFault(err), xlsxCheckHint)
	}
	return nil
}

// sheetList lists the workbook's sheets in order.
func (b *book) sheetList() []string {
	out := make([]string, len(b.sheets))
	for i, s := range b.sheets {
		out[i] = s.name
	}
	return out
}

// visibleSheets lists the workbook's visible sheets in order.
func (b *book) visibleSheets() []string {
	var out []string
	for _, s := range b.sheets {
		if !s.hidden {
			out = append(out, s.name)
		}
	}
	return out
}

// hasSheet reports whether the workbook lists a sheet named name (in any
// case, as Excel compares them).
func (b *book) hasSheet(name string) bool {
	for _, s := range b.sheets {
		if strings.EqualFold(s.name, name) {
			return true
		}
	}
	return false
}

// checkStyles checks the styles part, if any, once (checkStyles).
func (b *book) checkStyles() error {
	if !b.stylesChecked {
		b.stylesChecked = true
		if zf := b.part("xl/styles.xml"); zf != nil {
			b.stylesErr = checkStyles(zf)
		}
	}
	return b.stylesErr
}

// sharedStrings is a workbook's shared-strings table: every text, one
// after another in text, text i ending at ends[i].
type sharedStrings struct {
	text string
	ends []uint32
}

func (s *sharedStrings) get(i int) (string, bool) {
	if s == nil || i < 0 || i >= len(s.ends) {
		return "", false
	}
	start := uint32(0)
	if i > 0 {
		start = s.ends[i-1]
	}
	return s.text[start:s.ends[i]], true
}

// loadSharedStrings reads the shared-strings table, if the workbook has
// one, within its bounds (once; its error is kept).
func (b *book) loadSharedStrings() error {
	if b.sst != nil || b.sstErr != nil {
		return b.sstErr
	}
	b.sst = &sharedStrings{}
	zf := b.part("xl/sharedStrings.xml")
	if zf == nil {
		return nil
	}
	b.sst, b.sstErr = readSharedStrings(zf)
	return b.sstErr
}

// readSharedStrings reads the table zf: each text is what excelize makes
// of it (its runs' text, phonetic runs left out, _xHHHH_ escapes
// decoded).
func readSharedStrings(zf *zip.File) (*sharedStrings, error) {
	name := partName(zf.Name)
	var (
		buf  strings.Builder
		ends []uint32
		cur  []byte // the raw text of the current <si>
		in   bool
		inT  int
		rPh  int
	)
	buf.Grow(int(min(zf.UncompressedSize64, MaxSharedStrings)) / 2)
	err := xmlTokens(zf, func(tok xml.Token) error {
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "si":
				in, cur, inT, rPh = true, cur[:0], 0, 0
			case "t":
				inT++
			case "rPh":
				rPh++
			}
		case xml.EndElement:
			switch t.Name.Local {
			case "si":
				if !in {
					break
				}
				if len(ends) >= MaxSharedStringItems {
					return &LimitError{What: "shared string count", Part: name, Size: int64(len(ends) + 1), Limit: MaxSharedStringItems,
						Hint: "the workbook holds more texts than a booking sheet can (hundreds of thousands of rows): split it, or save the sheet as .csv"}
				}
				buf.WriteString(bstrUnescape(cur))
				ends = append(ends, uint32(buf.Len()))
				in = false
			case "t":
				inT--
			case "rPh":
				rPh--
			}
		case xml.CharData:
			if in && inT > 0 && rPh == 0 {
				if len(cur)+len(t) > maxSharedString {
					return &LimitError{What: "shared string", Part: name, Size: int64(len(cur) + len(t)), Limit: maxSharedString,
						Hint: "one text of the workbook is longer than Excel allows a cell (32,767 characters); " + xlsxCheckHint}
				}
				cur = append(cur, t...)
			}
		}
		return nil
	})
	if err == nil || errors.Is(err, errNotXML) {
		return &sharedStrings{text: buf.String(), ends: ends}, nil
	}
	return nil, sharedStringsFault(name, err)
}

// bstrUnescape decodes the _xHHHH_ escapes Excel writes for characters
// XML cannot hold (_x000D_ for a carriage return; _x005F_ for "_"), as
// excelize does.
func bstrUnescape(b []byte) string {
	i := indexEscape(b, 0)
	if i < 0 {
		return string(b)
	}
	var out strings.Builder
	out.Grow(len(b))
	last := 0
	for ; i >= 0; i = indexEscape(b, last) {
		out.Write(b[last:i])
		v, _ := strconv.ParseUint(string(b[i+2:i+6]), 16, 32)
		out.WriteRune(rune(v))
		last = i + 7
	}
	out.Write(b[last:])
	return out.String()
}

// indexEscape finds the next _xHHHH_ in b from i, or -1.
func indexEscape(b []byte, i int) int {
	for ; i+7 <= len(b); i++ {
		if b[i] != '_' || b[i+1] != 'x' || b[i+6] != '_' {
			continue
		}
		if isHex(b[i+2]) && isHex(b[i+3]) && isHex(b[i+4]) && isHex(b[i+5]) {
			return i
		}
	}
	return -1
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// namedErr is an error that already names its sheet.
type namedErr struct{ error }

func (e namedErr) Unwrap() error { return e.error }

// rows streams the worksheet called name to fn, row by row in order,
// numbered as a person sees them (rows the sheet leaves out come as
// empty rows, as in excelize's Rows), each row's cells as excelize's
// Columns gives them: text as written, numbers as their format shows
// them, trailing empty cells left out. The cells slice is reused for the
// next row unless keep. Reading stops at an error from fn, or from ctx.
func (b *book) rows(ctx context.Context, name string, keep bool, fn func(num int, cells []string) error) error {
	var s *bookSheet
	for i := range b.sheets {
		if b.sheets[i].name == name {
			s = &b.sheets[i]
			break
		}
		if s == nil && strings.EqualFold(b.sheets[i].name, name) {
			s = &b.sheets[i]
		}
	}
	if s == nil {
		return fmt.Errorf("the workbook has no sheet %q", excerpt(name, maxQuoted))
	}
	zf := b.parts[s.part]
	if s.part == "" || zf == nil {
		return namedErr{fmt.Errorf("sheet %q: %w: the workbook has no worksheet for it (it is damaged); %s", excerpt(name, maxQuoted), ErrRefused, xlsxCheckHint)}
	}
	if err := b.loadSharedStrings(); err != nil {
		return err
	}
	if err := b.checkStyles(); err != nil {
		return err
	}
	sc := sheetScan{b: b, ctx: ctx, sheet: name, part: partName(zf.Name), keep: keep, fn: fn}
	err := lexSheet(zf, &sc)
	if errors.Is(err, errFallback) {
		sc = sheetScan{b: b, ctx: ctx, sheet: name, part: partName(zf.Name), keep: keep, fn: fn}
		err = xmlTokens(zf, sc.token)
	}
	switch {
	case err == nil || errors.Is(err, errStop):
		return sc.err
	case sc.err != nil:
		return sc.err
	case errors.Is(err, errToken):
		return namedErr{sc.limit(&LimitError{What: "xml token", Size: maxXMLToken + 1, Limit: maxXMLToken, Hint: xlsxCheckHint})}
	}
	var le *LimitError
	if errors.As(err, &le) {
		return namedErr{err}
	}
	what := fmt.Sprintf("sheet %q", excerpt(name, maxQuoted))
	if sc.row > 0 {
		what += fmt.Sprintf(" after row %d", sc.row)
	}
	return namedErr{fmt.Errorf("%s: %w: the XML is damaged (%s), so rows would be lost; %s", what, ErrRefused, xmlFault(err), xlsxCheckHint)}
}

// errStop ends a sheet's stream early: the rows are over, or fn failed
// (sheetScan.err says which).
var errStop = errors.New("stop")

// sheetScan turns a worksheet's XML tokens into rows.
type sheetScan struct {
	b     *book
	ctx   context.Context
	sheet string
	part  string
	keep  bool
	fn    func(int, []string) error
	err   error // fn's error, or a refusal found between tokens

	num      int // the row last handed over
	inRow    bool
	row      int // the row being read
	cells    []string
	rowBytes int64

	inCell   bool
	col      int
	colRef   string
	typ      string
	style    int
	formula  bool
	v        []byte // the cell's <v>
	is       []byte // the cell's inline text
	sawIS    bool   // the cell has an <is>
	inV, inT int
	inIS     int
	rPh      int
}

func (s *sheetScan) limit(e *LimitError) *LimitError {
	e.Sheet, e.Part = s.sheet, s.part
	return e
}

func (s *sheetScan) fail(err error) error {
	s.err = err
	return errStop
}

// token is the sheetScan fed by encoding/xml (a worksheet the lexer
// gives back: another encoding, a DOCTYPE).
func (s *sheetScan) token(tok xml.Token) error {
	switch t := tok.(type) {
	case xml.StartElement:
		attrs := make([]rawAttr, len(t.Attr))
		for i, a := range t.Attr {
			attrs[i] = rawAttr{local: []byte(a.Name.Local), value: []byte(a.Value)}
		}
		return s.start([]byte(t.Name.Local), attrs)
	case xml.EndElement:
		return s.end([]byte(t.Name.Local))
	case xml.CharData:
		if s.inCell {
			return s.chars(t)
		}
	}
	return nil
}

// start takes an element's start.
func (s *sheetScan) start(local []byte, attrs []rawAttr) error {
	switch string(local) {
	case "row":
		if s.inRow {
			if err := s.endRow(); err != nil {
				return err
			}
		}
		return s.startRow(attrs)
	case "c":
		if s.inCell {
			if err := s.endCell(); err != nil {
				return err
			}
		}
		return s.startCell(attrs)
	case "v":
		s.inV++
	case "f":
		s.formula = s.formula || s.inCell
	case "is":
		s.inIS++
		s.sawIS = s.sawIS || s.inCell
	case "t":
		s.inT++
	case "rPh":
		s.rPh++
	}
	return nil
}

// end takes an element's end.
func (s *sheetScan) end(local []byte) error {
	switch string(local) {
	case "row":
		if s.inRow {
			return s.endRow()
		}
	case "c":
		if s.inCell {
			return s.endCell()
		}
	case "v":
		s.inV--
	case "is":
		s.inIS--
	case "t":
		s.inT--
	case "rPh":
		s.rPh--
	case "sheetData":
		// excelize's Rows stops here too.
		if s.inRow {
			if err := s.endRow(); err != nil {
				return err
			}
		}
		return errStop
	}
	return nil
}

// chars takes text inside a cell.
func (s *sheetScan) chars(t []byte) error {
	switch {
	case s.inV > 0:
		s.v = append(s.v, t...)
	case s.inIS > 0 && s.inT > 0 && s.rPh == 0:
		s.is = append(s.is, t...)
	default:
		return nil
	}
	if len(s.v) > MaxCell || len(s.is) > MaxCell {
		return s.fail(namedErr{s.limit(&LimitError{What: "cell", Row: s.row, Column: s.column(), Size: int64(max(len(s.v), len(s.is))), Limit: MaxCell,
			Hint: "a booking sheet has no cell this long: shorten or clear it and save the workbook again"})})
	}
	return nil
}

// attrOf returns the value of the attribute local, or nil.
func attrOf(attrs []rawAttr, local string) []byte {
	for _, a := range attrs {
		if string(a.local) == local {
			return a.value
		}
	}
	return nil
}

// atoi reads a non-negative decimal number; ok is false for anything
// else (or one too large).
func atoi(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 9 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// startRow numbers a row: its r, or the next if it has none; rows left
// out between come as empty rows, as in excelize's Rows. A row numbered
// at or before the one above it is damage (excelize would fold its cells
// into that row): refused.
func (s *sheetScan) startRow(attrs []rawAttr) error {
	next := s.num + 1
	if r, ok := atoi(attrOf(attrs, "r")); ok && r > 0 {
		switch {
		case r > maxSheetRows:
			return s.fail(namedErr{s.limit(&LimitError{What: "rows", Row: r, Size: int64(r), Limit: maxSheetRows, Hint: xlsxCheckHint})})
		case r < next:
			return s.fail(namedErr{fmt.Errorf("sheet %q: %w: row %d comes after row %d (the workbook is damaged); %s",
				excerpt(s.sheet, maxQuoted), ErrRefused, r, s.num, xlsxCheckHint)})
		}
		for s.num+1 < r {
			if err := s.hand(s.num+1, nil); err != nil {
				return err
			}
		}
		next = r
	}
	s.inRow, s.row, s.cells, s.rowBytes, s.col = true, next, s.cells[:0], 0, 0
	return nil
}

func (s *sheetScan) endRow() error {
	if s.inCell {
		if err := s.endCell(); err != nil {
			return err
		}
	}
	s.inRow = false
	return s.hand(s.row, s.cells)
}

// hand gives fn one row.
func (s *sheetScan) hand(num int, cells []string) error {
	if num > maxSheetRows {
		return s.fail(namedErr{s.limit(&LimitError{What: "rows", Row: num, Size: int64(num), Limit: maxSheetRows, Hint: xlsxCheckHint})})
	}
	s.num = num
	if num%gridCheckEvery == 0 {
		if err := s.ctx.Err(); err != nil {
			return s.fail(err)
		}
	}
	if s.keep && cells != nil {
		cells = append([]string(nil), cells...)
	}
	if err := s.fn(num, cells); err != nil {
		return s.fail(err)
	}
	return nil
}

// startCell reads a cell's reference, style and type. Its column is its
// reference's, or the one after the cell before it. A column at or
// before the cell before it is damage, refused (excelize would put the
// value one column over, and cells that all say A1 would grow the row
// without bound): columns only go forward, and none is past MaxColumns,
// so a row holds at most MaxColumns cells.
func (s *sheetScan) startCell(attrs []rawAttr) error {
	if !s.inRow {
		// A cell outside a row: excelize passes it over.
		return nil
	}
	s.inCell, s.typ, s.style, s.formula, s.colRef = true, "", 0, false, ""
	s.v, s.is, s.sawIS, s.inV, s.inT, s.inIS, s.rPh = s.v[:0], s.is[:0], false, 0, 0, 0, 0
	prev := s.col
	s.col++
	for _, a := range attrs {
		switch string(a.local) {
		case "r":
			v := a.value
			k := 0
			for k < len(v) && (v[k]|0x20 >= 'a' && v[k]|0x20 <= 'z') {
				k++
			}
			n := 0
			if k > 0 && k <= 3 {
				n = columnIndex(string(v[:k]))
			}
			if _, digits := atoi(v[k:]); n == 0 || !digits {
				return s.fail(namedErr{fmt.Errorf("sheet %q row %d: %w: a cell's reference %q is not a cell (the workbook is damaged); %s",
					excerpt(s.sheet, maxQuoted), s.row, ErrRefused, excerpt(string(v), 12), xlsxCheckHint)})
			}
			s.col, s.colRef = n, string(v[:k])
		case "s":
			if n, ok := atoi(a.value); ok && n > 0 {
				s.style = n
			}
		case "t":
			s.typ = cellType(a.value)
		}
	}
	if s.col > MaxColumns {
		return s.fail(namedErr{s.limit(&LimitError{What: "columns", Row: s.row, Size: int64(s.col), Limit: MaxColumns,
			Hint: "the workbook is damaged or made to hurt: open it in Excel and save it again, or save the sheet as .csv"})})
	}
	if s.col <= prev {
		return s.fail(namedErr{fmt.Errorf("sheet %q row %d: %w: column %s comes after column %s (the workbook is damaged); %s",
			excerpt(s.sheet, maxQuoted), s.row, ErrRefused, s.column(), columnName(prev-1), xlsxCheckHint)})
	}
	return nil
}

// cellType interns a cell's t attribute.
func cellType(t []byte) string {
	for _, k := range [...]string{"s", "n", "str", "inlineStr", "b", "e", "d"} {
		if string(t) == k {
			return k
		}
	}
	return string(t)
}

func (s *sheetScan) column() string {
	if s.colRef != "" {
		return strings.ToUpper(s.colRef)
	}
	return columnName(s.col - 1)
}

func (s *sheetScan) endCell() error {
	s.inCell = false
	val, err := s.value()
	if err != nil {
		return s.fail(err)
	}
	if val == "" && !s.formula {
		return nil
	}
	if len(val) > MaxCell {
		return s.fail(namedErr{s.limit(&LimitError{What: "cell", Row: s.row, Column: s.column(), Size: int64(len(val)), Limit: MaxCell,
			Hint: "a booking sheet has no cell this long: shorten or clear it and save the workbook again"})})
	}
	if s.rowBytes += int64(len(val)); s.rowBytes > MaxRowBytes {
		return s.fail(namedErr{s.limit(&LimitError{What: "row", Row: s.row, Size: s.rowBytes, Limit: MaxRowBytes,
			Hint: "a booking row is far shorter: clear the row's long cells and save the workbook again"})})
	}
	// As excelize: the cell goes at its column, or after the cells
	// before it if its column is not past them.
	for len(s.cells) < s.col-1 {
		s.cells = append(s.cells, "")
	}
	s.cells = append(s.cells, val)
	return nil
}

// value is the cell's text as excelize's Rows gives it.
func (s *sheetScan) value() (string, error) {
	switch s.typ {
	case "s":
		v := strings.TrimSpace(string(s.v))
		if v == "" {
			return "", nil
		}
		i, err := strconv.Atoi(v)
		if err != nil {
			// Not read as 0: that is another cell's text.
			return "", namedErr{fmt.Errorf("sheet %q row %d column %s: %w: a cell's shared-string index is not a number (the workbook is damaged); %s",
				excerpt(s.sheet, maxQuoted), s.row, s.column(), ErrRefused, xlsxCheckHint)}
		}
		text, ok := s.b.sst.get(i)
		if !ok {
			return "", namedErr{fmt.Errorf("sheet %q row %d: %w: a cell refers to shared string %d, which the workbook does not have (it is damaged); %s",
				excerpt(s.sheet, maxQuoted), s.row, ErrRefused, i, xlsxCheckHint)}
		}
		return text, nil
	case "inlineStr":
		if !s.sawIS {
			return string(s.v), nil // as excelize: the <v>, if any
		}
		return bstrUnescape(s.is), nil
	case "str":
		return string(s.v), nil
	case "b":
		switch string(s.v) {
		case "1":
			return "TRUE", nil
		case "0":
			return "FALSE", nil
		}
		return string(s.v), nil
	case "e":
		return string(s.v), nil
	case "d":
		v := string(s.v)
		if serial, ok := isoToSerial(v); ok {
			return s.number(serial)
		}
		return v, nil
	}
	return s.number(string(s.v))
}

// number formats a number cell's value as excelize does: General
// without a style, the style's number format with one.
func (s *sheetScan) number(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	v = generalNumber(v)
	if s.style == 0 {
		return v, nil
	}
	return s.b.format(s.style, v)
}
