#!/bin/bash
# sqlite3 client of the real-program suite: a million generated rows with
# text and blobs of varying size, two indexes, aggregates, sorts and window
# functions, updates that grow the blobs, deletes, VACUUM and
# PRAGMA integrity_check. The sqlite3 shell is a heavy user of malloc and
# realloc (page cache, sorter, blob and string values). Everything is
# computed from the row number, so stdout is the same on every run.
#
# GCMALLOC_CLIENTS_FULL=1: two million rows.
set -euo pipefail

rows=1000000
[ "${GCMALLOC_CLIENTS_FULL:-0}" = 1 ] && rows=2000000

sqlite3 -bail -batch stress.db <<EOF
PRAGMA cache_size = -200000;
PRAGMA temp_store = MEMORY;
PRAGMA journal_mode = DELETE;
CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, name TEXT, payload BLOB);
BEGIN;
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < $rows)
INSERT INTO t
SELECT x,
       (x * 7919) % 100003,
       printf('name-%08d-%s', (x * 104729) % 1000003, substr('abcdefghijklmnopqrstuvwxyz', 1 + x % 26)),
       CAST(printf('%0*d', (x * 37) % 700, x) AS BLOB)
FROM c;
COMMIT;
CREATE INDEX t_k ON t(k);
CREATE INDEX t_name ON t(name);
SELECT 'rows', count(*), sum(k), sum(length(payload)) FROM t;
SELECT 'groups', count(*), sum(n), max(n), min(n)
  FROM (SELECT k % 1000 AS g, count(*) AS n FROM t GROUP BY g);
SELECT 'first-names', group_concat(name, ',')
  FROM (SELECT name FROM t ORDER BY name LIMIT 20);
SELECT 'last-names', group_concat(name, ',')
  FROM (SELECT name FROM t ORDER BY name DESC LIMIT 20);
SELECT 'k-range', count(*), sum(id) FROM t WHERE k BETWEEN 5000 AND 6000;
SELECT 'window', sum(r) FROM
  (SELECT rank() OVER (PARTITION BY k % 97 ORDER BY name) AS r FROM t WHERE id % 7 = 0);
SELECT 'json', length(json_group_array(json_object('id', id, 'name', name)))
  FROM t WHERE id % 11 = 0;
CREATE TABLE sorted AS SELECT id, name FROM t ORDER BY substr(name, 10), id DESC;
SELECT 'sorted', count(*), sum(id * (rowid % 13)) FROM sorted;
DROP TABLE sorted;

BEGIN;
UPDATE t SET payload = CAST(printf('%0*d', 2000 + (id % 3000), id) AS BLOB) WHERE id % 50 = 0;
UPDATE t SET name = upper(name), k = k + 1 WHERE id % 5 = 1;
DELETE FROM t WHERE id % 3 = 0;
COMMIT;
SELECT 'after-update', count(*), sum(k), sum(length(payload)) FROM t;
SELECT 'k-range', count(*), sum(id) FROM t WHERE k BETWEEN 5000 AND 6000;
SELECT 'upper', count(*) FROM t WHERE name GLOB 'NAME-*';
VACUUM;
PRAGMA integrity_check;
SELECT 'after-vacuum', count(*), sum(k), sum(length(payload)), max(id) FROM t;
SELECT 'sample', group_concat(id || ':' || k || ':' || name || ':' || length(payload), ' ')
  FROM (SELECT * FROM t WHERE id % 99991 = 1 ORDER BY id);
EOF
echo "sqlite done"
