// Reference answers from node-semver for the Python port in otabox/semver.py.
// stdin: JSON array of [version, range] pairs.
// stdout: JSON array, one entry per pair: semver.satisfies(version, range),
// or null when node-semver rejects the range itself.
import semver from 'semver'

const chunks = []
for await (const chunk of process.stdin) chunks.push(chunk)
const pairs = JSON.parse(Buffer.concat(chunks).toString('utf8'))

const answers = pairs.map(([version, range]) => {
  try {
    new semver.Range(range)
  } catch {
    return null
  }
  return semver.satisfies(version, range)
})
process.stdout.write(JSON.stringify(answers))
