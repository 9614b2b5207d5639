// Runs one SQL query with DuckDB and prints the rows as JSON: an
// independent reader of the JSONL and Parquet files selfevals writes.
const { DuckDBInstance } = require('@duckdb/node-api');
(async () => {
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  const result = await conn.runAndReadAll(process.argv[2]);
  process.stdout.write(JSON.stringify(result.getRowObjectsJson()));
})().catch((e) => {
  process.stderr.write(String((e && e.message) || e) + '\n');
  process.exit(1);
});
