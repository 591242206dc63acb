// Node-RED settings for the local demo (`npm start`). Loopback only, no telemetry, no
// palette downloads: the demo must never contact anything outside this machine.
const path = require("node:path");

const projectRoot = path.resolve(__dirname, "..");

module.exports = {
  uiHost: process.env.HOST || "127.0.0.1",
  uiPort: Number(process.env.PORT) || 1880,
  flowFile: "flows.json",
  credentialSecret: "defect-detection-demo",
  // Load this package straight from the checkout (its package.json `node-red` section).
  nodesDir: [projectRoot],
  telemetry: { enabled: false },
  diagnostics: { enabled: false },
  externalModules: {
    palette: { allowInstall: false, allowUpload: false },
    modules: { allowInstall: false },
  },
  editorTheme: {
    tours: false,
    projects: { enabled: false },
    palette: { catalogues: [] },
  },
  functionExternalModules: false,
  logging: { console: { level: "info", metrics: false, audit: false } },
};
