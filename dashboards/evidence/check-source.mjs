// Check, before any query runs, that the source `runway` can read what initialize.sql points it
// at. Evidence's DuckDB connector runs sources/runway/initialize.sql before every query but
// swallows its errors, so a lake that cannot be attached would only show up later, per query, as
// `schema "marts" does not exist`. This runs the same script on the connector's own DuckDB
// (@duckdb/node-api as @evidence-dev/duckdb resolves it) and exits 1 with DuckDB's error, the
// catalog named without its password. Without an initialize.sql (the default target: the source
// is the snapshot file) there is nothing to check. npm runs it in the presources step.
//
// usage: node check-source.mjs [source dir] (default: sources/runway beside this file)
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const sourceDir = path.resolve(process.argv[2] ?? path.join(here, 'sources', 'runway'));
const initFile = path.join(sourceDir, 'initialize.sql');

// DuckDB's errors echo the libpq catalog string: never print a password.
const redact = (text) =>
	String(text).replace(/(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s'"]+)/gi, '$1***');

if (!fs.existsSync(initFile)) {
	console.log(`source runway: no ${path.relative(here, initFile)}, it reads its filename option`);
	process.exit(0);
}

const script = fs.readFileSync(initFile, 'utf-8');
const catalog = /'ducklake:postgres:((?:[^']|'')*)'/.exec(script)?.[1]?.replaceAll("''", "'");
const what = catalog ? `the lake (catalog \`${redact(catalog)}\`)` : 'its initialize.sql';

// The DuckDB the connector loads, not one this folder might resolve differently.
const fromConnector = createRequire(createRequire(import.meta.url).resolve('@evidence-dev/duckdb'));
const { DuckDBInstance } = fromConnector('@duckdb/node-api');

// As the connector opens a source whose filename is ':memory:'.
const db = await DuckDBInstance.create(':memory:', {
	access_mode: 'READ_WRITE',
	custom_user_agent: 'evidence-dev'
});
const conn = await db.connect();
let version = '?';
try {
	version = (await conn.runAndReadAll('select version() as v')).getRowObjectsJS()[0].v;
	await conn.run(script);
	const reader = await conn.runAndReadAll(
		"select current_database() as db, current_setting('allow_unsigned_extensions') as unsigned, " +
			'(select count(*) from duckdb_tables() where database_name = current_database()) as tables'
	);
	const { db: current, unsigned, tables } = reader.getRowObjectsJS()[0];
	if (catalog && current !== 'lake') throw new Error(`the default database is ${current}, not lake`);
	if (unsigned) throw new Error('allow_unsigned_extensions is on');
	console.log(
		`source runway reads ${what} on Evidence's DuckDB ${version}: ${tables} tables, read-only`
	);
} catch (e) {
	console.error(
		`Evidence source runway cannot read ${what} on Evidence's DuckDB ${version}: ` +
			`${redact(e?.message ?? e)}\n(${initFile} is written by source_setup.py: make evidence)`
	);
	process.exitCode = 1;
} finally {
	conn.disconnectSync();
	db.closeSync();
}
