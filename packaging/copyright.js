// Writes debian/copyright: wsnic's own stanza (packaging/debian/copyright) plus one stanza per
// vendored npm package under usr/lib/wsnic/node_modules, with the license texts they need.
//   node packaging/copyright.js NODE_MODULES_DIR > debian/copyright
'use strict';
const fs = require('fs');
const path = require('path');

const [modules] = process.argv.slice(2);
const base = fs.readFileSync(path.join(__dirname, 'debian', 'copyright'), 'utf8').trimEnd();

function packages(dir) {
  const out = [];
  for (const name of fs.readdirSync(dir)) {
    if (name.startsWith('.')) continue;
    if (name.startsWith('@')) out.push(...packages(path.join(dir, name)).map((p) => ({ ...p, name: `${name}/${p.name}` })));
    else if (fs.existsSync(path.join(dir, name, 'package.json'))) out.push({ name, dir: path.join(dir, name) });
  }
  return out;
}

function licenseFile(dir) {
  const f = fs.readdirSync(dir).find((n) => /^(licen[cs]e|copying)/i.test(n));
  return f ? fs.readFileSync(path.join(dir, f), 'utf8') : '';
}

// package.json's license field, or the license file's text, as a DEP-5 short name.
function shortName(pkg, text) {
  const raw = [pkg.license, ...(pkg.licenses || [])].flat().map((l) => (typeof l === 'object' && l ? l.type : l)).filter(Boolean);
  const norm = (l) => (/^(MIT|MIT\/X11)$/i.test(l) ? 'Expat' : /^Apache-?2(\.0)?$/i.test(l) ? 'Apache-2.0' : l);
  if (raw.length > 0) return [...new Set(raw.map(norm))].join(' or ');
  if (/Apache License\s+Version 2\.0/.test(text)) return 'Apache-2.0';
  if (/Permission is hereby granted, free of charge/.test(text)) return 'Expat';
  throw new Error(`no license found for ${pkg.name}`);
}

function copyrightLine(pkg, text) {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => /^Copyright\b/i.test(l) && /\d{4}/.test(l));
  if (lines.length > 0) return lines.map((l) => l.replace(/^Copyright\s*(\(c\)|©)?\s*/i, '')).join('\n           ');
  const author = typeof pkg.author === 'object' && pkg.author ? pkg.author.name : pkg.author;
  return author ? author.replace(/\s*\(.*\)$/, '') : `the ${pkg.name} authors`;
}

const texts = {};
const stanzas = [];
for (const { name, dir } of packages(modules).sort((a, b) => a.name.localeCompare(b.name))) {
  const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
  const text = licenseFile(dir);
  const license = shortName(pkg, text);
  for (const l of license.split(' or ')) if (!(l in texts) && text) texts[l] = text;
  stanzas.push(`Files: usr/lib/wsnic/node_modules/${name}/*\nCopyright: ${copyrightLine(pkg, text)}\nLicense: ${license}`);
}

const paragraphs = [];
const used = new Set(stanzas.flatMap((s) => s.split('\n').pop().replace('License: ', '').split(' or ')));
for (const l of [...used].sort()) {
  if (l === 'Expat' || l === 'BSD-2-Clause') continue; // in the base file
  if (l === 'Apache-2.0') {
    paragraphs.push('License: Apache-2.0\n On Debian systems, the full text of the Apache License, Version 2.0 is in\n /usr/share/common-licenses/Apache-2.0.');
    continue;
  }
  const body = (texts[l] || '').trim().split('\n').map((line) => (line.trim() === '' ? ' .' : ` ${line}`)).join('\n');
  if (!body) throw new Error(`no text for license ${l}`);
  paragraphs.push(`License: ${l}\n${body}`);
}
process.stdout.write(`${[base, ...stanzas, ...paragraphs].join('\n\n')}\n`);
