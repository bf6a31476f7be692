// One long-lived simulator for a whole test session (tests/simulator.py starts it once per
// test process): node and the simulator's data load once, not once per batch of cases.
// Protocol, JSON lines: in {"script": "evaluate.mjs", "cases": [...]}, out {"results": [...]}
// or {"error": "..."}; one answer per request, in order. A script is any module of this
// folder exporting `decide(cases)`.
import { createInterface } from 'node:readline'

const scripts = new Map()

async function answer(line) {
  try {
    const { script, cases } = JSON.parse(line)
    if (!/^[A-Za-z0-9_-]+\.mjs$/.test(script) || script === 'serve.mjs') {
      return { error: `not a decision script of this folder: ${script}` }
    }
    if (!scripts.has(script)) scripts.set(script, await import(`./${script}`))
    const { decide } = scripts.get(script)
    if (typeof decide !== 'function') return { error: `${script} exports no decide(cases)` }
    return { results: await decide(cases) }
  } catch (error) {
    return { error: String(error && error.stack ? error.stack : error) }
  }
}

// readline's lines are handled one at a time, so answers keep the requests' order
const lines = createInterface({ input: process.stdin, crlfDelay: Infinity })
for await (const line of lines) {
  if (line.trim() === '') continue
  process.stdout.write(JSON.stringify(await answer(line)) + '\n')
}
