// Parse LogQL with Grafana's own grammar (@grafana/lezer-logql), as Grafana's editor does.
// stdin: JSON array of queries. stdout: JSON array of {query, error} for each query
// whose parse tree has an error node; [] when all parse.
const { parser } = require("@grafana/lezer-logql");

let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const failures = [];
  for (const query of JSON.parse(input)) {
    const tree = parser.parse(query);
    let error = null;
    tree.iterate({
      enter: (node) => {
        if (error === null && node.type.isError) {
          error = `syntax error at ${node.from}: ${JSON.stringify(query.slice(node.from, node.from + 20))}`;
        }
      },
    });
    if (error !== null) failures.push({ query, error });
  }
  process.stdout.write(JSON.stringify(failures));
});
