'use strict';
// json-rules-engine's side of bench/bench_jre.py (read that file first; it starts this one).
//
//   node --expose-gc bench/jre_runner.js DATA.json JRE_PREFIX
//
// DATA.json (written by bench_jre.py): {"checks": [id...], "rules": [json-rules-engine rule...],
// "entities": [ref...], "facts": [{"<fact ref>": data, ...} per entity], "rules_flat": [...], "facts_flat": [...]};
// JRE_PREFIX is the `npm install --prefix` folder holding node_modules/json-rules-engine.
//
// Protocol: one JSON line out when ready; then one command per line in, one JSON line out per command:
//   run reused       one Engine built beforehand (20 rules, the `matches` operator), engine.run(facts) per entity
//   run per-entity   a new Engine per entity, operator and rules added, then engine.run(facts): what Tech Insights'
//                    JsonRulesEngineFactChecker.runChecks does for each entity
//   run flat         as "reused", over "rules_flat" / "facts_flat": every (fact, path) resolved beforehand into a flat
//                    fact, conditions without `path` (Tech Insights' flat fact schemas; no JSONPath in the timing)
//   outcomes MODE    the last run's pass/fail per (check, entity): a string, check-major, 'P' / 'F' / '-' (no result)
//   quit
// Each run is timed with process.hrtime (wall) and process.cpuUsage (user + system, all threads), after a global.gc().

const fs = require('fs');
const path = require('path');
const readline = require('readline');

const [dataFile, prefix] = process.argv.slice(2);
const { Engine } = require(path.join(prefix, 'node_modules', 'json-rules-engine'));
const data = JSON.parse(fs.readFileSync(dataFile, 'utf8'));
const nEntities = data.entities.length;
const checkIndex = new Map(data.checks.map((id, i) => [id, i]));
const ENGINE_OPTIONS = { allowUndefinedFacts: true }; // absent facts are `undefined`, not an error

// soundcheck's `matches` (a search, not a full match; a non-string fact value never matches), one RegExp per pattern
const regexes = new Map();
function matches(factValue, pattern) {
  if (typeof factValue !== 'string' || typeof pattern !== 'string') return false;
  let re = regexes.get(pattern);
  if (re === undefined) {
    re = new RegExp(pattern);
    regexes.set(pattern, re);
  }
  return re.test(factValue);
}

function newEngine(rules) {
  const engine = new Engine([], ENGINE_OPTIONS);
  engine.addOperator('matches', matches);
  for (const rule of rules) engine.addRule({ ...rule }); // as Tech Insights: addRule({...rule, event})
  return engine;
}

const outcomes = { reused: null, 'per-entity': null, flat: null };

async function run(mode) {
  if (!(mode in outcomes)) throw new Error(`unknown mode ${JSON.stringify(mode)}`);
  const out = new Uint8Array(data.checks.length * nEntities); // 0 no result, 1 passed, 2 failed
  const rules = mode === 'flat' ? data.rules_flat : data.rules;
  const facts = mode === 'flat' ? data.facts_flat : data.facts;
  const shared = mode === 'per-entity' ? null : newEngine(rules); // built before the clock, as soundcheck's bind()
  if (global.gc) global.gc();
  let passed = 0;
  let failed = 0;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < nEntities; i++) {
    const engine = shared || newEngine(rules);
    const { results, failureResults } = await engine.run(facts[i]);
    for (const r of results) {
      out[checkIndex.get(r.name) * nEntities + i] = 1;
      passed++;
    }
    for (const r of failureResults) {
      out[checkIndex.get(r.name) * nEntities + i] = 2;
      failed++;
    }
  }
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const previous = outcomes[mode];
  if (previous !== null && Buffer.compare(Buffer.from(previous), Buffer.from(out)) !== 0) {
    throw new Error(`${mode}: this run's pass/fail results differ from the previous run's`);
  }
  outcomes[mode] = out;
  return { mode, wall, cpu: (cpu.user + cpu.system) / 1e6, passed, failed };
}

function outcomeString(mode) {
  const out = outcomes[mode];
  if (out === null) throw new Error(`no ${mode} run yet`);
  const letters = ['-', 'P', 'F'];
  let text = '';
  for (let k = 0; k < out.length; k++) text += letters[out[k]];
  return { mode, outcomes: text };
}

async function main() {
  const version = JSON.parse(
    fs.readFileSync(path.join(prefix, 'node_modules', 'json-rules-engine', 'package.json'), 'utf8'),
  ).version;
  process.stdout.write(JSON.stringify({ ready: true, version, node: process.version, gc: Boolean(global.gc) }) + '\n');
  const lines = readline.createInterface({ input: process.stdin, terminal: false });
  for await (const line of lines) {
    const [command, arg] = line.trim().split(/\s+/);
    let reply;
    try {
      if (command === 'run') reply = await run(arg);
      else if (command === 'outcomes') reply = outcomeString(arg);
      else if (command === 'quit') break;
      else reply = { error: `unknown command ${JSON.stringify(line)}` };
    } catch (e) {
      reply = { error: String((e && e.message) || e) };
    }
    process.stdout.write(JSON.stringify(reply) + '\n');
  }
}

main().catch((e) => {
  process.stdout.write(JSON.stringify({ error: String((e && e.stack) || e) }) + '\n');
  process.exit(1);
});
