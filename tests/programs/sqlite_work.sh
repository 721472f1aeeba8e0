#!/usr/bin/env bash
# sqlite_work.sh DB SQL - the real-programs suite's sqlite3 workload: a fresh
# database DB, the statements of SQL (sqlite.sql: 100000 rows, indexes,
# aggregates, a join, updates, deletes, an integrity check).
set -u
db=$1 sql=$2
rm -f "$db"
sqlite3 "$db" <"$sql"
