package sheet

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"path/filepath"
	"strings"
)

var (
	magicZip  = []byte("PK\x03\x04")
	magicOLE  = []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}
	magicPDF  = []byte("%PDF")
	magicGzip = []byte{0x1F, 0x8B}
	magicPNG  = []byte("\x89PNG")
	magicJPEG = []byte{0xFF, 0xD8, 0xFF}
)

// Detect decides how to read path — "csv" or "xlsx" — from its first bytes
// and its name, or refuses it (ErrRefused) with what to do instead.
func Detect(path string) (string, error) {
	ext := strings.ToLower(filepath.Ext(path))
	f, st, err := openFile(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	head := make([]byte, 4096)
	n, err := io.ReadFull(f, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return "", err
	}
	head = head[:n]
	saveAs := "open it in Excel or LibreOffice and save it as .xlsx or .csv"
	switch {
	case n == 0:
		return "", fmt.Errorf("%w: the file is empty", ErrRefused)
	case bytes.HasPrefix(head, magicOLE):
		if ext == ".xlsx" || ext == ".xlsm" {
			return "", fmt.Errorf("%w: the workbook is password-protected (encrypted); remove the password in Excel and save it again as .xlsx", ErrRefused)
		}
		return "", fmt.Errorf("%w: old binary Excel (.xls) is not read; %s", ErrRefused, saveAs)
	case bytes.HasPrefix(head, magicZip):
		return detectZip(f, st.Size(), ext, saveAs)
	case bytes.HasPrefix(head, magicPDF):
		return "", fmt.Errorf("%w: this is a PDF, not a sheet; ask the clinic for the bookings as .xlsx or .csv", ErrRefused)
	case bytes.HasPrefix(head, magicGzip):
		return "", fmt.Errorf("%w: this is a compressed (gzip) file; unpack it and drop the .csv or .xlsx inside", ErrRefused)
	case bytes.HasPrefix(head, magicPNG), bytes.HasPrefix(head, magicJPEG):
		return "", fmt.Errorf("%w: this is an image, not a sheet; ask the clinic for the bookings as .xlsx or .csv", ErrRefused)
	}
	switch ext {
	case ".xls":
		// Excel happily saves tab-separated or HTML text as .xls; the
		// text checks below decide.
	case ".xlsx", ".xlsm":
		return "", fmt.Errorf("%w: the name says %s but the content is not a workbook; %s", ErrRefused, ext, saveAs)
	case ".ods":
		return "", fmt.Errorf("%w: OpenDocument (.ods) is not read; %s", ErrRefused, saveAs)
	case ".xlsb":
		return "", fmt.Errorf("%w: binary Excel (.xlsb) is not read; %s", ErrRefused, saveAs)
	case ".doc", ".docx", ".pdf", ".zip", ".png", ".jpg", ".jpeg":
		return "", fmt.Errorf("%w: a %s file is not a sheet; ask the clinic for the bookings as .xlsx or .csv", ErrRefused, ext)
	}
	if looksBinary(head) {
		return "", fmt.Errorf("%w: the file holds binary data, not text; %s", ErrRefused, saveAs)
	}
	if bytes.Contains(bytes.ToLower(head[:min(len(head), 512)]), []byte("<html")) || bytes.Contains(bytes.ToLower(head[:min(len(head), 512)]), []byte("<table")) {
		return "", fmt.Errorf("%w: this is a web page (HTML) saved with a sheet's name; %s", ErrRefused, saveAs)
	}
	return "csv", nil
}

// detectZip tells an XLSX from an ODS or any other zip.
func detectZip(r io.ReaderAt, size int64, ext, saveAs string) (string, error) {
	z, err := zip.NewReader(r, size)
	if err != nil {
		return "", fmt.Errorf("%w: the file looks like a zip/workbook but is damaged (%v); %s", ErrRefused, err, saveAs)
	}
	var workbook, xlsb bool
	for _, f := range z.File {
		switch f.Name {
		case "mimetype":
			rc, err := f.Open()
			if err == nil {
				b, _ := io.ReadAll(io.LimitReader(rc, 100))
				rc.Close()
				if bytes.Contains(b, []byte("opendocument")) {
					return "", fmt.Errorf("%w: OpenDocument (.ods) is not read; %s", ErrRefused, saveAs)
				}
			}
		case "xl/workbook.xml":
			workbook = true
		case "xl/workbook.bin":
			xlsb = true
		}
	}
	switch {
	case xlsb:
		return "", fmt.Errorf("%w: binary Excel (.xlsb) is not read; %s", ErrRefused, saveAs)
	case !workbook:
		return "", fmt.Errorf("%w: a zip archive that is not an Excel workbook; unpack it and drop the .csv or .xlsx inside", ErrRefused)
	}
	return "xlsx", nil
}

// looksBinary reports text that is not UTF-16 and has many control bytes
// (NUL among them): more than one in twenty. A few NULs are a text
// file's damaged cells, for the rows holding them to be rejected
// (ProblemBadCharacters), not a binary file.
func looksBinary(head []byte) bool {
	if bytes.HasPrefix(head, []byte{0xFF, 0xFE}) || bytes.HasPrefix(head, []byte{0xFE, 0xFF}) || utf16NoBOM(head) != "" {
		return false
	}
	ctl := 0
	for _, b := range head {
		if b < 0x09 || (b > 0x0D && b < 0x20 && b != 0x1B) {
			ctl++
		}
	}
	return ctl > len(head)/20
}

// utf16NoBOM guesses UTF-16 without a byte-order mark from where the NUL
// bytes fall in ASCII-heavy text: "utf-16le", "utf-16be" or "".
func utf16NoBOM(head []byte) string {
	if len(head) < 8 {
		return ""
	}
	var even, odd int
	for i, b := range head {
		if b == 0 {
			if i%2 == 0 {
				even++
			} else {
				odd++
			}
		}
	}
	half := len(head) / 2
	switch {
	case odd > half*8/10 && even == 0:
		return "utf-16le"
	case even > half*8/10 && odd == 0:
		return "utf-16be"
	}
	return ""
}
