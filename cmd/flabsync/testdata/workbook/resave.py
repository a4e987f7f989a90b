#!/usr/bin/python3
# Makes resaved.xlsx: a nightly workbook as a person returns it after
# editing it in other programs. The source is the workbook `flabsync
# reconcile` writes for the database of seedExceptions (exceptions_test.go),
# in the layout of issue 23 (Action list, Snooze until, hidden
# Fingerprint). openpyxl (Debian python3-openpyxl 3.0.9) fills the Action,
# Snooze until (a real date cell) and Note cells, restyles them and adds a
# sheet; LibreOffice (Debian libreoffice-calc-nogui 7.4.7) then saves it
# again, turning every string into a shared string and rewriting the
# styles, as Excel does:
#   /usr/bin/python3 resave.py exceptions-2026-11-30.xlsx /tmp/edited.xlsx
#   soffice --headless --calc --convert-to xlsx:"Calc MS Excel 2007 XML" --outdir /tmp/lo /tmp/edited.xlsx
#   cp /tmp/lo/edited.xlsx resaved.xlsx
# Regenerate it whenever the layout or a seeded exception's detail changes
# (the hidden Fingerprint covers the detail and first_seen, which
# seedExceptions sets to seededFirstSeen): the workbook comes from
# `flabsync reconcile --out exceptions.xlsx` on seedExceptions' database.
import sys
from datetime import datetime
from openpyxl import load_workbook
from openpyxl.styles import Font, PatternFill

src, dst = sys.argv[1], sys.argv[2]
wb = load_workbook(src)
actions = {
    "submit_failed:p:a": ("close", "booked by phone"),
    "submit_failed:p:b": ("snooze", "clinic on leave", datetime(2099, 1, 31)),
    "rejected_row:p:e:1:4": ("close", "clinic resent the row"),
}
for ws in wb.worksheets:
    header = [c.value for c in ws[1]]
    if "ID" not in header or "Action" not in header:
        continue
    idc, actc, notec = header.index("ID") + 1, header.index("Action") + 1, header.index("Note") + 1
    untilc = header.index("Snooze until") + 1
    for row in range(2, ws.max_row + 1):
        eid = ws.cell(row=row, column=idc).value
        if eid in actions:
            ws.cell(row=row, column=actc).value = actions[eid][0]
            ws.cell(row=row, column=notec).value = actions[eid][1]
            if len(actions[eid]) > 2:
                ws.cell(row=row, column=untilc).value = actions[eid][2]
                ws.cell(row=row, column=untilc).number_format = "yyyy-mm-dd"
            ws.cell(row=row, column=actc).font = Font(bold=True, color="C00000")
            ws.cell(row=row, column=actc).fill = PatternFill("solid", fgColor="FFF2CC")
extra = wb.create_sheet("My notes")
extra["A1"] = "Called the clinic on Monday"
extra["B2"] = 42
wb.save(dst)
