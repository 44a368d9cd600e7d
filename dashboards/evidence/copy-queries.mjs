// Make Evidence's source `runway` run the dashboards' own query files: copy every
// dashboards/queries/*.sql into sources/runway/ (git-ignored there) and remove any other .sql file
// from it. npm runs this before `evidence sources` (the presources hook), so a new, changed,
// renamed or deleted query file is picked up without copying anything by hand. Copies, not
// symlinks: Evidence's source reader skips directory entries that are not plain files. The
// source's initialize.sql (RUNWAY_TARGET=lake, written by source_setup.py) is not a query: kept.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const queriesDir = path.resolve(here, '..', 'queries');
const sourceDir = path.join(here, 'sources', 'runway');

const queries = fs.readdirSync(queriesDir).filter((f) => f.endsWith('.sql')).sort();
if (queries.length === 0) throw new Error(`no query files in ${queriesDir}`);
if (queries.includes('initialize.sql')) throw new Error('initialize.sql cannot be a query name');

for (const f of fs.readdirSync(sourceDir)) {
	if (f.endsWith('.sql') && f !== 'initialize.sql') fs.rmSync(path.join(sourceDir, f));
}
for (const f of queries) {
	fs.copyFileSync(path.join(queriesDir, f), path.join(sourceDir, f));
}
console.log(`copied ${queries.length} query files from dashboards/queries into sources/runway`);
