-- +goose Up
-- An exception's age counts from when the thing it is about happened (the
-- file received, the booking admitted or sent, the bill created), which
-- each rule now records; NULL (rows from before) counts from first_seen.
ALTER TABLE exceptions ADD COLUMN occurred_at TIMESTAMPTZ;

-- No exception ID holds a database number or a sheet's name
-- (reconcile/rules/ids.go builds them). A refused file was
-- file_refused:<files.id>, different in every install: it becomes
-- file_refused:PARTNER:HASH (PARTNER:NAME:DAY for a file the inbox refused
-- unread). Of old ones that now name the same file content, the latest
-- file's is kept. A rejected row named its sheet, which clinics name after
-- patients: it becomes the sheet's position among the file's sheets.
-- A person's decision (closed or snoozed, with its note) on one of the
-- old ones that go passes to the one kept, unless that one has its own:
-- the latest decided file's.
UPDATE exceptions SET (status, note, closed_by, closed_at, closed_detail, snoozed_until) = (
    SELECT x.status, x.note, x.closed_by, x.closed_at, x.closed_detail, x.snoozed_until
    FROM exceptions x JOIN files g ON g.id = x.file_id JOIN files f ON f.id = exceptions.file_id
    WHERE x.category = 'file_refused' AND x.id = 'file_refused:' || CAST(x.file_id AS TEXT) AND x.id <> exceptions.id
        AND x.status IN ('closed', 'snoozed') AND g.partner || ':' || CASE WHEN g.sha256 <> '' THEN SUBSTR(g.sha256, 1, 16) ELSE g.name || ':' || TO_CHAR(g.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') END = f.partner || ':' || CASE WHEN f.sha256 <> '' THEN SUBSTR(f.sha256, 1, 16) ELSE f.name || ':' || TO_CHAR(f.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') END
    ORDER BY g.created_at DESC, g.id DESC LIMIT 1)
WHERE category = 'file_refused' AND id = 'file_refused:' || CAST(exceptions.file_id AS TEXT) AND status NOT IN ('closed', 'snoozed')
    AND NOT EXISTS (
        SELECT 1 FROM exceptions x JOIN files g ON g.id = x.file_id JOIN files f ON f.id = exceptions.file_id
        WHERE x.category = 'file_refused' AND x.id = 'file_refused:' || CAST(x.file_id AS TEXT) AND x.id <> exceptions.id
            AND (g.created_at > f.created_at OR (g.created_at = f.created_at AND g.id > f.id))
            AND g.partner || ':' || CASE WHEN g.sha256 <> '' THEN SUBSTR(g.sha256, 1, 16) ELSE g.name || ':' || TO_CHAR(g.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') END = f.partner || ':' || CASE WHEN f.sha256 <> '' THEN SUBSTR(f.sha256, 1, 16) ELSE f.name || ':' || TO_CHAR(f.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') END)
    AND EXISTS (
        SELECT 1 FROM exceptions x JOIN files g ON g.id = x.file_id JOIN files f ON f.id = exceptions.file_id
        WHERE x.category = 'file_refused' AND x.id = 'file_refused:' || CAST(x.file_id AS TEXT) AND x.id <> exceptions.id
            AND x.status IN ('closed', 'snoozed') AND g.partner || ':' || CASE WHEN g.sha256 <> '' THEN SUBSTR(g.sha256, 1, 16) ELSE g.name || ':' || TO_CHAR(g.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') END = f.partner || ':' || CASE WHEN f.sha256 <> '' THEN SUBSTR(f.sha256, 1, 16) ELSE f.name || ':' || TO_CHAR(f.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') END);
DELETE FROM exceptions WHERE category = 'file_refused' AND id = 'file_refused:' || CAST(exceptions.file_id AS TEXT) AND EXISTS (
    SELECT 1 FROM exceptions x JOIN files g ON g.id = x.file_id JOIN files f ON f.id = exceptions.file_id
    WHERE x.category = 'file_refused' AND x.id = 'file_refused:' || CAST(x.file_id AS TEXT) AND x.id <> exceptions.id
        AND (g.created_at > f.created_at OR (g.created_at = f.created_at AND g.id > f.id))
        AND g.partner || ':' || CASE WHEN g.sha256 <> '' THEN SUBSTR(g.sha256, 1, 16) ELSE g.name || ':' || TO_CHAR(g.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') END = f.partner || ':' || CASE WHEN f.sha256 <> '' THEN SUBSTR(f.sha256, 1, 16) ELSE f.name || ':' || TO_CHAR(f.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') END);
UPDATE exceptions SET id = (SELECT 'file_refused:' || f.partner || ':' || CASE WHEN f.sha256 <> '' THEN SUBSTR(f.sha256, 1, 16) ELSE f.name || ':' || TO_CHAR(f.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') END FROM files f WHERE f.id = exceptions.file_id)
WHERE category = 'file_refused' AND id = 'file_refused:' || CAST(exceptions.file_id AS TEXT) AND EXISTS (SELECT 1 FROM files f WHERE f.id = exceptions.file_id);

-- A new ID may be one an old row still holds (a sheet named "2" and one
-- before it): every row is renamed under a prefix no ID has first, then
-- the prefix goes. An old row the rewrite could not reach (its sheet's
-- rows are gone) that holds a new ID is dropped: the rules resolve it
-- at their next run anyway.
UPDATE exceptions SET id = (
    SELECT '~00012~' || 'rejected_row:' || f.partner || ':' || SUBSTR(f.sha256, 1, 16) || ':' ||
        CAST((SELECT COUNT(DISTINCT s.sheet) FROM sheet_rows s JOIN files h ON h.id = s.file_id
            WHERE h.sha256 = f.sha256 AND s.sheet COLLATE "C" < r.sheet COLLATE "C") + 1 AS TEXT) || ':' || CAST(r.row_num AS TEXT)
    FROM sheet_rows r JOIN files f ON f.id = r.file_id
    WHERE r.file_id = exceptions.file_id AND r.row_num = exceptions.row_num
        AND exceptions.id = 'rejected_row:' || f.partner || ':' || SUBSTR(f.sha256, 1, 16) || ':' || r.sheet || ':' || CAST(r.row_num AS TEXT))
WHERE category = 'rejected_row' AND EXISTS (SELECT 1 FROM sheet_rows r JOIN files f ON f.id = r.file_id
    WHERE r.file_id = exceptions.file_id AND r.row_num = exceptions.row_num
        AND exceptions.id = 'rejected_row:' || f.partner || ':' || SUBSTR(f.sha256, 1, 16) || ':' || r.sheet || ':' || CAST(r.row_num AS TEXT));

DELETE FROM exceptions WHERE category = 'rejected_row' AND id NOT LIKE '~00012~%'
    AND EXISTS (SELECT 1 FROM exceptions x WHERE x.id = '~00012~' || exceptions.id);
UPDATE exceptions SET id = SUBSTR(id, 8) WHERE category = 'rejected_row' AND id LIKE '~00012~%';

-- +goose Down
-- The old IDs are not rebuilt: the rules of the older release record
-- theirs again on its next run (the rewritten ones resolve).
ALTER TABLE exceptions DROP COLUMN occurred_at;
