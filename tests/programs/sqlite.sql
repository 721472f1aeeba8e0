-- sqlite.sql - the real-programs suite's sqlite3 workload (sqlite_work.sh).
CREATE TABLE t(id INTEGER PRIMARY KEY, a INTEGER, b TEXT, c REAL);
BEGIN;
WITH RECURSIVE cnt(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM cnt WHERE x < 100000)
INSERT INTO t(a, b, c) SELECT (x * 7919) % 1000, printf('row-%06d-%s', x, hex(x * x)), x / 7.0 FROM cnt;
COMMIT;
CREATE INDEX t_a ON t(a);
CREATE INDEX t_b ON t(b);
SELECT count(*), sum(a), min(b), max(b), printf('%.3f', sum(c)) FROM t;
SELECT count(DISTINCT a), count(DISTINCT substr(b, 12)) FROM t;
SELECT a, count(*), sum(id) FROM t GROUP BY a ORDER BY count(*) DESC, a LIMIT 5;
SELECT a, count(*), printf('%.2f', avg(c)) FROM t WHERE a BETWEEN 10 AND 14 GROUP BY a ORDER BY a;
SELECT length(group_concat(b, ',')) FROM (SELECT b FROM t ORDER BY b DESC LIMIT 2000);
SELECT count(*) FROM t t1 JOIN t t2 ON t1.a = t2.a WHERE t1.id < 300 AND t2.id < 3000;
UPDATE t SET b = b || '-updated' WHERE a % 3 = 0;
DELETE FROM t WHERE a % 10 = 7;
SELECT count(*), sum(length(b)) FROM t;
PRAGMA integrity_check;
