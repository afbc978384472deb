// Drives the official JavaScript client (npm "replicate", pinned in tools/package.json)
// against the mock. Usage: node official_client.cjs SCENARIO JSON_ARGS
// Reads REPLICATE_API_TOKEN and IMAGEN_MOCK_BASE_URL (with /v1); prints one JSON line.
"use strict";
const fs = require("node:fs");
const Replicate = require("replicate");

const replicate = new Replicate({
  auth: process.env.REPLICATE_API_TOKEN,
  baseUrl: process.env.IMAGEN_MOCK_BASE_URL,
});

const scenarios = {
  // run() returns a FileOutput; write its bytes where the test can decode them.
  async run({ input, path }) {
    const output = await replicate.run("google/imagen-4-ultra", { input });
    const blob = await output.blob();
    fs.writeFileSync(path, Buffer.from(await blob.arrayBuffer()));
    return { url: String(output.url()), type: blob.type, bytes: blob.size };
  },
  // A failing prediction must throw.
  async fail({ input }) {
    try {
      await replicate.run("google/imagen-4-ultra", { input });
      return { threw: false };
    } catch (error) {
      return { threw: true, message: error.message };
    }
  },
  // Create, cancel, read back.
  async cancel({ input }) {
    const created = await replicate.predictions.create({ model: "google/imagen-4-ultra", input });
    const canceled = await replicate.predictions.cancel(created.id);
    const again = await replicate.predictions.get(created.id);
    return { created: created.status, canceled: canceled.status, again: again.status };
  },
  // validateWebhook on a delivery the mock recorded.
  async webhook({ id, timestamp, signature, body, secret }) {
    const { validateWebhook } = require("replicate");
    const valid = await validateWebhook({ id, timestamp, signature, body, secret });
    const tampered = await validateWebhook({ id, timestamp, signature, body: body + " ", secret });
    return { valid, tampered };
  },
};

async function main() {
  const [scenario, args] = process.argv.slice(2);
  const result = await scenarios[scenario](JSON.parse(args || "{}"));
  process.stdout.write(JSON.stringify(result) + "\n");
}

main().catch((error) => {
  process.stderr.write(String(error && error.stack ? error.stack : error) + "\n");
  process.exit(1);
});
