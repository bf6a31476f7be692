// Reads a JSON array of mermaid diagrams on stdin; writes a JSON array of answers, one per
// diagram: {"ok": true, "type": "..."} or {"ok": false, "error": "..."}. mermaid parses in
// a browser; jsdom is its window here (parsing only: nothing is drawn).
import { JSDOM } from "jsdom";

const dom = new JSDOM("<!doctype html><html><body></body></html>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const { default: mermaid } = await import("mermaid");

let input = "";
for await (const chunk of process.stdin) input += chunk;
const answers = [];
for (const text of JSON.parse(input)) {
  try {
    const parsed = await mermaid.parse(text);
    answers.push({ ok: true, type: parsed.diagramType });
  } catch (error) {
    answers.push({ ok: false, error: String(error).slice(0, 500) });
  }
}
process.stdout.write(JSON.stringify(answers));
