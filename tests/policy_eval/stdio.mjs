// The one-shot mode every decision script keeps: when the script itself is the program
// (`node evaluate.mjs < cases.json`), read the cases on stdin, print the decisions.
import { pathToFileURL } from 'node:url'

export async function runAlone(moduleUrl, decide) {
  if (!process.argv[1] || pathToFileURL(process.argv[1]).href !== moduleUrl) return
  const chunks = []
  for await (const chunk of process.stdin) chunks.push(chunk)
  const cases = JSON.parse(Buffer.concat(chunks).toString('utf8'))
  process.stdout.write(JSON.stringify(await decide(cases)))
}
