// Run SQL queries against a DuckDB database file from Node, as a Node application would.
//
//   node query.mjs DATABASE_FILE < queries.json
//
// stdin: a JSON list of SQL strings. The file is opened read-only. stdout: one JSON object,
//   {"version": <version() of the client library>,
//    "results": [{"rows": [<row objects, getRowObjectsJson()>]} | {"error": "<message>"}, ...]}
// with one result per query, in order; a failing query does not stop the others.
// Used by tests/test_clients.py; install with `npm ci --prefix tests/clients/node`.
import { readFileSync } from 'node:fs';
import { DuckDBInstance, version } from '@duckdb/node-api';

const [databaseFile] = process.argv.slice(2);
if (!databaseFile) {
  console.error('usage: node query.mjs DATABASE_FILE < queries.json');
  process.exit(2);
}
const queries = JSON.parse(readFileSync(0, 'utf8'));

const instance = await DuckDBInstance.create(databaseFile, { access_mode: 'READ_ONLY' });
const connection = await instance.connect();
const results = [];
for (const sql of queries) {
  try {
    const reader = await connection.runAndReadAll(sql);
    results.push({ rows: reader.getRowObjectsJson() });
  } catch (error) {
    results.push({ error: String(error && error.message ? error.message : error) });
  }
}
connection.closeSync();
instance.closeSync();

process.stdout.write(JSON.stringify({ version: version(), results }));
