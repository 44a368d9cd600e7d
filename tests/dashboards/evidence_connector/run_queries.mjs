// Run query files the way `evidence sources` runs a DuckDB source: Evidence's connector
// (@evidence-dev/duckdb) gets the source's options and folder, and its runner gets each file's
// text. Prints one JSON object: per query, its row count, the connector's expected row count,
// its column types, its rows as the connector yields them (first 3 in `head`, all in `data`), or
// the error.
//
// usage: node run_queries.mjs <options.json> <source dir> <query.sql>...
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const connector = require('@evidence-dev/duckdb');

const [optionsJson, sourceDir, ...files] = process.argv.slice(2);
const options = JSON.parse(optionsJson);
const runner = await connector.getRunner(options, sourceDir);
const out = {};
for (const file of files) {
	const name = path.basename(file, '.sql');
	try {
		const result = await runner(fs.readFileSync(file, 'utf-8'), file, 1000 * 1000);
		const rows = [];
		for await (const batch of result.rows()) rows.push(...batch);
		out[name] = {
			rows: rows.length,
			expectedRowCount: result.expectedRowCount,
			columnTypes: result.columnTypes,
			head: rows.slice(0, 3),
			data: rows
		};
	} catch (e) {
		out[name] = { error: String(e?.message ?? e) };
	}
}
process.stdout.write(JSON.stringify(out));
