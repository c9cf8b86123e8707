/** wsnic's version: package.json's, which the Debian package ships beside dist/ (/usr/lib/wsnic). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Read once, when the code loads: a relay still running after a package upgrade replaced
 * package.json must go on reporting the version of the code it runs.
 */
export const VERSION = (JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;
